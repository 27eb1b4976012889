"""Faults on the way, with real processes: the link to the hub cut for a while, the hub killed in the middle
of an upload and restarted, a node killed after storing a package but before acknowledging it, the same
package delivered again and again. Afterwards every document has arrived exactly once and every status
reached its sender.

Backoff waits are skipped by moving next_attempt_at into the past (the test's only time travel)."""
from __future__ import annotations

import os
import subprocess
import time

import pytest

from conftest import make_pdf
from exchange_lab import Lab, Relay, env_for, issue_outgoing, python, query


@pytest.fixture
def lab(tmp_path, template):
    lab = Lab(tmp_path / "lab", template[0])
    yield lab
    lab.close()


def due_now(node):
    import sqlite3

    con = sqlite3.connect(node.data_dir / "vanban.db", timeout=10)
    with con:
        con.execute("UPDATE outbox SET next_attempt_at = '2000-01-01 00:00:00' WHERE status = 'pending'")
        con.execute("UPDATE exchange_outbox SET next_attempt_at = '2000-01-01 00:00:00' WHERE state = 'pending'")
    con.close()


def poll_killed_before_ack(node) -> int:
    """`vanban exchange poll` in a process that dies (os._exit, no cleanup) the moment it would acknowledge."""
    code = ("import os, sys\n"
            "from vanban.exchange import transport\n"
            "transport.HubClient.ack = lambda *a, **k: os._exit(9)\n"
            "from vanban.cli import main\n"
            f"sys.exit(main(['--data', {str(node.data_dir)!r}, 'exchange', 'poll']))\n")
    return subprocess.run([python(), "-c", code], env=env_for(node.data_dir), timeout=120).returncode


@pytest.mark.slow  # ~50 s: about fifteen real CLI runs against a real hub
def test_every_document_arrives_exactly_once_through_faults(lab):
    hub = lab.hub("hub", {"H19.42": ("UBND huyện Nhơn Trạch", "node1", "district"),
                          "H19.43": ("UBND huyện Long Thành", "node2", "district")})
    hub.start()
    relay = Relay(hub.port, rate=3_000_000)  # ~3 MB/s, so a large upload can be interrupted
    node1 = lab.node("node1", relay.url)
    node2 = lab.node("node2", hub.url)

    # 1. The link is cut: the node keeps working, its outbox grows, pushing fails softly.
    for n in ("21", "22", "23"):
        issue_outgoing(node1, to=["H19.43"], number=n, subject=f"Công văn {n}", pdf=make_pdf(f"Công văn {n}"))
    assert node1.cli_json("exchange", "push")["retry"] == 1
    assert node1.cli_json("exchange", "status")["outbox"]["H19.42"]["depth"] == 3
    relay.start()
    due_now(node1)
    assert node1.cli_json("exchange", "push") == {"sent": 3, "failed": 0, "retry": 0}

    # 2. The hub is killed in the middle of an upload of a large package, then restarted.
    big = make_pdf("Công văn 24") + b"%" + os.urandom(6 * 1024 * 1024).hex().encode()[:6 * 1024 * 1024]
    issue_outgoing(node1, to=["H19.43"], number="24", subject="Công văn 24 kèm hồ sơ lớn", pdf=big)
    push = subprocess.Popen([os.path.join(os.path.dirname(python()), "vanban"), "--data", str(node1.data_dir),
                             "exchange", "push"], env=env_for(node1.data_dir), stdout=subprocess.PIPE, text=True)
    start = relay.upstream_bytes
    deadline = time.monotonic() + 30
    while relay.upstream_bytes - start < 2 * 1024 * 1024 and time.monotonic() < deadline:
        time.sleep(0.05)
    hub.kill()
    out, _ = push.communicate(timeout=60)
    assert '"retry": 1' in out, out
    hub.start()
    due_now(node1)
    assert node1.cli_json("exchange", "push")["sent"] == 1

    # 3. The same package again: the node lost the hub's answer and sends it a second and third time.
    import sqlite3

    for _ in range(2):
        con = sqlite3.connect(node1.data_dir / "vanban.db")
        with con:
            con.execute("UPDATE outbox SET status = 'pending', next_attempt_at = '2000-01-01 00:00:00' "
                        "WHERE document_id = (SELECT max(document_id) FROM outbox)")
        con.close()
        assert node1.cli_json("exchange", "push")["sent"] == 1
    assert query(hub, "SELECT count(*) FROM hub_message")[0][0] == 4

    # 4. node2 dies after storing but before acknowledging: the hub delivers again, stored once.
    assert poll_killed_before_ack(node2) == 9
    assert query(node2, "SELECT count(*) FROM exchange_inbox")[0][0] >= 1
    assert node2.cli_json("exchange", "poll")["duplicate"] >= 1
    assert node2.cli_json("exchange", "poll") == {"received": 0, "duplicate": 0, "refused": 0}
    packages = query(node2, "SELECT document_id FROM exchange_inbox WHERE kind = 'package' ORDER BY document_id")
    assert [p[0].split(",")[2] for p in packages] == ["21/UBND-VP", "22/UBND-VP", "23/UBND-VP", "24/UBND-VP"]
    assert query(hub, "SELECT count(*) FROM hub_message WHERE state = 'queued'")[0][0] == 0

    # Every status reached the sender, once.
    node2.cli_json("exchange", "push")
    node1.cli_json("exchange", "poll")
    got = query(node1, "SELECT recipient, status_code, count(*) FROM exchange_receipt GROUP BY 1, 2")
    assert got == [("H19.43", "01", 4)]
    relay.stop()


@pytest.mark.slow  # ~30 s: two hubs, two nodes, a dozen CLI runs
def test_two_hubs_in_a_chain_use_the_same_protocol(lab):
    national = lab.hub("hub-b", {"H19.43": ("UBND huyện Long Thành", "node2", "district"),
                                 "H19.42": ("UBND huyện Nhơn Trạch", "hub-a", "district")})
    national.start()
    province = lab.hub("hub-a", {"H19.42": ("UBND huyện Nhơn Trạch", "node1", "district")}, upstream=national.url)
    province.start()
    node1 = lab.node("node1", province.url)
    node2 = lab.node("node2", national.url)
    issue_outgoing(node1, to=["H19.43"], number="41", subject="Công văn 41 ra ngoài tỉnh", pdf=make_pdf("41"))
    assert node1.cli_json("exchange", "push")["sent"] == 1
    assert query(province, "SELECT state FROM hub_message") == [("upstream",)]
    assert province.cli_json("hub", "upstream")["forwarded"] == 1
    assert node2.cli_json("exchange", "poll")["received"] == 1
    assert node2.cli_json("exchange", "push")["sent"] == 1  # 01 back, addressed to H19.42 (hosted by hub-a)
    assert province.cli_json("hub", "upstream")["fetched"] == 1
    assert node1.cli_json("exchange", "poll")["received"] == 1
    assert query(node1, "SELECT recipient, status_code FROM exchange_receipt") == [("H19.43", "01")]
    assert query(national, "SELECT count(*) FROM hub_message WHERE state = 'queued'") == [(0,)]


def test_outbox_message_id_is_stable_for_a_row_and_new_for_a_reused_row_id():
    """A retry sends the same message id (the hub keeps one copy); a node restored from a backup hands out row
    ids again, and the new row must not be taken for the one sent under that id before the disk died."""
    from datetime import datetime
    from types import SimpleNamespace

    from vanban.exchange.node import outbox_message_id

    row = SimpleNamespace(id=7, created_at=datetime(2026, 3, 10, 9, 0, 0, 123456), document_id=41,
                          organ_id="H19.43", kind="issue")
    first = outbox_message_id("node1", row)
    assert first == outbox_message_id("node1", row) and first.startswith("node1-ob7-") and len(first) <= 40
    reused = SimpleNamespace(**{**vars(row), "created_at": datetime(2026, 3, 12, 14, 5), "document_id": 44})
    assert outbox_message_id("node1", reused) != first
    assert len(outbox_message_id("a-very-long-node-name-indeed", SimpleNamespace(**{**vars(row), "id": 9999999}))) <= 40
