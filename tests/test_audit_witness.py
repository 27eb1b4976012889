"""The hub countersigns each node's audit-log head (exchange/witness.py), so deleting the newest entries, which
leaves a valid but shorter hash chain, is detected: by the node's stored receipts, and with `--hub` by the
hub's own record when the receipts were deleted too. A hub and a node on loopback with mutual TLS
(tests/exchange_lab.py), the `vanban` CLI as the operator runs it; the hub's rules in-process on a real hub
database; the job with the hub unreachable, and with no hub at all."""
from __future__ import annotations

import datetime as dt
import json
import shutil
import sqlite3
import subprocess
import sys
from types import SimpleNamespace

import pytest
import requests

from conftest import make_pdf, make_settings
from exchange_lab import Lab, free_port, issue_outgoing, query, use_db


@pytest.fixture
def lab(tmp_path, template):
    lab = Lab(tmp_path / "lab", template[0])
    yield lab
    lab.close()


def province(lab):
    """A hub and node1, which hosts both agencies (so it can send itself a document through the hub)."""
    hub = lab.hub("hub", {"H19.42": ("UBND huyện Nhơn Trạch", "node1", "district"),
                          "H19.43": ("UBND huyện Long Thành", "node1", "district")})
    hub.start()
    return hub, lab.node("node1", hub.url)


def record(node, n: int) -> None:
    """n more actions in the node's audit log, as the app writes them."""
    from vanban.clock import SystemClock
    from vanban.core import audit
    from vanban.models import write_transaction

    db = use_db(node.data_dir)
    with write_transaction():
        for i in range(n):
            audit.record(SystemClock().now(), None, "test.action", "test", i, agency_code="H19.42")
    db.close()


def sql(data_dir, statement: str, *params) -> None:
    """What someone with the database file can do behind the app's back."""
    con = sqlite3.connect(data_dir / "vanban.db")
    con.execute(statement, params)
    con.commit()
    con.close()


def head_of(node) -> tuple[int, str]:
    return query(node, "SELECT id, hash FROM audit_entry ORDER BY id DESC LIMIT 1")[0]


def witness(node, check=True):
    r = node.cli("audit", "witness", check=check)
    return json.loads(r.stdout) if check else r


def verify(node, *extra):
    return node.cli("audit", "verify", *extra, check=False)


def test_cut_tail_is_named_by_the_receipt_then_by_the_hub(lab):
    hub, node1 = province(lab)
    first = witness(node1)
    assert first["witnessed"] and first["line"] == 0 and not first["duplicate"]
    assert witness(node1)["duplicate"]  # nothing new: the same receipt again
    record(node1, 5)
    second = witness(node1)
    assert second["entry_id"] == first["entry_id"] + 5 and second["count"] == first["count"] + 5
    ok = verify(node1)
    assert ok.returncode == 0 and "audit log intact" in ok.stdout, ok.stdout + ok.stderr
    assert f"hub receipts checked: 2 (newest: entry {second['entry_id']}" in ok.stdout

    # The three newest entries are deleted: the chain that is left is valid, the receipt is not satisfied.
    head_id, head_hash = head_of(node1)
    sql(node1.data_dir, "DELETE FROM audit_entry WHERE id > ?", head_id - 3)
    cut = verify(node1)
    assert cut.returncode == 1, cut.stdout
    assert (f"TAMPERED: entries after {head_id - 3} were removed: the hub witnessed entry {head_id} with hash "
            f"{head_hash} at {second['witnessed_at']}") in cut.stdout
    assert f"the log still matches the hub's witness of entry {first['entry_id']}" in cut.stdout

    # The receipts deleted too: nothing here shows it any more, the hub still does.
    sql(node1.data_dir, "DELETE FROM audit_receipt")
    assert verify(node1).returncode == 0
    asked = verify(node1, "--hub")
    assert asked.returncode == 1, asked.stdout + asked.stderr
    assert (f"TAMPERED: entries after {head_id - 3} were removed: the hub witnessed entry {head_id} with hash "
            f"{head_hash} at {second['witnessed_at']} (the hub's record, line 0)") in asked.stdout

    # The next head is a rollback: recorded and refused (409), listed for the IT centre; repeats are counted.
    refused = witness(node1, check=False)
    assert refused.returncode == 3 and "[audit_head_conflict]" in refused.stderr, refused.stderr
    assert "ngắn hơn" in refused.stderr and f"mục {head_id}" in refused.stderr
    again = witness(node1, check=False)
    assert again.returncode == 3 and "[audit_conflict_open]" in again.stderr
    (listed,) = hub.cli_json("hub", "audit-heads", "--json")["nodes"]
    conflict = listed["open_conflict"]
    assert conflict["kind"] == "rollback" and conflict["repeats"] == 1 and listed["line"] == 0
    assert conflict["witnessed"]["entry_id"] == head_id and conflict["offered"]["entry_id"] == head_id - 3
    text = hub.cli("hub", "audit-heads").stdout
    assert "node1" in text and f"CONFLICT #{conflict['id']} rollback" in text
    assert "holds conflict" in verify(node1, "--hub").stdout

    # The relay of documents goes on while the conflict waits.
    issue_outgoing(node1, to=["H19.43"], number="31", subject="Sau xung đột nhật ký", pdf=make_pdf("CV 31"))
    assert node1.cli_json("exchange", "push")["sent"] == 1
    assert node1.cli_json("exchange", "poll")["received"] == 1

    # The hub's /metrics shows the conflict per node.
    from vanban.models import database
    from vanban.web.app import create_app

    hub_app = create_app(make_settings(hub.data_dir, role="hub"))
    from falcon import testing

    metrics = testing.TestClient(hub_app).simulate_get("/metrics").text
    database.close()
    assert 'vanban_audit_head_conflicts_open{exchange_node="node1"} 1.0' in metrics
    assert 'vanban_audit_head_witnessed_timestamp_seconds{exchange_node="node1"}' in metrics


def test_rewritten_newest_entry_and_forged_receipts(lab):
    """The newest entry edited and its hash recomputed keeps the chain valid: only the receipt shows it. A
    receipt altered, or one the node signed itself with its own key, is named as forged."""
    from cryptography.hazmat.primitives import serialization

    from vanban.core.audit import _digest, _fields
    from vanban.exchange import receipt

    hub, node1 = province(lab)
    witnessed = witness(node1)
    row = query(node1, "SELECT id, at, agency_code, username, action, object_type, object_id, detail, prev_hash "
                       "FROM audit_entry ORDER BY id DESC LIMIT 1")[0]
    new_hash = _digest(_fields(row[1], row[2], "someone-else", *row[4:8]), row[8])
    sql(node1.data_dir, "UPDATE audit_entry SET username = 'someone-else', hash = ? WHERE id = ?", new_hash, row[0])
    r = verify(node1)
    assert r.returncode == 1 and "content changed" not in r.stdout and "does not follow" not in r.stdout
    assert f"TAMPERED: entry {row[0]} is not the entry the hub witnessed" in r.stdout, r.stdout
    # The hub sees the same entry id with another hash.
    refused = witness(node1, check=False)
    assert refused.returncode == 3 and "[audit_head_conflict]" in refused.stderr
    assert query(hub, "SELECT kind FROM hub_audit_conflict") == [("hash_mismatch",)]

    # A receipt altered after the fact.
    sql(node1.data_dir, "UPDATE audit_receipt SET count = count - 1")
    r = verify(node1)
    (rid,) = query(node1, "SELECT id FROM audit_receipt")[0]
    assert f"TAMPERED: hub receipt {rid} (entry {witnessed['entry_id']}): signature not valid: the receipt was " \
           "forged or altered" in r.stdout, r.stdout
    # A receipt the node made with its own signing key (it has one: it signs its packages).
    key = serialization.load_pem_private_key((node1.pki / "dsig.key").read_bytes(), None)
    fields = receipt.payload(hub="hub", node="node1", line=0, entry_id=row[0] + 1, hash="e" * 64, count=row[0],
                             witnessed_at=witnessed["witnessed_at"])
    sql(node1.data_dir, "INSERT INTO audit_receipt (hub, line, entry_id, hash, count, witnessed_at, signature, "
                        "certificate, received_at) VALUES (?, 0, ?, ?, ?, ?, ?, ?, '2026-03-10 09:00:00')",
        "hub", row[0] + 1, "e" * 64, row[0], witnessed["witnessed_at"], receipt.sign(fields, key),
        (node1.pki / "dsig.crt").read_text())
    r = verify(node1)
    assert r.returncode == 1 and "signed by this server itself, not by the hub: the receipt was forged" in r.stdout


def test_restore_from_backup_is_a_rollback_the_it_centre_acknowledges(lab):
    """docs/rebuild.md: a node restored from a snapshot is behind what the hub witnessed. Its receipts (those
    the snapshot holds) still match; the hub refuses its head until the IT centre acknowledges the rollback,
    then the node's next head starts a new line, and verify passes on both sides."""
    hub, node1 = province(lab)
    witness(node1)
    snapshot = lab.root / "snapshot.db"
    live, copy = sqlite3.connect(node1.data_dir / "vanban.db"), sqlite3.connect(snapshot)
    live.backup(copy)  # the SQLite backup API, as the node's backups take it (a self-contained file)
    copy.execute("PRAGMA journal_mode=DELETE")
    live.close()
    copy.close()
    record(node1, 5)
    lost = witness(node1)
    # The restore: the snapshot's database comes back; work goes on (fewer actions than were lost).
    for suffix in ("-wal", "-shm"):
        (node1.data_dir / f"vanban.db{suffix}").unlink(missing_ok=True)
    shutil.copyfile(snapshot, node1.data_dir / "vanban.db")
    record(node1, 2)
    assert verify(node1).returncode == 0  # the restored receipts are all still in the restored log
    refused = witness(node1, check=False)
    assert refused.returncode == 3 and "[audit_head_conflict]" in refused.stderr
    asked = verify(node1, "--hub")
    assert asked.returncode == 1 and f"the hub witnessed entry {lost['entry_id']}" in asked.stdout

    (conflict_id,) = query(hub, "SELECT id FROM hub_audit_conflict WHERE kind = 'rollback'")[0]
    wrong = hub.cli("hub", "audit-ack", "--node", "node1", "--conflict", str(conflict_id + 1), "--note", "x",
                    check=False)
    assert wrong.returncode == 2 and "[audit_conflict_not_found]" in wrong.stderr
    blank = hub.cli("hub", "audit-ack", "--node", "node1", "--note", " ", check=False)
    assert blank.returncode == 2 and "[note_required]" in blank.stderr
    acked = hub.cli("hub", "audit-ack", "--node", "node1", "--conflict", str(conflict_id),
                    "--note", "khôi phục từ bản sao lưu theo docs/rebuild.md")
    assert "starts line 1" in acked.stdout

    new_line = witness(node1)
    assert new_line["line"] == 1 and not new_line["duplicate"]
    ok = verify(node1, "--hub")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "1 receipts of earlier lines" in ok.stdout and "line 1 began when" in ok.stdout
    assert "khôi phục từ bản sao lưu" in ok.stdout
    (listed,) = hub.cli_json("hub", "audit-heads", "--node", "node1", "--json")["nodes"]
    assert listed["open_conflict"] is None and listed["line"] == 1 and listed["acknowledged"][0]["id"] == conflict_id
    assert [h["line"] for h in listed["recent"]] == [1, 0, 0]


def test_hub_refuses_bad_heads_over_the_wire_and_writes_nothing(lab):
    hub, node1 = province(lab)
    s = requests.Session()
    s.cert = (str(node1.pki / "tls.crt"), str(node1.pki / "tls.key"))
    s.verify = str(node1.pki / "ca.crt")
    s.trust_env = False  # REQUESTS_CA_BUNDLE in the environment would replace s.verify
    url = f"{hub.url}/exchange/v1/audit-heads"
    good = {"entry_id": 40, "hash": "a" * 64, "count": 40, "at": "2026-03-10T09:00:00+07:00", "previous": None}
    cases = [
        (b"not json", 400, "json_invalid"),
        (b"\xff\xfe{}", 400, "json_invalid"),
        (b"[40]", 400, "json_invalid"),
        ({**good, "entry_id": -1}, 422, "entry_id_invalid"),
        ({**good, "entry_id": True}, 422, "entry_id_invalid"),
        ({**good, "entry_id": "40"}, 422, "entry_id_invalid"),
        ({**good, "entry_id": 2 ** 70}, 422, "entry_id_invalid"),
        ({**good, "count": 0}, 422, "count_invalid"),
        ({**good, "count": 41}, 422, "count_invalid"),
        ({**good, "hash": "A" * 64}, 422, "hash_invalid"),
        ({**good, "hash": "a" * 63}, 422, "hash_invalid"),
        ({**good, "at": "hôm qua"}, 422, "at_invalid"),
        ({**good, "previous": "39"}, 422, "previous_invalid"),
        ({**good, "previous": {"entry_id": 39, "hash": "zz"}}, 422, "previous_invalid"),
        (b"{" + b" " * 5000 + b"}", 413, "too_large"),
    ]
    for body, status, code in cases:
        r = s.post(url, data=body, timeout=10) if isinstance(body, bytes) else s.post(url, json=body, timeout=10)
        assert r.status_code == status and r.json()["error"]["code"] == code, (body, r.status_code, r.text)
        assert r.json()["error"]["message"], body
    chunked = s.post(url, data=(b" " * 1000 for _ in range(6)), timeout=10)  # no Content-Length
    assert chunked.status_code == 411 and chunked.json()["error"]["code"] == "length_required"
    assert query(hub, "SELECT count(*) FROM hub_audit_head")[0][0] == 0
    assert query(hub, "SELECT count(*) FROM hub_audit_conflict")[0][0] == 0
    assert s.get(f"{url}/latest", timeout=10).json() == {"node": "node1", "line": 0, "head": None,
                                                         "open_conflict": None, "acknowledged": []}

    first = s.post(url, json=good, timeout=10)
    assert first.status_code == 201 and first.json()["receipt"]["node"] == "node1"
    assert first.json()["receipt"]["hub"] == "hub" and first.json()["duplicate"] is False
    again = s.post(url, json=good, timeout=10)
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert again.json()["receipt"] == first.json()["receipt"]
    stale = s.post(url, json={**good, "entry_id": 41, "count": 41}, timeout=10)  # no previous: not a conflict
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "audit_previous_outdated"
    assert stale.json()["error"]["witnessed"]["entry_id"] == 40
    clash = s.post(url, json={**good, "hash": "b" * 64}, timeout=10)
    error = clash.json()["error"]
    assert clash.status_code == 409 and error["code"] == "audit_head_conflict" and error["kind"] == "hash_mismatch"
    assert error["witnessed"] == {k: first.json()["receipt"][k] for k in
                                  ("line", "entry_id", "hash", "count", "witnessed_at")}
    assert query(hub, "SELECT count(*) FROM hub_audit_head")[0][0] == 1


# ---------------------------------------------------------------------------------------------- hub rules
@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """The hub's and node1's exchange identities from one provincial root, and a rogue root's."""
    from exchange_lab import PASSPHRASE, node_identities
    from vanban.exchange.tls import issue_identity
    from vanban.signing.pki import Pki

    root = node_identities(tmp_path_factory.mktemp("witness-keys"), names=("hub", "node1"))
    rogue = Pki(root / "rogue-pki", ca_key_bits=2048)
    rogue.init_root("Kẻ giả mạo", PASSPHRASE)
    issue_identity(rogue, root / "rogue", name="hub", role="hub", root_passphrase=PASSPHRASE)
    return root


@pytest.fixture
def hub_db(tmp_path, keys):
    from exchange_lab import dsig_signer
    from vanban.models import database, migrations

    use_db(tmp_path / "hub")
    migrations.migrate(dt.datetime(2026, 3, 10, 9, 0))
    yield SimpleNamespace(signer=dsig_signer(keys, "hub"))
    database.close()


def offer(config, node, entry_id, digest, count, previous=None):
    """The hub's clock is the real one: the test certificates are valid from a few minutes ago."""
    from vanban.clock import SystemClock
    from vanban.exchange import witness

    head = witness.OfferedHead(entry_id, digest, count, "", *(previous or (None, None)))
    return witness.accept_head(SystemClock().now(), node, head, config)


def refusal(config, node, *args, **kw):
    from vanban.exchange.witness import HeadRefused

    with pytest.raises(HeadRefused) as exc:
        offer(config, node, *args, **kw)
    return exc.value


H = {n: f"{n:064x}" for n in range(1, 30)}


def test_hub_rules_for_each_conflict_kind(hub_db):
    from vanban.models.witness import HubAuditConflict, HubAuditHead

    cfg = hub_db
    offer(cfg, "a", 10, H[10], 10)
    assert offer(cfg, "a", 10, H[10], 10)["duplicate"]
    assert not offer(cfg, "a", 12, H[12], 12, previous=(10, H[10]))["duplicate"]
    cases = [  # node, the offered head after (10, H[10], 10), the conflict kind
        ("b", (8, H[8], 8), {}, "rollback"),
        ("c", (10, H[11], 10), {}, "hash_mismatch"),
        ("d", (10, H[10], 9), {}, "count_mismatch"),
        ("e", (15, H[15], 15), {"previous": (10, None)}, "diverged"),  # the witnessed entry is gone
        ("f", (15, H[15], 15), {"previous": (10, H[9])}, "diverged"),
        ("g", (15, H[15], 9), {"previous": (10, H[10])}, "count_mismatch"),  # entries removed below the head
        ("h", (15, H[15], 16), {"previous": (10, H[10])}, "count_mismatch"),  # more entries than new ids
    ]
    for node, head, kw, kind in cases:
        offer(cfg, node, 10, H[10], 10)
        error = refusal(cfg, node, *head, **kw)
        assert (error.code, error.details["kind"], error.status) == ("audit_head_conflict", kind, 409), node
        assert error.details["witnessed"]["entry_id"] == 10
    assert {c.node: c.kind for c in HubAuditConflict.select()} == {n: k for n, _, _, k in cases}
    # A stale view of the last head is no conflict: nothing is recorded, the node asks again.
    offer(cfg, "i", 10, H[10], 10)
    for previous in (None, (9, H[9])):
        assert refusal(cfg, "i", 15, H[15], 15, previous=previous).code == "audit_previous_outdated"
    assert HubAuditConflict.select().where(HubAuditConflict.node == "i").count() == 0
    # While a conflict is open every head of that node is refused and counted, nothing else is recorded.
    heads = HubAuditHead.select().count()
    assert refusal(cfg, "b", 11, H[11], 11, previous=(10, H[10])).code == "audit_conflict_open"
    assert HubAuditConflict.get(HubAuditConflict.node == "b").repeats == 1
    assert HubAuditHead.select().count() == heads
    # The witnessed heads are append-only, below the app too.
    from vanban.models import database

    for statement in ("UPDATE hub_audit_head SET hash = 'x'", "DELETE FROM hub_audit_head"):
        with pytest.raises(Exception, match="append-only"):
            database.execute_sql(statement)


def test_acknowledged_conflict_starts_a_new_line(hub_db):
    from vanban.clock import VN
    from vanban.errors import Invalid, NotFound
    from vanban.exchange import witness

    cfg, now = hub_db, dt.datetime(2026, 3, 11, 8, 0, tzinfo=VN)
    offer(cfg, "a", 20, H[20], 20)
    with pytest.raises(NotFound):
        witness.acknowledge(now, "a", note="khôi phục", by="it")
    refusal(cfg, "a", 12, H[12], 12)
    with pytest.raises(Invalid):
        witness.acknowledge(now, "a", note="", by="it")
    out = witness.acknowledge(now, "a", note="khôi phục từ bản sao lưu 01:00", by="it")
    assert out["new_line"] == 1 and out["kind"] == "rollback"
    assert offer(cfg, "a", 13, H[13], 13)["receipt"]["line"] == 1  # the restored log is the new line
    latest = witness.latest_for("a")
    assert latest["line"] == 1 and latest["head"]["receipt"]["entry_id"] == 13
    assert latest["acknowledged"][0]["note"] == "khôi phục từ bản sao lưu 01:00"


def test_receipt_signature_checks(hub_db, keys):
    from cryptography import x509

    from exchange_lab import dsig_signer
    from vanban.exchange import receipt

    trusted = x509.load_pem_x509_certificates((keys / "hub" / "ca.crt").read_bytes())
    answer = offer(hub_db, "node1", 5, H[5], 5)
    fields, signature, cert = answer["receipt"], answer["signature"], answer["certificate"]
    receipt.check(fields, signature, cert, trusted, node="node1")

    def reason(f=fields, sig=signature, pem=cert, node="node1"):
        with pytest.raises(receipt.ReceiptInvalid) as exc:
            receipt.check(f, sig, pem, trusted, node=node)
        return exc.value.reason

    assert reason(f={**fields, "count": 4}) == "signature not valid"
    assert reason(sig=signature[:-8] + "AAAAAAA=") == "signature not valid"
    assert reason(node="node2").startswith("made for another server")
    assert reason(f={**fields, "v": "other/1"}) == "not a receipt of this format"
    rogue_key, (rogue_cert, *_) = dsig_signer(keys, "rogue")
    assert reason(sig=receipt.sign(fields, rogue_key), pem=receipt.pem(rogue_cert)) == \
        "its certificate was not issued by the provincial CA"
    node_key, (node_cert, *_) = dsig_signer(keys, "node1")
    assert reason(sig=receipt.sign(fields, node_key), pem=receipt.pem(node_cert)) == \
        "signed by this server itself, not by the hub"
    tls_cert = (keys / "hub" / "tls.crt").read_text()  # the hub's TLS key: not a signing certificate
    assert reason(pem=tls_cert) == "its certificate is not a signing certificate of the exchange"
    late = {**fields, "witnessed_at": "2099-01-01T00:00:00+07:00"}
    assert reason(f=late, sig=receipt.sign(late, dsig_signer(keys, "hub")[0])) == \
        "its certificate was not valid at the time it names"


# ---------------------------------------------------------------------------------------------- the job
def test_hub_unreachable_the_job_reports_and_the_node_works_on(app, client, data_dir, keys, world, capsys):
    from conftest import incoming_fields, multipart
    from vanban.cli import main
    from vanban.exchange.config import write_config
    from vanban.exchange.jobs import _run
    from vanban.models.witness import AuditReceipt

    shutil.copytree(keys / "node1", data_dir / "pki" / "exchange")
    write_config(data_dir, node_name="node1", hub_url=f"https://127.0.0.1:{free_port()}", timeout_seconds=3)
    jobs = app.ctx.jobs
    assert "exchange_audit_witness" in {t.__name__ for t in jobs.huey._registry._periodic_tasks}
    assert jobs.run_in_db(_run, jobs, "witness") == {"error": "unreachable"}
    assert AuditReceipt.select().count() == 0
    # Users are not held up: a clerk registers a document while the uplink is down.
    h = client.api_login("clerk")
    body, ctype = multipart(incoming_fields(world), [("files", "a.pdf", make_pdf("Quyết định"), "application/pdf")])
    assert client.simulate_post("/api/v1/documents", body=body,
                                headers={**h, "Content-Type": ctype}).status_code == 201
    capsys.readouterr()
    assert main(["--data", str(data_dir), "audit", "witness"]) == 3
    assert "[unreachable]" in capsys.readouterr().err
    assert main(["--data", str(data_dir), "audit", "verify", "--hub"]) == 3
    out = capsys.readouterr()
    assert "không hỏi được hub" in out.err and "[unreachable]" in out.err and "intact" not in out.out
    assert main(["--data", str(data_dir), "audit", "verify"]) == 0


def test_hub_role_has_no_witness_job_and_a_node_with_no_hub_imports_nothing(data_dir, tmp_path):
    """A node not enrolled (no hub_url) stops before the exchange libraries (lxml, signxml, cryptography,
    requests: 23 MB) reach the job worker. Run in a fresh interpreter, so nothing imported by other tests counts."""
    script = """
import json, sys
from vanban.runtime import build_context
from vanban.settings import load_settings

ctx = build_context(load_settings(environ={}, data_dir=sys.argv[1], jobs_immediate=True, clamd_socket=""))
heavy = ("lxml", "signxml", "cryptography", "requests")
before = sorted(m for m in heavy if m in sys.modules)
tasks = {t.__name__ for t in ctx.jobs.huey._registry._periodic_tasks}
from vanban.exchange.jobs import _run
out = ctx.jobs.run_in_db(_run, ctx.jobs, "witness")
print(json.dumps({"out": out, "before": before, "after": sorted(m for m in heavy if m in sys.modules),
                  "registered": "exchange_audit_witness" in tasks}))
"""
    r = subprocess.run([sys.executable, "-c", script, str(data_dir)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1]) == {"out": {}, "before": [], "after": [], "registered": True}
    assert query(SimpleNamespace(data_dir=data_dir), "SELECT count(*) FROM audit_receipt")[0][0] == 0

    from vanban.jobs import make_jobs

    (tmp_path / "hubdata").mkdir()
    hub_jobs = make_jobs(make_settings(tmp_path / "hubdata", role="hub"), None)
    assert "exchange_audit_witness" not in {t.__name__ for t in hub_jobs.huey._registry._periodic_tasks}
