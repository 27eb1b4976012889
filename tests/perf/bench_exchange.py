"""Benchmark of the exchange: hub relay throughput and node-to-node delivery latency.

    .venv/bin/python tests/perf/bench_exchange.py [--packages 40] [--clients 4] [--latency-runs 15] [--bad-runs 5]

A hub runs as a real gunicorn process with mutual TLS (1 worker, 4 threads, as on a small hub VM); packages
carry a 1 MB PDF and are signed with a node's system key (XML-DSig, RSA-SHA256).

- Relay throughput: `--clients` senders upload packages concurrently (store: fsync + verify + commit), then
  the receiver lists, fetches and acknowledges them all; packages/s for each half and for the round trip.
- Delivery latency: one package at a time, from "sign and send" at the sender to "verified and durably stored
  in the receiving node's inbox, acknowledged" (the receiver polls continuously; the periodic job polls once a
  minute, which adds up to 60 s in production). Healthy link: loopback. Bad link: through the test's relay
  adding 300 ms each way and shaping to 1 Mbit/s (packet loss needs network namespaces: see
  tests/test_exchange_badlink.py).
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from exchange_lab import Lab, Relay, use_db  # noqa: E402
from vanban.exchange import Attachment, Organization, Package, build_package  # noqa: E402
from vanban.exchange.transport import HubClient  # noqa: E402


def one_mb_pdf(n: int) -> bytes:
    head = b"%PDF-1.7\n% vanban bench\n"
    return head + os.urandom(1024 * 1024 - len(head) - 6) + b"\n%%EOF"


def package(n: int, signer) -> bytes:
    pkg = Package(from_org=Organization("H19.42", "UBND huyện Nhơn Trạch"), to_orgs=(Organization("H19.43"),),
                  code_number=str(n), code_notation="UBND-VP", promulgation_date=dt.date(2026, 3, 10),
                  subject=f"Công văn thử tải số {n}", type_name="Công văn",
                  attachments=(Attachment("att1", f"cv-{n}.pdf", one_mb_pdf(n)),))
    return build_package(pkg, *signer)


def client_for(server_pki: Path, url: str) -> HubClient:
    return HubClient(url, cert=(str(server_pki / "tls.crt"), str(server_pki / "tls.key")),
                     ca=str(server_pki / "ca.crt"), timeout=120)


def setup(root: Path):
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from vanban.clock import SystemClock
    from vanban.core import agencies
    from vanban.exchange.config import write_config
    from vanban.models import migrations
    from vanban.runtime import build_context
    from vanban.settings import load_settings

    lab = Lab(root)
    hub = lab.hub("hub", {"H19.42": ("UBND huyện Nhơn Trạch", "node1", "district"),
                          "H19.43": ("UBND huyện Long Thành", "node2", "district")})
    hub.start()
    node1_pki, node2_dir = root / "node1-pki", root / "node2"
    from exchange_lab import PASSPHRASE
    from vanban.exchange.tls import issue_identity
    issue_identity(lab.pki, node1_pki, name="node1", role="node", root_passphrase=PASSPHRASE)
    issue_identity(lab.pki, node2_dir / "pki" / "exchange", name="node2", role="node", root_passphrase=PASSPHRASE)
    write_config(node2_dir, node_name="node2", hub_url=hub.url)
    settings = load_settings(environ={}, data_dir=str(node2_dir), clamd_socket="", jobs_immediate=True)
    ctx = build_context(settings)
    use_db(node2_dir)
    migrations.migrate(SystemClock().local())
    agencies.create_agency(SystemClock().now(), None, code="H19.43", name="UBND huyện Long Thành",
                           abbreviation="UBND")
    key = serialization.load_pem_private_key((node1_pki / "dsig.key").read_bytes(), None)
    signer = (key, x509.load_pem_x509_certificates((node1_pki / "dsig.crt").read_bytes()))
    return lab, hub, node1_pki, node2_dir, ctx, signer


def relay_throughput(hub, node1_pki, node2_dir, signer, count: int, clients: int) -> None:
    packages = [package(1000 + i, signer) for i in range(count)]
    size = sum(map(len, packages)) / count / 1024 / 1024
    queue = list(enumerate(packages))
    lock = threading.Lock()

    def sender():
        c = client_for(node1_pki, hub.url)
        while True:
            with lock:
                if not queue:
                    return
                i, data = queue.pop()
            c.send("H19.43", f"bench-{i:06d}-{os.getpid()}", data)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=sender) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    t_up = time.perf_counter() - t0
    receiver = client_for(node2_dir / "pki" / "exchange", hub.url)
    t1 = time.perf_counter()
    got = 0
    while items := receiver.list(100):
        for item in items:
            with tempfile.TemporaryFile() as fh:
                receiver.fetch(item["id"], fh, 200 * 1024 * 1024)
            receiver.ack(item["id"])
            got += 1
    t_down = time.perf_counter() - t1
    print(f"relay: {count} packages of {size:.2f} MB, {clients} concurrent senders")
    print(f"  store at hub (upload, verify, fsync, commit): {count / t_up:6.1f} packages/s "
          f"({count * size / t_up:5.1f} MB/s)")
    print(f"  deliver (list, fetch, ack; one receiver):      {got / t_down:6.1f} packages/s")
    print(f"  round trip:                                    {count / (t_up + t_down):6.1f} packages/s")


def latency(url, node1_pki, node2_dir, ctx, signer, runs: int, label: str) -> None:
    from vanban.exchange import node

    sender = client_for(node1_pki, url)
    receiver = client_for(node2_dir / "pki" / "exchange", url)
    times = []
    for i in range(runs):
        n = 5000 + i + (0 if label == "healthy" else 500)
        t0 = time.perf_counter()
        sender.send("H19.43", f"lat-{label.replace(' ', '-')}-{i}-{os.getpid()}", package(n, signer))
        while True:
            items = receiver.list(10)
            if items:
                break
            time.sleep(0.05)
        for item in items:
            with tempfile.TemporaryFile() as fh:
                receiver.fetch(item["id"], fh, 200 * 1024 * 1024)
                fh.seek(0)
                assert node.receive(ctx, item, fh) == "received"
            receiver.ack(item["id"])
        times.append(time.perf_counter() - t0)
    times.sort()
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    print(f"latency {label:8} ({runs} runs, 1 MB package, sign → stored and acked at the receiver): "
          f"p50 {statistics.median(times) * 1000:7.0f} ms  p95 {p95 * 1000:7.0f} ms")


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--packages", type=int, default=40)
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--latency-runs", type=int, default=15)
    p.add_argument("--bad-runs", type=int, default=5)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        lab, hub, node1_pki, node2_dir, ctx, signer = setup(Path(tmp))
        try:
            relay_throughput(hub, node1_pki, node2_dir, signer, args.packages, args.clients)
            latency(hub.url, node1_pki, node2_dir, ctx, signer, args.latency_runs, "healthy")
            if args.bad_runs:
                bad = Relay(hub.port, delay=0.3, rate=1_000_000 / 8).start()
                try:
                    latency(bad.url, node1_pki, node2_dir, ctx, signer, args.bad_runs, "bad link")
                finally:
                    bad.stop()
        finally:
            lab.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
