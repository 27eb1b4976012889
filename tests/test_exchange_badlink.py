"""A poor district line: each node in a network namespace made by this test, its veth link shaped to 1 Mbit/s
with `tc tbf` on both ends and 10% random packet loss with nftables in the namespace (this kernel has no
netem, see ../shared/TESTHOSTS.md), plus 300 ms added each way by the test's delaying TCP relay in front of the
hub. Packages still arrive exactly once and every status gets back. Needs root (CI and this machine are)."""
from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import time

import pytest

from conftest import make_pdf
from exchange_lab import VENV_BIN, Lab, Relay, env_for, issue_outgoing, query

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("nft") or not shutil.which("tc"),
                                 reason="needs root, nftables and tc to build the namespaces")]


def sh(*args):
    subprocess.run(args, check=True, capture_output=True, text=True)


class PoorLine:
    """Namespace `ns` with address 198.18.<n>.2 behind a veth to the host at 198.18.<n>.1."""

    def __init__(self, n: int):
        tag = f"{os.getpid() % 10000}{n}"
        self.ns, self.host_if, self.ns_if = f"vbx{tag}", f"vbx{tag}h", f"vbx{tag}n"
        self.host_ip, self.ns_ip = f"198.18.{200 + n}.1", f"198.18.{200 + n}.2"

    def up(self) -> PoorLine:
        sh("ip", "netns", "add", self.ns)
        sh("ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if)
        sh("ip", "link", "set", self.ns_if, "netns", self.ns)
        sh("ip", "addr", "add", f"{self.host_ip}/30", "dev", self.host_if)
        sh("ip", "link", "set", self.host_if, "up")
        self.exec("ip", "addr", "add", f"{self.ns_ip}/30", "dev", self.ns_if)
        self.exec("ip", "link", "set", self.ns_if, "up")
        self.exec("ip", "link", "set", "lo", "up")
        for cmd in (("tc",), ("ip", "netns", "exec", self.ns, "tc")):
            dev = self.host_if if len(cmd) == 1 else self.ns_if
            sh(*cmd, "qdisc", "add", "dev", dev, "root", "tbf", "rate", "1mbit", "burst", "32kbit",
               "latency", "400ms")
        rules = ("table inet vbxloss {\n"
                 " chain pre { type filter hook prerouting priority -300; numgen random mod 100 < 10 drop; }\n"
                 " chain out { type filter hook output priority -300; numgen random mod 100 < 10 drop; }\n}\n")
        subprocess.run(["ip", "netns", "exec", self.ns, "nft", "-f", "-"], input=rules, check=True, text=True)
        return self

    def exec(self, *args):
        sh("ip", "netns", "exec", self.ns, *args)

    def down(self) -> None:
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)
        subprocess.run(["ip", "link", "del", self.host_if], capture_output=True)


@pytest.fixture
def lines():
    made = []
    try:
        for n in (1, 2):
            made.append(PoorLine(n))
            made[-1].up()
        yield made
    finally:
        for line in made:
            line.down()


def run_in(line, node, command) -> dict | None:
    """`vanban exchange <command>` inside the node's namespace; None when the line failed this time."""
    import json

    r = subprocess.run(["ip", "netns", "exec", line.ns, str(VENV_BIN / "vanban"), "--data", str(node.data_dir),
                        "exchange", command], env=env_for(node.data_dir), capture_output=True, text=True,
                       timeout=300)
    return json.loads(r.stdout.strip().splitlines()[-1]) if r.returncode == 0 and r.stdout.strip() else None


def due_now(node):
    con = sqlite3.connect(node.data_dir / "vanban.db", timeout=10)
    with con:
        con.execute("UPDATE outbox SET next_attempt_at = '2000-01-01 00:00:00' WHERE status = 'pending'")
        con.execute("UPDATE exchange_outbox SET next_attempt_at = '2000-01-01 00:00:00' WHERE state = 'pending'")
    con.close()


def until(predicate, action, timeout=240):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "not delivered in time over the bad line"
        action()


def test_bad_line_still_delivers_exactly_once(tmp_path, template, lines):
    line1, line2 = lines
    lab = Lab(tmp_path / "lab", template[0])
    try:
        hub = lab.hub("hub", {"H19.42": ("UBND huyện Nhơn Trạch", "node1", "district"),
                              "H19.43": ("UBND huyện Long Thành", "node2", "district")},
                      hosts=("127.0.0.1", line1.host_ip, line2.host_ip))
        hub.start()
        relays = [Relay(hub.port, delay=0.3, host=line.host_ip).start() for line in lines]
        node1 = lab.node("node1", relays[0].url)
        node2 = lab.node("node2", relays[1].url)
        for n in ("31", "32", "33"):
            issue_outgoing(node1, to=["H19.43"], number=n, subject=f"Công văn {n} qua đường truyền kém",
                           pdf=make_pdf(f"Công văn {n}") + os.urandom(100_000))
        t0 = time.monotonic()

        def sent():
            return query(node1, "SELECT count(*) FROM outbox WHERE status = 'sent'")[0][0] == 3

        until(sent, lambda: (due_now(node1), run_in(line1, node1, "push")))

        def received():
            return query(node2, "SELECT count(*) FROM exchange_inbox WHERE kind = 'package'")[0][0] == 3

        until(received, lambda: run_in(line2, node2, "poll"))
        until(lambda: query(hub, "SELECT count(*) FROM hub_message WHERE state = 'queued' AND kind = 'package'")
              [0][0] == 0, lambda: run_in(line2, node2, "poll"))
        until(lambda: query(node2, "SELECT count(*) FROM exchange_outbox WHERE state = 'sent'")[0][0] == 3,
              lambda: (due_now(node2), run_in(line2, node2, "push")))
        until(lambda: len(query(node1, "SELECT * FROM exchange_receipt")) == 3, lambda: run_in(line1, node1, "poll"))
        elapsed = time.monotonic() - t0
        assert query(node2, "SELECT count(DISTINCT document_id), count(*) FROM exchange_inbox "
                            "WHERE kind = 'package'") == [(3, 3)]
        assert query(node1, "SELECT status_code, count(*) FROM exchange_receipt GROUP BY 1") == [("01", 3)]
        print(f"bad line: 3 packages and their statuses delivered in {elapsed:.1f} s")
        for relay in relays:
            relay.stop()
    finally:
        lab.close()
