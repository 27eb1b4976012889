"""Benchmark (issue 6): cost of the monitoring stack on a node, and the scrape cost of the app's /metrics.

    .venv/bin/python tests/perf/bench_monitoring.py [--minutes 60] [--agencies 100] [--documents-per-agency 20]

What runs, all on loopback with the Debian binaries and the repository's configs:
- the vanban app under its production gunicorn settings (2 workers, multiprocess metrics) on a data directory
  with --agencies agencies created through the core use cases (create_agency, create_user, register_incoming;
  paper documents, a third of them past their deadline, so the overdue gauges are not all zero);
- prometheus-node-exporter with the role's flags (systemd collector on, textfile directory with the five
  textfiles the jobs write);
- the node's local Prometheus from monitoring/prometheus/node.yml with its PRODUCTION intervals (30 s scrape
  and evaluation) and the real rule files; only targets, storage and the Alertmanager file are changed.

Measured: resident memory (VmRSS) and CPU time (utime+stime from /proc) of the node exporter and Prometheus,
sampled every 30 s for --minutes; the duration of GET /metrics from a client (50 sequential requests) and as
Prometheus records it (scrape_duration_seconds). The issue asks for an hour; when --minutes is shorter, the
memory at one hour is extrapolated linearly from the growth over the second half of the run and printed as an
extrapolation. A light request load (/healthz and /login every 2 s) keeps the request histograms alive.
Prints a Markdown block for monitoring/README.md at the end.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from datetime import timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
MON = ROOT / "monitoring"
sys.path.insert(0, str(HERE.parent))

import yaml  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
NODE_ENV = {"VANBAN_NODE": "bench-node", "VANBAN_PROVINCE": "bench", "VANBAN_AGENCIES": "bench"}


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def seed(data_dir: Path, agencies_n: int, docs_per_agency: int) -> int:
    """Agencies, one clerk each and paper documents, through the same use cases the web UI calls."""
    from vanban.clock import FixedClock, SystemClock
    from vanban.core import accounts, agencies, incoming
    from vanban.core.doctypes import TYPE_ABBREV
    from vanban.corpus import document
    from vanban.models import database, migrations
    from vanban.models.schema import Register
    from vanban.runtime import build_context
    from vanban.settings import load_settings

    for sub in ("blobs", "tmp", "pki"):
        (data_dir / sub).mkdir(parents=True, exist_ok=True)
    settings = load_settings(environ={}, data_dir=str(data_dir), clamd_socket="", antivirus_required=False,
                             jobs_immediate=True)
    now = SystemClock().now()
    start = now - timedelta(days=40)
    ctx = build_context(settings, clock=FixedClock(start))
    migrations.migrate(start.replace(tzinfo=None))
    rng = random.Random(6)
    count = 0
    for i in range(agencies_n):
        code = f"H19.{50 + i // 50:02d}.{i % 50 + 1:02d}"
        agency = agencies.create_agency(start, None, code=code, name=f"UBND xã thử nghiệm số {i + 1}",
                                        abbreviation="UBND")
        clerk = accounts.create_user(start, None, agency, username=f"vanthu{i + 1}", full_name=f"Văn thư {i + 1}",
                                     password=f"bench-{rng.random()}", roles="clerk")
        register = Register.get((Register.agency == agency) & (Register.kind == "incoming") &
                                (Register.confidential == False))  # noqa: E712
        for j in range(docs_per_agency):
            f = document(rng, TYPE_ABBREV)
            doc_date = (start - timedelta(days=2)).date()
            # a third past due (deadline 10 days ago), the rest due next month or without a deadline
            deadline = (now - timedelta(days=10)).date() if j % 3 == 0 else (
                (now + timedelta(days=30)).date() if j % 3 == 1 else None)
            data = {**f, "register_id": register.id, "doc_date": doc_date.isoformat(),
                    "number_notation": f"{f['number']}/{f['notation']}", "confirm_duplicate": "1",
                    "deadline": deadline.isoformat() if deadline else "", "medium": "paper"}
            incoming.register_incoming(ctx, clerk, data, [])
            count += 1
    database.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    database.close()
    return count


def write_textfiles(directory: Path) -> None:
    now = time.time()
    files = {
        "vanban_backup.prom": f'vanban_backup_last_success_timestamp_seconds{{repo="local"}} {now - 3600:.0f}\n'
                              f'vanban_backup_last_success_timestamp_seconds{{repo="hub"}} {now - 3600:.0f}\n'
                              'vanban_backup_last_duration_seconds{repo="local"} 42\n',
        "vanban_restore_drill.prom": f"vanban_restore_drill_last_run_timestamp_seconds {now - 86400:.0f}\n"
                                     "vanban_restore_drill_success 1\n"
                                     f"vanban_restore_drill_last_success_timestamp_seconds {now - 86400:.0f}\n",
        "vanban_av.prom": f"vanban_av_signature_timestamp_seconds {now - 7200:.0f}\n",
        "vanban_tls.prom": f'vanban_tls_cert_expiry_timestamp_seconds{{cert="https"}} {now + 200 * 86400:.0f}\n',
        "vanban_sqlite.prom": "vanban_sqlite_integrity_last_check_ok 1\n",
    }
    for name, text in files.items():
        (directory / f".{name}.tmp").write_text(text)
        (directory / f".{name}.tmp").rename(directory / name)


def prometheus_config(tmp: Path, ports: dict) -> Path:
    """node.yml as installed, with production intervals; only targets, rule paths and storage differ."""
    config = yaml.safe_load((MON / "prometheus" / "node.yml").read_text())
    config["rule_files"] = [str(MON / "rules" / "node-alerts.yml"), str(MON / "rules" / "node-recording.yml")]
    (tmp / "alertmanagers.json").write_text("[]")  # no hub here: alerts are evaluated, not sent
    config["alerting"]["alertmanagers"][0]["file_sd_configs"][0]["files"] = [str(tmp / "alertmanagers.json")]
    targets = {"vanban": f"127.0.0.1:{ports['app']}", "node": f"127.0.0.1:{ports['exporter']}",
               "prometheus": f"127.0.0.1:{ports['prom']}"}
    for job in config["scrape_configs"]:
        job["static_configs"] = [{"targets": [targets[job["job_name"]]]}]
    path = tmp / "node.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def proc_sample(pid: int) -> tuple[float, float]:
    """(resident MiB, CPU seconds so far) of one process, from /proc."""
    rss_kb = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                  if line.startswith("VmRSS:"))
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return rss_kb / 1024, (int(fields[11]) + int(fields[12])) / TICK


def wait_http(url: str, timeout=60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not answer in {timeout} s")


def promql(port: int, expr: str) -> list:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.load(r)["data"]["result"]


def scalar(port: int, expr: str) -> float | None:
    result = promql(port, expr)
    return float(result[0]["value"][1]) if result else None


def time_metrics(port: int, n=50) -> tuple[list[float], int, int]:
    times, size, samples = [], 0, 0
    for _ in range(n):
        t0 = time.perf_counter()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
            body = r.read()
        times.append(time.perf_counter() - t0)
        size = len(body)
        samples = sum(1 for line in body.decode().splitlines() if line and not line.startswith("#"))
    return times, size, samples


def light_load(port: int, stop: threading.Event) -> None:
    while not stop.wait(2):
        for path in ("/healthz", "/login"):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5).read()
            except OSError:
                pass


def warm_up(port: int) -> None:
    """A few requests on several routes and statuses, so /metrics carries request histograms as in service."""
    for _ in range(5):
        for path in ("/healthz", "/login", "/inbox", "/static/app.css", "/no-such-page", "/api/v1/documents"):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5).read()
            except OSError:  # 3xx/4xx answers are wanted too
                pass


def start(cmd, log: Path, env=None) -> subprocess.Popen:
    with log.open("wb") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def dir_mib(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2 ** 20


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--agencies", type=int, default=100)
    ap.add_argument("--documents-per-agency", type=int, default=20)
    ap.add_argument("--workdir", default=None, help="kept after the run if given (default: a temporary dir)")
    args = ap.parse_args()
    for binary in ("prometheus", "prometheus-node-exporter"):
        if not shutil.which(binary):
            raise SystemExit(f"{binary} missing: apt-get install prometheus prometheus-node-exporter")
    tmp = Path(args.workdir or tempfile.mkdtemp(prefix="vanban-bench-mon-"))
    tmp.mkdir(parents=True, exist_ok=True)
    data = tmp / "data"
    t0 = time.monotonic()
    documents = seed(data, args.agencies, args.documents_per_agency)
    print(f"seeded {args.agencies} agencies, {documents} documents in {time.monotonic() - t0:.0f} s", flush=True)
    ports = {name: free_port() for name in ("app", "exporter", "prom")}
    textfiles = tmp / "textfiles"
    textfiles.mkdir(exist_ok=True)
    write_textfiles(textfiles)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VANBAN_", "PROMETHEUS_"))}
    env.update({"VANBAN_DATA_DIR": str(data), "VANBAN_BIND": f"127.0.0.1:{ports['app']}", "VANBAN_WORKERS": "2",
                "VANBAN_CLAMD_SOCKET": "", "VANBAN_ANTIVIRUS_REQUIRED": "0", "VANBAN_COOKIE_SECURE": "0"})
    procs = []
    stop_load = threading.Event()
    try:
        app = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "python:vanban.gunicorn_conf",
                                "vanban.wsgi:app"], env=env, stdout=(tmp / "app.log").open("wb"),
                               stderr=subprocess.STDOUT)
        procs.append(app)
        exporter = start(["prometheus-node-exporter", f"--web.listen-address=127.0.0.1:{ports['exporter']}",
                          "--collector.systemd",
                          "--collector.systemd.unit-include=(vanban-.+|clamav-.+|nginx|chrony|prometheus.*|"
                          r"unattended-upgrades|borg.*)\.(service|timer)",
                          f"--collector.textfile.directory={textfiles}"], tmp / "exporter.log")
        procs.append(exporter)
        wait_http(f"http://127.0.0.1:{ports['app']}/healthz")
        wait_http(f"http://127.0.0.1:{ports['exporter']}/metrics")
        prom = start(["prometheus", f"--config.file={prometheus_config(tmp, ports)}",
                      f"--storage.tsdb.path={tmp / 'prom-data'}", f"--web.listen-address=127.0.0.1:{ports['prom']}",
                      "--storage.tsdb.retention.time=7d", "--storage.tsdb.retention.size=1GB",
                      "--enable-feature=expand-external-labels"], tmp / "prometheus.log", env=NODE_ENV)
        procs.append(prom)
        wait_http(f"http://127.0.0.1:{ports['prom']}/-/ready")
        threading.Thread(target=light_load, args=(ports["app"], stop_load), daemon=True).start()
        warm_up(ports["app"])
        client_times, size, samples = time_metrics(ports["app"])
        print(f"/metrics: {size} bytes, {samples} samples, median {statistics.median(client_times) * 1000:.1f} ms",
              flush=True)
        rows = []  # (minutes, exporter rss, exporter cpu, prom rss, prom cpu)
        began = time.monotonic()
        end = began + args.minutes * 60
        while True:
            now = time.monotonic()
            e_rss, e_cpu = proc_sample(exporter.pid)
            p_rss, p_cpu = proc_sample(prom.pid)
            rows.append(((now - began) / 60, e_rss, e_cpu, p_rss, p_cpu))
            if len(rows) % 10 == 1:
                print(f"  {rows[-1][0]:5.1f} min: exporter {e_rss:.1f} MiB {e_cpu:.1f} s CPU, "
                      f"prometheus {p_rss:.1f} MiB {p_cpu:.1f} s CPU", flush=True)
            if now >= end:
                break
            time.sleep(min(30, max(0.0, end - now)))
        client_after, _, _ = time_metrics(ports["app"])
        prom_scrape = {q: scalar(ports["prom"], f'{q}_over_time(scrape_duration_seconds{{job="vanban"}}[{int(args.minutes * 60) + 60}s])')
                       for q in ("avg", "max")}
        node_scrape = scalar(ports["prom"], f'avg_over_time(scrape_duration_seconds{{job="node"}}[{int(args.minutes * 60) + 60}s])')
        head_series = scalar(ports["prom"], "prometheus_tsdb_head_series")
        samples_app = scalar(ports["prom"], 'scrape_samples_scraped{job="vanban"}')
        samples_node = scalar(ports["prom"], 'scrape_samples_scraped{job="node"}')
        storage = dir_mib(tmp / "prom-data")
    finally:
        stop_load.set()
        for proc in reversed(procs):
            stop(proc)
    report(args, documents, rows, client_times, client_after, size, samples, prom_scrape, node_scrape,
           head_series, samples_app, samples_node, storage)
    if not args.workdir:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def extrapolate(rows, col, minutes=60.0):
    """Linear fit over the second half of the run (after start-up), evaluated at `minutes`."""
    half = [r for r in rows if r[0] >= rows[-1][0] / 2]
    if len(half) < 2:
        return rows[-1][col], 0.0
    xs, ys = [r[0] for r in half], [r[col] for r in half]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / (sum((x - mx) ** 2 for x in xs) or 1)
    return my + slope * (minutes - mx), slope * 60


def report(args, documents, rows, client_times, client_after, size, samples, prom_scrape, node_scrape,
           head_series, samples_app, samples_node, storage):
    last = rows[-1]
    minutes = last[0]
    warm = next((r for r in rows if r[0] >= 2), rows[0])  # CPU after the first 2 minutes (start-up, WAL replay)
    span = (last[0] - warm[0]) * 60 or 1
    e_cpu = (last[2] - warm[2]) / span * 100
    p_cpu = (last[4] - warm[4]) / span * 100
    measured_hour = minutes >= 59.5
    e_hour, e_slope = extrapolate(rows, 1) if not measured_hour else (last[1], 0)
    p_hour, p_slope = extrapolate(rows, 3) if not measured_hour else (last[3], 0)
    ms = sorted(t * 1000 for t in client_times + client_after)
    p95 = ms[int(len(ms) * 0.95) - 1]
    print("\n### Benchmark: monitoring stack on a node (issue 6)\n")
    print(f"Measured with `tests/perf/bench_monitoring.py --minutes {args.minutes:g} --agencies {args.agencies}` on "
          f"{os.cpu_count()} CPU(s), loopback, Debian prometheus/node exporter, node.yml with production intervals "
          f"(30 s scrape and rule evaluation), {args.agencies} agencies and {documents} documents on the node.\n")
    print("| figure | node exporter | local Prometheus |")
    print("|---|---|---|")
    print(f"| resident memory after {minutes:.0f} min (measured) | {last[1]:.1f} MiB | {last[3]:.1f} MiB |")
    print(f"| peak resident memory during the run | {max(r[1] for r in rows):.1f} MiB | {max(r[3] for r in rows):.1f} MiB |")
    if not measured_hour:
        print(f"| resident memory at 60 min (EXTRAPOLATED, linear over the second half of the run: "
              f"{e_slope:+.2f} / {p_slope:+.2f} MiB per hour) | {e_hour:.1f} MiB | {p_hour:.1f} MiB |")
    print(f"| average CPU (minute 2 to {minutes:.0f}) | {e_cpu:.2f} % of one core | {p_cpu:.2f} % of one core |")
    print(f"| samples per scrape | {samples_node:.0f} | — |")
    print(f"| TSDB head series / storage on disk after the run | — | {head_series:.0f} / {storage:.1f} MiB |")
    print()
    print(f"App `/metrics` with {args.agencies} agencies ({samples} samples, {size / 1024:.0f} KiB, gunicorn "
          f"2 workers, multiprocess): client-side median {statistics.median(ms):.1f} ms, p95 {p95:.1f} ms "
          f"({len(ms)} requests); as Prometheus records it (scrape_duration_seconds) average "
          f"{(prom_scrape['avg'] or 0) * 1000:.1f} ms, max {(prom_scrape['max'] or 0) * 1000:.1f} ms "
          f"(node exporter: {(node_scrape or 0) * 1000:.1f} ms; {samples_app:.0f} samples per app scrape).")
    if not measured_hour:
        print(f"\nThe run lasted {minutes:.0f} minutes, not the hour the issue asks for; the 60-minute memory "
              "figures are a linear extrapolation, not a measurement. Prometheus compacts its head block only "
              "every 2 hours, so memory keeps growing slowly over the first hours in any case.")


if __name__ == "__main__":
    sys.exit(main())
