"""Exchange (liên thông) end to end and in pieces: a hub and two nodes as real gunicorn processes on loopback
with mutual TLS, real signed edXML packages, the clerk's web UI; plus the hub protocol, the node's receipt of
hostile packages, the workflow statuses and the provincial figures, in-process on real SQLite files."""
from __future__ import annotations

import pytest
import requests

from conftest import PASSWORD, make_pdf
from exchange_lab import Lab, WebUser, issue_outgoing, query


@pytest.fixture
def lab(tmp_path, template):
    lab = Lab(tmp_path / "lab", template[0])
    yield lab
    lab.close()


def province(lab, clamd=None):
    hub = lab.hub("hub", {"H19.42": ("UBND huyện Nhơn Trạch", "node1", "district"),
                          "H19.43": ("UBND huyện Long Thành", "node2", "district")})
    hub.start()
    node1 = lab.node("node1", hub.url)
    node2 = lab.node("node2", hub.url)
    return hub, node1, node2


def receipts(node):
    return {(r[0], r[1]): r[2] for r in query(node, "SELECT document_id, recipient, status_code FROM exchange_receipt")}


def test_two_nodes_exchange_signed_documents_through_the_hub(lab, clamd):
    hub, node1, node2 = province(lab)
    node2.start(clamd_socket=str(clamd.socket))
    doc_id = issue_outgoing(node1, to=["H19.43"], number="15", subject="Về việc phối hợp quản lý đất đai",
                            pdf=make_pdf("Công văn 15/UBND-VP"))
    assert node1.cli_json("exchange", "push") == {"sent": 1, "failed": 0, "retry": 0}
    assert node2.cli_json("exchange", "poll") == {"received": 1, "duplicate": 0, "refused": 0}
    # The package is acknowledged: the hub holds nothing more for node2.
    assert node2.cli_json("exchange", "poll")["received"] == 0
    # 01 (arrived) goes back automatically.
    assert node2.cli_json("exchange", "push")["sent"] == 1
    node1.cli_json("exchange", "poll")
    document_id = "H19.42,2026/03/10,15/UBND-VP"
    assert receipts(node1) == {(document_id, "H19.43"): "01"}

    # The clerk of the receiving agency checks the signatures and accepts it through the web UI.
    clerk = WebUser(node2, "otherclerk", PASSWORD)
    page = clerk.get("/exchange").text
    item = int(page.split('data-item="')[1].split('"')[0])
    detail = clerk.get(f"/exchange/inbox/{item}").text
    assert 'data-check="edxml"' in detail and "hợp lệ" in detail
    r = clerk.post(f"/exchange/inbox/{item}/accept", {})
    assert r.status_code == 303 and "/documents/" in r.headers["Location"], r.text[:500]
    registered = query(node2, "SELECT subject, number, notation, arrival_number, issuer_code FROM document "
                              "WHERE direction = 'in' AND agency_id = 2")
    assert registered == [("Về việc phối hợp quản lý đất đai", "15", "UBND-VP", 1, "H19.42")]
    assert query(node2, "SELECT count(*) FROM attachment a JOIN document d ON a.document_id = d.id "
                        "WHERE d.agency_id = 2")[0][0] == 1
    node2.cli_json("exchange", "push")
    node1.cli_json("exchange", "poll")
    assert receipts(node1) == {(document_id, "H19.43"): "03"}
    assert doc_id

    # The sender's exchange page shows the recipient's latest status.
    node1.start()
    sender = WebUser(node1, "clerk", PASSWORD)
    page = sender.get("/exchange").text
    assert 'data-recipient="H19.43" data-status="03"' in page


def test_hub_refuses_a_caller_without_a_certificate_of_the_province(lab):
    hub = lab.hub("hub", {"H19.42": ("UBND huyện Nhơn Trạch", "node1", "district")})
    hub.start()
    ca = str(hub.pki / "ca.crt")
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{hub.url}/exchange/v1/messages", verify=ca, timeout=10)
    node1 = lab.node("node1", hub.url)
    r = requests.get(f"{hub.url}/exchange/v1/messages", verify=ca, timeout=10,
                     cert=(str(node1.pki / "tls.crt"), str(node1.pki / "tls.key")))
    assert r.status_code == 200 and r.json() == {"messages": []}


# ---------------------------------------------------------------------------------------------- in-process
import base64  # noqa: E402
import datetime as dt  # noqa: E402
import io  # noqa: E402
import shutil  # noqa: E402

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402

from vanban.exchange import Attachment, Business, Organization, Package, build_package  # noqa: E402
from vanban.exchange.config import write_config  # noqa: E402


@pytest.fixture(scope="session")
def keys(tmp_path_factory):
    """node1 (the node under test) and node2 (a sender elsewhere) from one provincial root; a rogue system
    whose certificate comes from a root nobody trusts."""
    from exchange_lab import PASSPHRASE
    from vanban.exchange.tls import issue_identity
    from vanban.signing.pki import Pki

    root = tmp_path_factory.mktemp("keys")
    pki = Pki(root / "pki", ca_key_bits=2048)
    pki.init_root("Tỉnh thử nghiệm", PASSPHRASE)
    rogue = Pki(root / "rogue", ca_key_bits=2048)
    rogue.init_root("Kẻ giả mạo", PASSPHRASE)
    for name, p in (("node1", pki), ("node2", pki), ("rogue", rogue)):
        issue_identity(p, root / name, name=name, role="node", root_passphrase=PASSPHRASE)
    return root


def signer_of(keys, name):
    d = keys / name
    key = serialization.load_pem_private_key((d / "dsig.key").read_bytes(), None)
    return key, x509.load_pem_x509_certificates((d / "dsig.crt").read_bytes())


@pytest.fixture
def node_ctx(app, data_dir, keys):
    shutil.copytree(keys / "node1", data_dir / "pki" / "exchange")
    write_config(data_dir, node_name="node1", hub_url="https://127.0.0.1:9")
    return app.ctx


def package(number="07", to="H19.42", sender="H19.50", data=None, business=None, **over):
    pdf = data if data is not None else make_pdf(f"Công văn {number}")
    fields = dict(from_org=Organization(sender, "UBND huyện Trảng Bom"), to_orgs=(Organization(to),),
                  code_number=number, code_notation="UBND-VP", promulgation_date=dt.date(2026, 3, 9),
                  subject=f"Về việc kiểm tra số {number}", type_name="Công văn",
                  attachments=(Attachment("att1", f"cv-{number}.pdf", pdf),), business=business or Business())
    fields.update(over)
    return Package(**fields)


def signed(keys, pkg, who="node2") -> bytes:
    return build_package(pkg, *signer_of(keys, who))


def deliver(ctx, data, to="H19.42", hub_id="1", **item):
    from vanban.exchange import node

    return node.receive(ctx, {"id": hub_id, "to": to, "message_id": f"m{hub_id}xxxxxxx", **item}, io.BytesIO(data))


def inbox_rows():
    from vanban.models.exchange import ExchangeInbox

    return list(ExchangeInbox.select().order_by(ExchangeInbox.id))


def statuses_out():
    from vanban.models.exchange import ExchangeOutbox

    return [(r.recipient, r.document_id, r.status_code) for r in ExchangeOutbox.select().order_by(ExchangeOutbox.id)]


def test_same_package_three_times_is_stored_once_and_answered_once(node_ctx, keys):
    data = signed(keys, package())
    assert [deliver(node_ctx, data, hub_id=str(i)) for i in range(3)] == ["received", "duplicate", "duplicate"]
    # Re-signed bytes (a sender that rebuilt it) are still the same DocumentId for the same recipient.
    assert deliver(node_ctx, signed(keys, package()), hub_id="9") == "duplicate"
    assert [r.state for r in inbox_rows()] == ["pending"]
    assert statuses_out() == [("H19.50", "H19.50,2026/03/09,07/UBND-VP", "01")]


def hostile_cases(keys):
    good = signed(keys, package("08"))
    tampered_subject = good.replace("kiểm tra số 08".encode(), "kiểm tra số 99".encode())
    b64 = base64.b64encode(make_pdf("Công văn 08")).decode()
    swapped = good.replace(b64[:40].encode(), base64.b64encode(b"%PDF-1.7 forged by a man-in-the-m"[:30]))
    xxe = (b'<?xml version="1.0"?><!DOCTYPE edXML [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
           b'<edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016">&x;</edXML>')
    laughs = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">'
              b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;">]><edXML>&lol3;</edXML>')
    return {
        "bad_signature": (tampered_subject, "signature_invalid"),
        "untrusted_signer": (signed(keys, package("09"), who="rogue"), "signer_untrusted"),
        "tampered_attachment": (swapped, "attachment_tampered"),
        "xxe": (xxe, "xml_entities"),
        "billion_laughs": (laughs, "xml_entities"),
        "not_xml": (b"\x00\x01 not xml at all", "xml_"),
    }


@pytest.mark.parametrize("case", ["bad_signature", "untrusted_signer", "tampered_attachment", "xxe",
                                  "billion_laughs", "not_xml"])
def test_hostile_packages_are_refused_with_status_02(node_ctx, keys, case):
    data, code = hostile_cases(keys)[case]
    meta = {"from": "H19.50", "document_id": "H19.50,2026/03/09,08/UBND-VP", "kind": "package"}
    assert deliver(node_ctx, data, **meta) == "refused"
    (row,) = inbox_rows()
    assert row.state == "invalid" and row.reason.startswith(code), row.reason
    assert [s[2] for s in statuses_out()] == ["02"]
    # The node keeps working: the next good package is received.
    assert deliver(node_ctx, signed(keys, package("10")), hub_id="2") == "received"


def test_package_for_an_agency_not_hosted_here_is_refused_without_speaking_for_it(node_ctx, keys):
    assert deliver(node_ctx, signed(keys, package(to="H19.77")), to="H19.77") == "refused"
    assert inbox_rows()[0].reason.startswith("unknown_recipient") and statuses_out() == []


class _Endless(io.RawIOBase):
    """200 MB of base64 produced on the fly: the node must stop reading at its limit, not at the end."""

    def __init__(self, head: bytes, size: int):
        self.head, self.left = head, size

    def readable(self):
        return True

    def readinto(self, buf):
        if self.head:
            n = min(len(buf), len(self.head))
            buf[:n], self.head = self.head[:n], self.head[n:]
            return n
        n = min(len(buf), self.left)
        buf[:n] = b"A" * n
        self.left -= n
        return n


def test_a_200_mb_attachment_is_refused_at_the_limit(node_ctx, keys):
    from vanban.exchange import node

    head = signed(keys, package("11")).split(b"<edXML:ContentTransferEncoded>")[0] + b"<edXML:ContentTransferEncoded>"
    meta = {"id": "5", "to": "H19.42", "from": "H19.50", "document_id": "H19.50,2026/03/09,11/UBND-VP",
            "kind": "package", "message_id": "big-message-1"}
    stream = io.BufferedReader(_Endless(head, 200 * 1024 * 1024 * 4 // 3))
    assert node.receive(node_ctx, meta, stream) == "refused"
    assert inbox_rows()[0].reason.startswith("too_large") and [s[2] for s in statuses_out()] == ["02"]
    assert stream.raw.left > 100 * 1024 * 1024  # most of it was never read
    assert not any((node_ctx.blobs.tmp).iterdir())  # nothing left behind


def test_clerk_accepts_and_workflow_sends_04_05_06_once_each(node_ctx, keys, client, world):
    deliver(node_ctx, signed(keys, package("12")))
    clerk = client.web_login("clerk")
    item = inbox_rows()[0].id
    page = clerk.get(f"/exchange/inbox/{item}")
    assert page.status_code == 200 and 'data-check="edxml"' in page.text
    r = clerk.post_form(f"/exchange/inbox/{item}/accept", {})
    assert r.status_code == 303, r.text
    doc_id = int(r.headers["location"].split("/documents/")[1].split("?")[0])
    from vanban.core import routing
    from vanban.models.schema import User

    leader = User.get(User.username == "leader")
    routing.assign(node_ctx, leader, doc_id, instruction="Giao phòng TNMT xử lý",
                   lead={"to": f"user:{world.users['spec']}", "deadline": "2026-03-20"})
    spec = User.get(User.username == "spec")
    routing.comment(node_ctx, spec, doc_id, "Đang kiểm tra hiện trường")
    routing.comment(node_ctx, spec, doc_id, "Đã kiểm tra xong")
    routing.complete(node_ctx, spec, doc_id, "Đã trả lời")
    assert [s[2] for s in statuses_out()] == ["01", "03", "04", "05", "06"]


def test_clerk_refuses_with_a_reason(node_ctx, keys, client):
    deliver(node_ctx, signed(keys, package("13")))
    clerk = client.web_login("clerk")
    item = inbox_rows()[0].id
    assert clerk.post_form(f"/exchange/inbox/{item}/refuse", {"reason": ""}).status_code == 422
    assert clerk.post_form(f"/exchange/inbox/{item}/refuse", {"reason": "Gửi nhầm cơ quan"}).status_code == 303
    assert [s[2] for s in statuses_out()] == ["01", "02"] and inbox_rows()[0].state == "refused"
    assert clerk.post_form(f"/exchange/inbox/{item}/accept", {}).status_code == 409


def test_update_replace_and_recall(node_ctx, keys, client):
    from vanban.exchange import clerk as clerk_mod
    from vanban.exchange import edxml, node
    from vanban.models.schema import Document, User

    clerk_user = User.get(User.username == "clerk")
    deliver(node_ctx, signed(keys, package("14")))
    doc = clerk_mod.accept(node_ctx, clerk_user, inbox_rows()[0].id)
    # Update (2): same DocumentId, new file, attached to the registered copy; answered 15.
    upd = package("14", data=make_pdf("Công văn 14 (sửa)"), subject="Về việc kiểm tra số 14 (đã sửa)",
                  business=Business(doc_type=2, reason="Sửa trích yếu"))
    assert deliver(node_ctx, signed(keys, upd), hub_id="2") == "received"
    assert deliver(node_ctx, signed(keys, upd), hub_id="3") == "duplicate"
    clerk_mod.accept(node_ctx, clerk_user, inbox_rows()[1].id)
    doc = Document.get_by_id(doc.id)
    assert doc.subject.endswith("(đã sửa)") and len(list(doc.attachments)) == 2
    # Replace (3): a new document replacing 14; 14 is withdrawn.
    rep = package("15", business=Business(doc_type=3, reason="Thay thế", replaces=("H19.50,2026/03/09,14/UBND-VP",)))
    deliver(node_ctx, signed(keys, rep), hub_id="4")
    new_doc = clerk_mod.accept(node_ctx, clerk_user, inbox_rows()[2].id)
    assert Document.get_by_id(doc.id).status == "withdrawn" and new_doc.status == "registered"
    # Recall (13) of 15: the clerk agrees, the copy is withdrawn, 15 goes back.
    recall = edxml.StatusMessage(response_for=edxml.ResponseFor("H19.42", document_id="H19.50,2026/03/09,15/UBND-VP"),
                                 from_org=Organization("H19.50"), status_code="13",
                                 timestamp=dt.datetime(2026, 3, 11, 8, 0), description="Ban hành nhầm")
    assert deliver(node_ctx, edxml.build_status(recall, *signer_of(keys, "node2")), hub_id="5") == "received"
    row = inbox_rows()[-1]
    assert row.state == "recall" and row.local_document == new_doc.id
    clerk_mod.answer_recall(node_ctx, clerk_user, row.id, True, "Đồng ý")
    assert Document.get_by_id(new_doc.id).status == "withdrawn"
    assert [s[2] for s in statuses_out()] == ["01", "03", "01", "15", "01", "03", "15"]
    assert node.receipts() == []  # statuses about documents we sent: none here


def test_statuses_update_the_senders_receipts_latest_wins(node_ctx, keys):
    from vanban.exchange import edxml, node

    def status(code, hour):
        msg = edxml.StatusMessage(response_for=edxml.ResponseFor("H19.42", document_id="H19.42,2026/03/10,15/UBND-VP"),
                                  from_org=Organization("H19.50"), status_code=code,
                                  timestamp=dt.datetime(2026, 3, 10, hour, 0))
        return edxml.build_status(msg, *signer_of(keys, "node2"))

    for i, (code, hour) in enumerate([("03", 10), ("01", 9), ("99", 11), ("03", 10)]):
        deliver(node_ctx, status(code, hour), hub_id=str(i))
    (r,) = node.receipts()
    assert (r.recipient, r.status_code) == ("H19.50", "99")  # unknown codes are kept, never fatal


def test_outbox_metrics(node_ctx, keys, clock):
    from prometheus_client import CollectorRegistry, generate_latest

    from vanban.exchange.stats import OutboxCollector

    deliver(node_ctx, signed(keys, package("16")))
    clock.advance(minutes=10)
    registry = CollectorRegistry()
    registry.register(OutboxCollector(clock))
    text = generate_latest(registry).decode()
    assert 'vanban_outbox_depth{agency="H19.42"} 1.0' in text
    assert 'vanban_outbox_oldest_age_seconds{agency="H19.42"} 600.0' in text
    assert 'vanban_outbox_depth{agency="H19.43"} 0.0' in text


def test_hub_figures_page_and_xlsx(data_dir, clock, template):
    """The hub's provincial figures (DOMAIN §12) from relayed traffic: per agency and per level."""
    from conftest import Client, make_settings
    from vanban.exchange import hub
    from vanban.models.exchange import HubMessage
    from vanban.web.app import create_app

    app = create_app(make_settings(data_dir, role="hub"), clock=clock)
    hub.add_agency("H19", "UBND tỉnh Đồng Nai", "hub", level="province")
    hub.add_agency("H19.42", "UBND huyện Nhơn Trạch", "node1", level="district", parent_code="H19")
    hub.add_agency("H19.42.01", "UBND xã Phú Hữu", "node1", level="commune", parent_code="H19.42")
    t = dt.datetime(2026, 3, 2, 8, 0)

    def msg(i, kind, frm, to, code="", paper=0, signed=True, days=0):
        HubMessage.create(message_id=f"m{i:08d}", recipient=to, sender_node="node1", from_organ=frm, kind=kind,
                          document_id=f"{frm if kind == 'package' else to},2026/03/02,{i}/UBND", status_code=code,
                          paper=paper, signed=signed, blob_sha="0" * 64, size=1, state="acked",
                          received_at=t + dt.timedelta(days=days))

    msg(1, "package", "H19", "H19.42", paper=1)
    msg(2, "package", "H19", "H19.42.01")
    msg(3, "package", "H19.42", "H19", signed=False)
    HubMessage.create(message_id="s1", recipient="H19", sender_node="node1", from_organ="H19.42", kind="status",
                      document_id="H19,2026/03/02,1/UBND", status_code="03", blob_sha="0" * 64, size=1,
                      state="acked", received_at=t)
    HubMessage.create(message_id="s2", recipient="H19", sender_node="node1", from_organ="H19.42", kind="status",
                      document_id="H19,2026/03/02,1/UBND", status_code="06", blob_sha="0" * 64, size=1,
                      state="acked", received_at=t + dt.timedelta(days=3))
    browser = Client(app).web_login("admin")
    page = browser.get("/exchange?from=2026-03-01&to=2026-03-10")
    assert page.status_code == 200 and "<svg" in page.text
    row = page.text.split('data-code="H19"')[1].split("</tr>")[0]
    assert 'data-key="sent">2<' in row and 'data-key="with_paper_pct">50.0<' in row
    district = page.text.split('data-code="H19.42"')[1].split("</tr>")[0]
    assert 'data-key="registered_pct">100.0<' in district and 'data-key="avg_days">3.0<' in district
    xlsx = browser.get("/exchange?from=2026-03-01&to=2026-03-10&format=xlsx")
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    import openpyxl

    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    values = [c for r in sheet.iter_rows(values_only=True) for c in r if c is not None]
    assert "UBND xã Phú Hữu" in values and "Cấp xã" in values


def test_hub_queue_metrics(data_dir, clock, template):
    """The hub's /metrics shows per server how many messages wait for it and how old the oldest is; a server
    with nothing waiting shows 0, and what waits for the upstream hub has its own series."""
    from falcon import testing

    from conftest import make_settings
    from vanban.exchange import hub
    from vanban.models.exchange import HubMessage
    from vanban.web.app import create_app

    app = create_app(make_settings(data_dir, role="hub"), clock=clock)
    hub.add_agency("H19.42", "UBND huyện Nhơn Trạch", "node1")
    hub.add_agency("H19.43", "UBND huyện Long Thành", "node2")
    now = clock.now().replace(tzinfo=None)

    def msg(i, to, state, minutes_ago):
        HubMessage.create(message_id=f"q{i}", recipient=to, sender_node="node1", from_organ="H19.42",
                          kind="package", blob_sha="0" * 64, size=1, state=state,
                          received_at=now - dt.timedelta(minutes=minutes_ago))

    msg(1, "H19.43", "queued", 150)
    msg(2, "H19.43", "queued", 5)
    msg(3, "H19.42", "acked", 600)  # fetched and acknowledged: not waiting
    msg(4, "H01.01", "upstream", 30)
    text = testing.TestClient(app).simulate_get("/metrics").text
    assert 'vanban_hub_queue_depth{exchange_node="node2"} 2.0' in text
    assert 'vanban_hub_queue_oldest_age_seconds{exchange_node="node2"} 9000.0' in text
    assert 'vanban_hub_queue_depth{exchange_node="node1"} 0.0' in text
    assert 'vanban_hub_queue_depth{exchange_node="upstream"} 1.0' in text
    assert 'vanban_hub_queue_oldest_age_seconds{exchange_node="upstream"} 1800.0' in text
