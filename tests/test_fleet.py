"""The hub's fleet page (issue 6) against a real fleet Prometheus, and in headless Chromium.

Fast tests: who may see the page, and what it says when the fleet Prometheus does not answer (a closed
loopback port: a real refused connection). Slow tests (one module-scoped stack, about 25 s): on loopback, a
real node exporter with textfile metrics, a real vanban app under gunicorn (2 workers, multiprocess /metrics),
the node's Prometheus (monitoring/prometheus/node.yml) scraping both, and the hub's fleet Prometheus
(hub.yml) federating two nodes from its nodes.json: `hn-test` (that node Prometheus) and `lc-down` (a port
nothing listens on). The configs are adapted exactly as in test_monitoring_live.py, whose helpers are reused
(1 s intervals, rules with `for: 1s`). The hub app reads the fleet Prometheus through its HTTP API.
"""
from __future__ import annotations

import re
import shutil
import time
import urllib.parse
from pathlib import Path

import pytest

from conftest import PASSWORD
from test_monitoring_live import (
    BINARIES,
    NODE,
    Processes,
    free_port,
    http_json,
    hub_prometheus_config,
    node_exporter_cmd,
    node_prometheus_config,
    prometheus_cmd,
    wait_for,
)
from vanban import __version__, fleet
from vanban.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
needs_prometheus = pytest.mark.skipif(not (BINARIES["prometheus"] and BINARIES["prometheus-node-exporter"]),
                                      reason="needs the Debian packages prometheus and prometheus-node-exporter")


@pytest.fixture
def make_client(data_dir, clock):
    """A TestClient over the app with another role and fleet Prometheus URL (settings built directly: the
    fleet_prometheus_url setting is not declared in settings.py yet). No clamd: these pages upload nothing."""
    from conftest import Client, make_settings
    from vanban.web.app import create_app

    settings = make_settings(data_dir)

    def make(role="hub", url=None):
        values = {**settings.values, "role": role, "fleet_prometheus_url": url or f"http://127.0.0.1:{free_port()}"}
        return Client(create_app(Settings(values), clock=clock))

    return make


# --- fast: access and failure modes -------------------------------------------------------------------------

def test_unreachable_prometheus_gives_a_clear_vietnamese_message_not_a_500(make_client):
    client = make_client()  # nothing listens on the port: connection refused
    page = client.web_login("admin").get("/fleet")
    assert page.status_code == 503
    assert "Không kết nối được Prometheus giám sát" in page.text
    assert "vanban-prometheus-fleet" in page.text  # says what to check
    detail = client.web_login("admin").get("/fleet/hn-test")
    assert detail.status_code == 503 and "Không kết nối được Prometheus giám sát" in detail.text


def test_a_server_answering_errors_is_reported_not_raised(make_client):
    """A real HTTP server in the way (a proxy failing, another service on the port) answering 502."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from threading import Thread

    class Failing(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(502)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"bad gateway")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Failing)
    Thread(target=server.serve_forever, daemon=True).start()
    try:
        page = make_client(url=f"http://127.0.0.1:{server.server_port}").web_login("admin").get("/fleet")
    finally:
        server.shutdown()
        server.server_close()
    assert page.status_code == 503
    assert "trả lời lỗi 502" in page.text and 'id="fleet-error"' in page.text


def test_only_hub_admins_see_the_fleet(make_client):
    hub = make_client()
    assert 'href="/fleet"' in hub.web_login("admin").get("/inbox").text
    clerk = hub.web_login("clerk")
    assert 'href="/fleet"' not in clerk.get("/inbox").text
    assert clerk.get("/fleet").status_code == 403
    node = make_client(role="node")
    admin = node.web_login("admin")
    assert 'href="/fleet"' not in admin.get("/inbox").text
    assert admin.get("/fleet").status_code == 404


def test_levels_follow_the_alert_thresholds():
    checks = fleet.CHECK_BY_KEY
    assert checks["backup"].level(25 * 3600) == "ok" and checks["backup"].level(27 * 3600) == "crit"
    assert checks["disk"].level(0.5) == "ok" and checks["disk"].level(0.15) == "warn"
    assert checks["disk"].level(0.05) == "crit"
    assert checks["cert"].level(30 * 86400) == "ok" and checks["cert"].level(10 * 86400) == "warn"
    assert checks["cert"].level(-1) == "crit" and fleet.fmt_value("until", -1) == "đã hết hạn"
    assert checks["av"].level(None) == "none" and fleet.fmt_value("age", None) == "—"
    assert fleet.fmt_value("age", 3 * 3600) == "3 giờ trước" and fleet.fmt_value("percent", 0.423) == "42 %"
    assert fleet.fmt_value("age", 3600) == "1 giờ trước" and fleet.fmt_value("age", 600) == "10 phút trước"
    nodes = [fleet.NodeStatus(n, version=v) for n, v in (("a", "0.2.0"), ("b", "0.1.0"), ("c", "0.2.0"), ("d", ""))]
    assert fleet.common_version(nodes) == "0.2.0"


def test_worst_first_and_sparkline_gaps():
    down = fleet.NodeStatus("b-down", up=False)
    warn = fleet.NodeStatus("a-warn", cells={"av": fleet.Cell("av", "", 4 * 86400, "", "warn")})
    crit = fleet.NodeStatus("c-crit", cells={"backup": fleet.Cell("backup", "", 30 * 3600, "", "crit")})
    ok = fleet.NodeStatus("a-ok", cells={"cpu": fleet.Cell("cpu", "", 0.1, "", "ok")})
    alerting = fleet.NodeStatus("d-ok-but-alerting", cells={"cpu": fleet.Cell("cpu", "", 0.1, "", "ok")},
                                alerts={"critical": 1})
    ordered = [s.node for s in sorted([ok, warn, crit, down, alerting], key=lambda s: s.sort_key)]
    assert ordered == ["b-down", "c-crit", "d-ok-but-alerting", "a-warn", "a-ok"]
    # a hole of more than two steps splits the line; a lone point stays a point
    points = [(0, 0.5), (10, 0.5), (20, 0.6), (100, 0.2)]
    segments = fleet.sparkline(points, 0, 120 * 10, "percent")
    assert len(segments) == 2 and segments[0].count(" ") == 2 and " " not in segments[1]


# --- slow: a real fleet -------------------------------------------------------------------------------------

TEXTFILES = {  # what the appliance's jobs write (monitoring/README.md), values chosen to colour cells
    "vanban_backup.prom": lambda now: (f'vanban_backup_last_success_timestamp_seconds{{repo="local"}} {now - 3600:.0f}\n'
                                       f'vanban_backup_last_success_timestamp_seconds{{repo="hub"}} {now - 2 * 3600:.0f}\n'),
    # the last drill failed; the one before, two days ago, succeeded
    "vanban_restore_drill.prom": lambda now: ("vanban_restore_drill_success 0\n"
                                              f"vanban_restore_drill_last_success_timestamp_seconds {now - 2 * 86400:.0f}\n"),
    "vanban_av.prom": lambda now: f"vanban_av_signature_timestamp_seconds {now - 4 * 86400:.0f}\n",  # 4 days: warn
    "vanban_tls.prom": lambda now: (f'vanban_tls_cert_expiry_timestamp_seconds{{cert="https"}} {now + 90 * 86400:.0f}\n'
                                    f'vanban_tls_cert_expiry_timestamp_seconds{{cert="exchange"}} {now + 10 * 86400:.0f}\n'),
}


class Fleet:
    def __init__(self, ports, hub_url, node_app):
        self.ports, self.hub_url, self.node_app = ports, hub_url, node_app

    def query(self, promql):
        body = http_json(f"{self.hub_url}/api/v1/query?" + urllib.parse.urlencode({"query": promql}))
        return body["data"]["result"]


@pytest.fixture(scope="module")
def fleet_stack(tmp_path_factory, template):
    from browser import FileClock, Server

    if not (BINARIES["prometheus"] and BINARIES["prometheus-node-exporter"]):
        pytest.skip("needs the Debian packages prometheus and prometheus-node-exporter")
    tmp = tmp_path_factory.mktemp("fleet")
    ports = {name: free_port() for name in ("exporter", "node_prom", "hub_prom", "am", "down")}
    textfiles = tmp / "node-exporter"
    textfiles.mkdir()
    now = time.time()
    for name, text in TEXTFILES.items():
        (textfiles / f".{name}.tmp").write_text(text(now))
        (textfiles / f".{name}.tmp").rename(textfiles / name)
    shutil.copytree(template[0], tmp / "node-data")
    clock_file = tmp / "clock"
    from datetime import datetime

    from vanban.clock import VN

    FileClock.set(clock_file, datetime.now(VN))
    node_app = Server(tmp / "node-data", clock_file, tmp / "node-app.log")
    procs = Processes(tmp)
    try:
        node_app.start()
        procs.start("node-exporter", node_exporter_cmd(ports["exporter"], textfiles))
        procs.start("node-prometheus", prometheus_cmd(
            node_prometheus_config(tmp, ports, f"127.0.0.1:{node_app.port}"), tmp / "node-db", ports["node_prom"]),
            env=NODE)
        hub_config = hub_prometheus_config(tmp, ports)
        # two nodes in the hub's file_sd: the live one, and one whose address nothing answers
        nodes = [{"targets": [f"127.0.0.1:{ports['node_prom']}"],
                  "labels": {"node": NODE["VANBAN_NODE"], "province": NODE["VANBAN_PROVINCE"],
                             "agencies": NODE["VANBAN_AGENCIES"]}},
                 {"targets": [f"127.0.0.1:{ports['down']}"],
                  "labels": {"node": "lc-down", "province": NODE["VANBAN_PROVINCE"], "agencies": "ubnd-lc"}}]
        import json

        (tmp / "nodes.json").write_text(json.dumps(nodes))
        procs.start("hub-prometheus", prometheus_cmd(hub_config, tmp / "hub-db", ports["hub_prom"]),
                    env={"VANBAN_PROVINCE": NODE["VANBAN_PROVINCE"]})
        stack = Fleet(ports, f"http://127.0.0.1:{ports['hub_prom']}", node_app)
        started = time.monotonic()
        wait_for("both nodes known at the hub", lambda: len(stack.query('up{job="vanban-federate"}')) == 2)
        wait_for("rate recording rules federated",
                 lambda: stack.query('instance:node_cpu_utilisation:rate5m{node="hn-test"}'))
        wait_for("the app's build info federated", lambda: stack.query('vanban_build_info{node="hn-test"}'))
        wait_for("VanbanNodeDown for lc-down", lambda: stack.query(
            'node:vanban_alerts_firing:count{node="lc-down", severity="critical"}'))
        for name in ("VanbanRestoreDrillFailed", "VanbanAntivirusSignaturesOld", "VanbanTLSCertificateExpiring"):
            wait_for(f"{name} of hn-test at the hub", lambda n=name: stack.query(
                f'ALERTS{{alertname="{n}", node="hn-test", alertstate="firing"}}'))
        print(f"fleet ready after {time.monotonic() - started:.1f} s")
        yield stack
    finally:
        procs.stop_all()
        node_app.stop()


@pytest.fixture
def hub_admin(make_client, fleet_stack):
    return make_client(url=fleet_stack.hub_url).web_login("admin")


def rows(html):
    return re.findall(r'<tr class="node-row lvl-(\w+)" data-node="([^"]+)" data-level="(\w+)">(.*?)</tr>', html, re.S)


def cell(row_html, key):
    match = re.search(rf'<td class="v lvl-(\w+)" data-key="{key}" data-level="\w+">\s*<span class="num">([^<]*)</span>',
                      row_html)
    return match.groups() if match else None


@pytest.mark.slow
@needs_prometheus
def test_fleet_page_shows_the_down_node_first_and_the_live_one_with_its_figures(hub_admin, fleet_stack):
    page = hub_admin.get("/fleet")
    assert page.status_code == 200, page.text
    found = rows(page.text)
    assert [(n, lvl) for _, n, lvl, _ in found][0] == ("lc-down", "down")
    assert [n for _, n, _, _ in found] == ["lc-down", "hn-test"]
    down_html, live_html = found[0][3], found[1][3]
    assert "Mất kết nối" in down_html and "không kết nối được trong 24 giờ qua" in down_html
    assert found[1][2] == "crit", live_html  # the failed restore drill
    assert "Diễn tập khôi phục gần nhất thất bại" in live_html
    assert "Ứng dụng không trả lời" not in live_html and "Node exporter không trả lời" not in live_html
    assert __version__ in live_html
    assert cell(live_html, "backup") == ("ok", "2 giờ trước")  # the older of the two repositories
    assert cell(live_html, "drill") == ("crit", "2 ngày trước")
    assert cell(live_html, "av") == ("warn", "4 ngày trước")
    assert cell(live_html, "cert") == ("warn", "còn 10 ngày")
    assert cell(live_html, "overdue")[1] == "0" and cell(live_html, "outbox")[1] == "0"
    level, cpu = cell(live_html, "cpu")
    assert cpu.endswith(" %") and level in ("ok", "warn", "crit")
    assert cell(live_html, "disk")[1].endswith(" %") and cell(live_html, "ram")[1].endswith(" %")
    assert live_html.count('<svg class="spark"') == 4  # cpu, ram, disk, outbox
    assert 'href="/fleet/hn-test"' in live_html
    assert '<span class="n">1</span> mất kết nối' in page.text


@pytest.mark.slow
@needs_prometheus
def test_node_page_draws_charts_from_range_queries(hub_admin, fleet_stack):
    # a 15-minute range asks for a point every 7 s: wait until the CPU series has two of them
    wait_for("two CPU points", lambda: any(
        len(s["values"]) >= 2 for s in http_json(f"{fleet_stack.hub_url}/api/v1/query_range?" + urllib.parse.urlencode(
            {"query": 'instance:node_cpu_utilisation:rate5m{node="hn-test"}', "start": time.time() - 900,
             "end": time.time(), "step": 7}))["data"]["result"]))
    page = hub_admin.get("/fleet/hn-test", params={"range": "15m"})
    assert page.status_code == 200, page.text
    charts = re.findall(r'<figure class="chart" data-title="([^"]+)">(.*?)</figure>', page.text, re.S)
    assert [t for t, _ in charts] == [c.title for c in fleet.NODE_CHARTS]
    by_title = dict(charts)
    assert '<polyline class="series s0"' in by_title["CPU sử dụng"]
    assert '<polyline class="series s0"' in by_title["RAM đang dùng"]
    assert "polyline" in by_title["Kết nối từ máy chủ tỉnh (1 = có)"]
    assert "Không có số liệu" in by_title["Hàng đợi liên thông (gói)"] or "series" in by_title["Hàng đợi liên thông (gói)"]
    assert 'data-key="av" data-level="warn"' in page.text and 'data-key="drill" data-level="crit"' in page.text
    # the node's own alerts, evaluated on the node (for: shortened to 1 s) and federated with its labels
    assert "Diễn tập khôi phục thất bại" in page.text and "VanbanRestoreDrillFailed" in page.text
    assert "Mẫu virus cũ" in page.text and "cert=exchange" in page.text
    down = hub_admin.get("/fleet/lc-down")
    assert down.status_code == 200 and "Máy chủ tỉnh không lấy được số liệu" in down.text
    assert "Máy chủ tỉnh không kết nối được" in down.text  # VanbanNodeDown, firing at the hub
    assert hub_admin.get("/fleet/no-such-node").status_code == 404
    assert hub_admin.get("/fleet/bad%7Bname").status_code == 404


@pytest.mark.slow
@needs_prometheus
def test_fleet_page_in_chromium(fleet_stack, template, tmp_path):
    from playwright.sync_api import sync_playwright

    from browser import FileClock, launch_chromium, login
    from fleet_support import HubServer
    from vanban.clock import VN

    shutil.copytree(template[0], tmp_path / "hub-data")
    clock_file = tmp_path / "clock"
    from datetime import datetime

    FileClock.set(clock_file, datetime.now(VN))
    server = HubServer(tmp_path / "hub-data", clock_file, tmp_path / "hub.log", fleet_url=fleet_stack.hub_url)
    server.start()
    shots = Path("/tmp/vanban-browser")  # where test_browser.py leaves its screenshots too
    shots.mkdir(exist_ok=True)
    try:
        with sync_playwright() as p:
            browser = launch_chromium(p)
            page = login(browser, server.url, "admin", PASSWORD, viewport={"width": 1500, "height": 700})
            page.click("header nav a[href='/fleet']")
            page.wait_for_selector("#fleet-table")
            page.click("ul.ranges a[href$='range=15m']")  # the stack is seconds old: the shortest range
            page.wait_for_selector("ul.ranges li.active a[href$='range=15m']")
            first = page.locator("tr.node-row").first
            assert first.get_attribute("data-node") == "lc-down"
            colours = first.evaluate("""row => ({
                cell: getComputedStyle(row.querySelector('td')).backgroundColor,
                edge: getComputedStyle(row.querySelector('td')).borderLeftColor,
                pill: getComputedStyle(row.querySelector('.status')).backgroundColor})""")
            assert colours == {"cell": "rgb(251, 227, 225)", "edge": "rgb(183, 28, 28)", "pill": "rgb(183, 28, 28)"}
            assert page.locator("tr.node-row").nth(1).get_attribute("data-node") == "hn-test"
            assert page.locator("tr.node-row").nth(1).locator("svg.spark").count() == 4
            page.screenshot(path=str(shots / "fleet.png"), full_page=True)
            page.click("a[href='/fleet/hn-test']")
            page.wait_for_selector("#charts")
            page.click("ul.ranges a[href$='range=15m']")
            page.wait_for_selector("#charts figure.chart")
            assert page.locator("#charts figure.chart").count() == len(fleet.NODE_CHARTS)
            page.screenshot(path=str(shots / "fleet-node.png"), full_page=True)
            browser.close()
    finally:
        server.stop()
