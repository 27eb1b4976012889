"""The monitoring chain of test_monitoring_live.py with the REAL app instead of its stand-in registry.

The `stack` fixture of test_monitoring_live.py (node exporter, node Prometheus from node.yml, hub Prometheus
from hub.yml federating it, Alertmanager, dead-man webhook; 1 s intervals and rules with `for: 1s`) is reused
as it is; only its `vanban_app` hook is overridden here: the vanban app under gunicorn with the production
config (python:vanban.gunicorn_conf: 2 gthread workers, prometheus_client multiprocess mode in
<data>/metrics) on a free loopback port, on a copy of the seeded test database.
"""
from __future__ import annotations

import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import pytest

from test_monitoring_live import NODE, stack, wait_for  # noqa: F401  (stack: the fixture, used by name)

pytestmark = pytest.mark.slow


class RealApp:
    """The contract of test_monitoring_live's `vanban_app`: `.target` and an idempotent `.stop()`."""

    def __init__(self, server):
        self.server = server
        self.target = f"127.0.0.1:{server.port}"

    def stop(self):
        self.server.stop()


@pytest.fixture(scope="module")
def vanban_app(tmp_path_factory, template):
    import shutil

    from browser import FileClock, Server
    from vanban.clock import VN

    tmp = tmp_path_factory.mktemp("real-app")
    shutil.copytree(template[0], tmp / "data")
    FileClock.set(tmp / "clock", datetime.now(VN))
    server = Server(tmp / "data", tmp / "clock", tmp / "app.log", workers=2).start()
    app = RealApp(server)
    app.data_dir = tmp / "data"
    yield app
    app.stop()


def healthz_count(target) -> float:
    """vanban_http_requests_total{route="/healthz"} as the app exposes it now (all workers merged)."""
    body = urllib.request.urlopen(f"http://{target}/metrics", timeout=5).read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in body.splitlines()
               if line.startswith("vanban_http_requests_total{") and 'route="/healthz"' in line)


def test_hub_has_the_real_apps_request_counter_with_node_labels(stack):  # noqa: F811
    target = stack.app.target
    before = healthz_count(target)
    # 40 requests, 8 at a time on new connections, so both gunicorn workers get some
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: urllib.request.urlopen(f"http://{target}/healthz", timeout=5).read(), range(40)))
    expected = before + 40
    query = f'sum(vanban_http_requests_total{{node="{NODE["VANBAN_NODE"]}", route="/healthz"}})'
    wait_for(f"/healthz count {expected:.0f} at the hub", lambda: stack.query(query) and
             float(stack.query(query)[0]["value"][1]) == expected)
    series = stack.query(f'vanban_http_requests_total{{node="{NODE["VANBAN_NODE"]}"}}')
    labels = series[0]["metric"]
    assert labels["province"] == NODE["VANBAN_PROVINCE"] and labels["agencies"] == NODE["VANBAN_AGENCIES"]
    assert labels["job"] == "vanban" and labels["instance"] == target
    routes = {s["metric"]["route"] for s in series}
    assert {"/healthz", "/metrics"} <= routes  # route templates, not raw paths
    # both workers counted: multiprocess files of two worker pids, merged into one series per label set
    pids = {p.stem.rsplit("_", 1)[1] for p in (stack.app.data_dir / "metrics").glob("counter_*.db")}
    assert len(pids) >= 2, pids
    stack.wait_hub(f'agency:vanban_documents_pending:sum{{node="{NODE["VANBAN_NODE"]}", agency="H19.42"}}')
    (build,) = stack.wait_hub('max by (version, role) (vanban_build_info{node="hn-test"})')
    assert build["metric"]["role"] == "node"


def test_stopping_the_real_app_fires_app_down_at_the_hub(stack):  # noqa: F811
    stack.wait_hub('up{job="vanban", node="hn-test"} == 1', "the app scraped")
    stack.app.stop()
    stopped = time.monotonic()
    (alert,) = stack.wait_hub('ALERTS{alertname="VanbanAppDown", alertstate="firing"}')
    assert alert["metric"]["node"] == "hn-test" and alert["metric"]["job"] == "vanban"
    assert alert["metric"]["severity"] == "critical"
    print(f"VanbanAppDown firing at the hub {time.monotonic() - stopped:.1f} s after gunicorn stopped")
