"""A real monitoring chain on loopback: node exporter -> node Prometheus -> hub Prometheus (federation)
-> Alertmanager -> dead-man webhook.

Everything runs from the Debian binaries with the repository's configs, adapted only where a test must:
loopback ports chosen free, storage in tmp, 1 s scrape/evaluation intervals, and a test copy of the rules
with every `for:` shortened to 1 s (the real windows are covered by the promtool cases in
test_monitoring.py). Node identity reaches the labels the production way: VANBAN_* environment variables
expanded by --enable-feature=expand-external-labels.

The app: until the vanban app can be started here, `vanban_app` serves the contract metrics from a real
prometheus_client registry over real HTTP (a stand-in, not the app). HOOK FOR THE LEAD: replace the body of
the `vanban_app` fixture with the real app (gunicorn vanban.wsgi:app on a free loopback port with
VANBAN_CONFIG in tmp) and keep its contract: yield an object with `.target` ("127.0.0.1:PORT") and `.stop()`.
"""

import json
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest
import yaml
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_wsgi_app

ROOT = Path(__file__).resolve().parent.parent
MON = ROOT / "monitoring"
BINARIES = {name: shutil.which(name) for name in ("prometheus", "prometheus-node-exporter", "prometheus-alertmanager")}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not all(BINARIES.values()), reason="needs the Debian packages prometheus, "
                       "prometheus-node-exporter and prometheus-alertmanager (make debs installs them)"),
]

NODE = {"VANBAN_NODE": "hn-test", "VANBAN_PROVINCE": "test-province", "VANBAN_AGENCIES": "ubnd-test,vp-test"}
TIMEOUT = 40  # seconds to wait for any one condition; typically reached in 1-5 s


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_json(url, timeout=2):
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return json.load(resp)


def wait_for(what, probe, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = probe()
            if last:
                return last
        except OSError as exc:  # not listening yet
            last = exc
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


class Processes:
    """Processes this test started; stopped by their own handles at teardown, nothing else."""

    def __init__(self, log_dir):
        self.log_dir = log_dir
        self.procs = {}

    def start(self, name, cmd, env=None):
        log = open(self.log_dir / f"{name}.log", "wb")
        self.procs[name] = (subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                             env={**os.environ, **(env or {})}), log)

    def stop(self, name):
        proc, log = self.procs.pop(name)
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()

    def stop_all(self):
        for name in list(self.procs):
            self.stop(name)

    def log(self, name):
        return (self.log_dir / f"{name}.log").read_text(errors="replace")[-3000:]


class WebhookSink:
    """Real HTTP endpoint standing in for the external dead-man service: records Alertmanager's posts."""

    def __init__(self):
        self.posts = []
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                sink.posts.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/ping/vanban"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def alerts(self):
        return [a for post in self.posts for a in post["alerts"]]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class StandInApp:
    """The app's metric contract from a real prometheus_client registry over HTTP (see module docstring)."""

    def __init__(self):
        registry = CollectorRegistry()
        requests = Counter("vanban_http_requests", "requests", ["route", "method", "status"], registry=registry)
        duration = Histogram("vanban_http_request_duration_seconds", "latency", ["route", "method"], registry=registry)
        Gauge("vanban_build_info", "build", ["version", "role"], registry=registry).labels("0.1.0", "node").set(1)
        for name in ("vanban_documents_pending", "vanban_documents_overdue", "vanban_outbox_depth",
                     "vanban_outbox_oldest_age_seconds"):
            Gauge(name, name, ["agency"], registry=registry).labels("ubnd-test").set(3)
        Gauge("vanban_sqlite_integrity_ok", "integrity", registry=registry).set(1)
        Counter("vanban_av_scans", "scans", ["result"], registry=registry).labels("clean").inc(5)
        requests.labels("/van-ban/den", "GET", "200").inc(10)
        duration.labels("/van-ban/den", "GET").observe(0.05)

        class Quiet(WSGIRequestHandler):
            def log_message(self, *args):
                pass

        self.server = make_server("127.0.0.1", 0, make_wsgi_app(registry), handler_class=Quiet)
        self.target = f"127.0.0.1:{self.server.server_port}"
        self.running = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        if self.running:
            self.running = False
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture(scope="module")
def vanban_app():
    app = StandInApp()
    yield app
    app.stop()  # a test may have stopped it already


def short_rules(src_names, dest):
    """Test copy of the rule files with every `for:` set to 1 s (said in the module docstring)."""
    dest.mkdir()
    for name in src_names:
        doc = yaml.safe_load((MON / "rules" / name).read_text())
        for group in doc["groups"]:
            group["interval"] = "1s"
            for rule in group["rules"]:
                if "for" in rule:
                    rule["for"] = "1s"
        (dest / name).write_text(yaml.safe_dump(doc, sort_keys=False))
    return [str(dest / name) for name in src_names]


def node_prometheus_config(tmp, ports, app_target):
    config = yaml.safe_load((MON / "prometheus" / "node.yml").read_text())
    config["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
    config["rule_files"] = short_rules(["node-alerts.yml", "node-recording.yml"], tmp / "node-rules")
    config["alerting"]["alertmanagers"][0]["file_sd_configs"][0]["files"] = [str(tmp / "alertmanagers.json")]
    (tmp / "alertmanagers.json").write_text(json.dumps([{"targets": [f"127.0.0.1:{ports['am']}"], "labels": {}}]))
    targets = {"vanban": app_target, "node": f"127.0.0.1:{ports['exporter']}",
               "prometheus": f"127.0.0.1:{ports['node_prom']}"}
    for job in config["scrape_configs"]:
        job["static_configs"] = [{"targets": [targets[job["job_name"]]]}]
    path = tmp / "node.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def hub_prometheus_config(tmp, ports):
    config = yaml.safe_load((MON / "prometheus" / "hub.yml").read_text())
    config["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
    config["rule_files"] = short_rules(["hub-alerts.yml", "hub-recording.yml"], tmp / "hub-rules")
    config["alerting"]["alertmanagers"][0]["static_configs"] = [{"targets": [f"127.0.0.1:{ports['am']}"]}]
    nodes = [{"targets": [f"127.0.0.1:{ports['node_prom']}"],
              "labels": {"node": NODE["VANBAN_NODE"], "province": NODE["VANBAN_PROVINCE"],
                         "agencies": NODE["VANBAN_AGENCIES"]}}]
    (tmp / "nodes.json").write_text(json.dumps(nodes))
    targets = {"prometheus-fleet": f"127.0.0.1:{ports['hub_prom']}", "alertmanager": f"127.0.0.1:{ports['am']}"}
    for job in config["scrape_configs"]:
        if job["job_name"] == "vanban-federate":
            job["file_sd_configs"] = [{"files": [str(tmp / "nodes.json")], "refresh_interval": "1s"}]
        else:
            job["static_configs"] = [{"targets": [targets[job["job_name"]]]}]
    path = tmp / "hub.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def alertmanager_config(tmp, webhook_url):
    am_dir = tmp / "alertmanager"
    shutil.copytree(MON / "alertmanager", am_dir)
    config = yaml.safe_load((am_dir / "alertmanager.yml").read_text())
    config["global"]["smtp_smarthost"] = f"127.0.0.1:{free_port()}"  # nothing listens: mails fail, quietly
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = webhook_url
    (am_dir / "alertmanager.yml").write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    return am_dir / "alertmanager.yml"


# Mirrors the flags the monitoring role writes to /etc/default/prometheus-node-exporter (README), on loopback.
def node_exporter_cmd(port, textfile_dir):
    return [BINARIES["prometheus-node-exporter"], f"--web.listen-address=127.0.0.1:{port}",
            "--collector.systemd", f"--collector.textfile.directory={textfile_dir}"]


def prometheus_cmd(config, data, port):
    return [BINARIES["prometheus"], f"--config.file={config}", f"--storage.tsdb.path={data}",
            f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=1d",
            "--enable-feature=expand-external-labels",
            # Alerts that fire before the Alertmanager target is discovered are dropped and re-sent only
            # after the resend delay (1 m by default, fine in production); 1 s keeps the test short.
            "--rules.alert.resend-delay=1s"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory, vanban_app):
    tmp = tmp_path_factory.mktemp("monitoring-live")
    ports = {name: free_port() for name in ("exporter", "node_prom", "hub_prom", "am")}
    textfiles = tmp / "node-exporter"
    textfiles.mkdir()
    procs = Processes(tmp)
    sink = WebhookSink()
    started = time.monotonic()
    try:
        procs.start("node-exporter", node_exporter_cmd(ports["exporter"], textfiles))
        procs.start("alertmanager", [
            BINARIES["prometheus-alertmanager"], f"--config.file={alertmanager_config(tmp, sink.url)}",
            f"--storage.path={tmp / 'am-data'}", f"--web.listen-address=127.0.0.1:{ports['am']}",
            "--cluster.listen-address="])
        procs.start("node-prometheus", prometheus_cmd(
            node_prometheus_config(tmp, ports, vanban_app.target), tmp / "node-data", ports["node_prom"]), env=NODE)
        procs.start("hub-prometheus", prometheus_cmd(
            hub_prometheus_config(tmp, ports), tmp / "hub-data", ports["hub_prom"]),
            env={"VANBAN_PROVINCE": NODE["VANBAN_PROVINCE"]})
        for name, port in (("node-prometheus", ports["node_prom"]), ("hub-prometheus", ports["hub_prom"]),
                           ("alertmanager", ports["am"])):
            wait_for(f"{name} ready", lambda p=port: urllib.request.urlopen(
                f"http://127.0.0.1:{p}/-/ready", timeout=1).status == 200)
        yield Stack(ports, textfiles, procs, sink, vanban_app, started)
    finally:
        procs.stop_all()
        sink.close()


class Stack:
    def __init__(self, ports, textfiles, procs, sink, app, started):
        self.ports, self.textfiles, self.procs, self.sink, self.app = ports, textfiles, procs, sink, app
        self.started = started

    def query(self, promql, where="hub_prom"):
        url = f"http://127.0.0.1:{self.ports[where]}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        body = http_json(url)
        assert body["status"] == "success", body
        return body["data"]["result"]

    def wait_hub(self, promql, what=None):
        return wait_for(what or promql, lambda: self.query(promql))

    def write_textfile(self, name, text):
        """Atomic, as the appliance's jobs must do it: write a temporary file, then rename."""
        tmp = self.textfiles / f".{name}.tmp"
        tmp.write_text(text)
        tmp.rename(self.textfiles / name)


def test_hub_federates_node_series_with_node_identity(stack):
    (series,) = stack.wait_hub('up{job="node"}', "node exporter's up federated to the hub")
    assert series["metric"]["node"] == NODE["VANBAN_NODE"]
    assert series["metric"]["province"] == NODE["VANBAN_PROVINCE"]
    assert series["metric"]["agencies"] == NODE["VANBAN_AGENCIES"]
    assert series["value"][1] == "1"
    (app,) = stack.wait_hub('vanban_build_info{node="hn-test"}')
    assert app["metric"]["version"] == "0.1.0" and app["metric"]["job"] == "vanban"
    print(f"first federated series after {time.monotonic() - stack.started:.1f} s")


def test_node_recording_rules_reach_the_hub(stack):
    stack.wait_hub('instance:node_memory_available:ratio{node="hn-test"}')
    (overdue,) = stack.wait_hub('agency:vanban_documents_overdue:sum{node="hn-test"}')
    assert overdue["metric"]["agency"] == "ubnd-test" and overdue["value"][1] == "3"
    stack.wait_hub('node:vanban_documents_overdue:sum{node="hn-test"}', "hub recording rule over federated data")


def test_dead_man_receiver_gets_the_node_heartbeat(stack):
    wait_for("VanbanWatchdog of hn-test at the dead-man webhook", lambda: [
        a for a in stack.sink.alerts()
        if a["labels"]["alertname"] == "VanbanWatchdog" and a["labels"].get("node") == "hn-test"])
    wait_for("the fleet watchdog at the dead-man webhook", lambda: [
        a for a in stack.sink.alerts() if a["labels"]["alertname"] == "VanbanFleetWatchdog"])
    stack.wait_hub('ALERTS{alertname="VanbanWatchdog", node="hn-test", alertstate="firing"}')
    assert not stack.query('ALERTS{alertname="VanbanNodeWatchdogMissing"}')


def test_an_old_backup_fires_at_the_hub_with_node_labels(stack):
    assert not stack.query('ALERTS{alertname="VanbanBackupTooOld"}')
    written = time.monotonic()
    stack.write_textfile("vanban_backup.prom",
                         "# TYPE vanban_backup_last_success_timestamp_seconds gauge\n"
                         f'vanban_backup_last_success_timestamp_seconds{{repo="local"}} {time.time() - 27 * 3600:.0f}\n'
                         f'vanban_backup_last_success_timestamp_seconds{{repo="hub"}} {time.time() - 3600:.0f}\n')
    (alert,) = stack.wait_hub('ALERTS{alertname="VanbanBackupTooOld", alertstate="firing"}')
    assert alert["metric"]["repo"] == "local"
    assert alert["metric"]["node"] == "hn-test" and alert["metric"]["severity"] == "critical"
    print(f"VanbanBackupTooOld firing at the hub {time.monotonic() - written:.1f} s after the textfile write")
    # and in Alertmanager, with the node's identity attached by the node's external_labels
    url = f"http://127.0.0.1:{stack.ports['am']}/api/v2/alerts?" + urllib.parse.urlencode(
        {"filter": 'alertname="VanbanBackupTooOld"'})
    (received,) = wait_for("VanbanBackupTooOld in Alertmanager", lambda: http_json(url))
    assert received["labels"]["node"] == "hn-test" and received["labels"]["agencies"] == "ubnd-test,vp-test"
    assert received["annotations"]["runbook"] == "monitoring/README.md#vanbanbackuptooold"


def test_rules_use_node_exporter_metrics_that_exist(stack):
    from test_monitoring import RULE_FILES, metric_names  # the same lexer as the static checks

    body = urllib.request.urlopen(f"http://127.0.0.1:{stack.ports['exporter']}/metrics", timeout=5).read().decode()
    exposed = {line.split("{")[0].split(" ")[0] for line in body.splitlines() if line and not line.startswith("#")}
    used = {m for path in RULE_FILES for g in yaml.safe_load(path.read_text())["groups"] for r in g["rules"]
            for m in metric_names(r["expr"]) if m.startswith("node_")}
    # No systemd (and no D-Bus) on this test machine: the collector runs but reports nothing here.
    missing = {m for m in used - exposed if not m.startswith("node_systemd_")}
    assert not missing, f"rules read node exporter metrics it does not expose: {missing}"


def test_stopping_the_app_fires_app_down_at_the_hub(stack):
    stack.app.stop()
    stopped = time.monotonic()
    (alert,) = stack.wait_hub('ALERTS{alertname="VanbanAppDown", alertstate="firing"}')
    assert alert["metric"]["node"] == "hn-test" and alert["metric"]["job"] == "vanban"
    print(f"VanbanAppDown firing at the hub {time.monotonic() - stopped:.1f} s after the app stopped")


def test_stopping_the_node_prometheus_fires_node_down(stack):
    stack.procs.stop("node-prometheus")
    stopped = time.monotonic()
    (alert,) = stack.wait_hub('ALERTS{alertname="VanbanNodeDown", alertstate="firing"}')
    assert alert["metric"]["node"] == "hn-test" and alert["metric"]["province"] == "test-province"
    print(f"VanbanNodeDown firing at the hub {time.monotonic() - stopped:.1f} s after the node stopped")
