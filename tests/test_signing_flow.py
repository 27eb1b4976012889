"""Sign, issue, deliver, verify and recall outgoing documents through the app, and every refusal the issue lists.

Real parts: the app on a fresh SQLite file, a PKI on disk (cryptography), pyHanko signatures, poppler's pdfsig with
an NSS database made by certutil as the independent verifier, threads racing on the same SQLite file, LibreOffice
for the DOCX test (slow)."""
from __future__ import annotations

import io
import shutil
import subprocess
import threading
import zipfile
from datetime import timedelta

import pytest
from pypdf import PdfReader

from conftest import PASSWORD, T0, make_pdf
from test_outgoing import (
    LEADER_NAME,
    PW_CA,
    PW_LEADER,
    PW_SEAL,
    act,
    approve_and_submit,
    check_openapi,
    create_draft,
    db_rows,
    issued_draft,
    login,
    main_file,
    set_images,
    signed_draft,
    upload,
)
from vanban.signing import pdf as vpdf

needs_pdfsig = pytest.mark.skipif(not (shutil.which("pdfsig") and shutil.which("certutil")),
                                  reason="needs poppler-utils (pdfsig) and libnss3-tools (certutil)")


@pytest.fixture(scope="session")
def pki_template(tmp_path_factory):
    """Provincial root, a CA for H19.42 with the leader's and the seal certificates; keys made once per run."""
    from vanban.signing.pki import Pki

    root = tmp_path_factory.mktemp("pki") / "pki"
    start = (T0 - timedelta(days=30)).astimezone()
    pki = Pki(root, clock=lambda: start, ca_key_bits=2048)
    pki.init_root("CA gốc tỉnh Đồng Nai", PW_CA)
    pki.issue_agency_ca("H19.42", "UBND huyện Nhơn Trạch", root_passphrase=PW_CA, passphrase=PW_CA)
    pki.issue_person("H19.42", "leader", LEADER_NAME, "Phó Chủ tịch", ca_passphrase=PW_CA, passphrase=PW_LEADER)
    pki.issue_seal("H19.42", ca_passphrase=PW_CA, passphrase=PW_SEAL)
    return root


@pytest.fixture
def pki(data_dir, pki_template):
    from vanban.signing.pki import Pki

    shutil.copytree(pki_template, data_dir / "pki")
    return Pki(data_dir / "pki", clock=lambda: (T0 - timedelta(days=1)).astimezone())


@pytest.fixture
def ready(client, world, pki):
    """PKI on disk, signature and seal images uploaded."""
    set_images(client)
    return pki


def pdf_of(client, draft_id, user="clerk") -> bytes:
    r = client.simulate_get(f"/api/v1/outgoing/{draft_id}/pdf", headers=login(client, user))
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    return r.content


def verify(client, data: bytes, name="van-ban.pdf"):
    return upload(client, login(client, "spec2"), "/api/v1/signatures/verify", {},
                  [("files", name, data, "application/pdf")])


def counter(data_dir):
    return db_rows(data_dir, "SELECT register_id, year, sequence, last FROM counter WHERE register_id IN "
                             "(SELECT id FROM register WHERE kind = 'outgoing') ORDER BY id")


def snapshot(data_dir):
    tables = ("document", "outbox", "outgoing_delivery", "assignment", "attachment")
    return ({t: db_rows(data_dir, f"SELECT count(*) FROM {t}")[0][0] for t in tables}, counter(data_dir),
            db_rows(data_dir, "SELECT id, status, signed_blob, document_id FROM outgoing_draft ORDER BY id"))


# ---- the whole path --------------------------------------------------------------------------------------------

def test_sign_issue_deliver_and_verify(client, world, data_dir, ready):
    draft = create_draft(client, world, recipient=[f"dept:{world.dept_vp}", "agency:H19.43", "agency:H19.01"],
                         recipient_info=[f"user:{world.users['vpspec']}"],
                         files=[main_file(), ("files", "phu-luc.pdf", make_pdf("Phụ lục I"), "application/pdf")])
    approve_and_submit(client, draft["id"])
    signed = act(client, login(client, "leader"), draft["id"], "sign", passphrase=PW_LEADER)
    assert signed.status_code == 200 and signed.json["status"] == "signed", signed.text
    report = verify(client, pdf_of(client, draft["id"])).json
    assert report["verdict"] == "valid" and [s["signer"] for s in report["signatures"]] == [LEADER_NAME]

    r = act(client, login(client, "clerk"), draft["id"], "issue", passphrase=PW_SEAL, place="Nhơn Trạch")
    assert r.status_code == 200, r.text
    issued = r.json
    # NĐ 30 Điều 15: a Công văn's notation is the agency plus the drafting unit (TNMT here)
    assert issued["status"] == "issued" and issued["number_notation"] == "01/UBND-TNMT"
    doc = client.simulate_get(f"/api/v1/documents/{issued['document_id']}", headers=login(client, "clerk")).json
    assert (doc["direction"], doc["status"], doc["doc_date"]) == ("out", "issued", "2026-03-10")
    assert [a["filename"] for a in doc["attachments"]] == ["01-UBND-TNMT.pdf", "phu-luc.pdf"]

    sealed = pdf_of(client, draft["id"])
    r = verify(client, sealed)
    check_openapi(client, "/api/v1/signatures/verify", "post", r)
    person, seal = r.json["signatures"]
    assert r.json["verdict"] == "valid"
    assert person["chain"] == [LEADER_NAME, "UBND huyện Nhơn Trạch CA", "CA gốc tỉnh Đồng Nai"]
    assert person["signing_time"] == "2026-03-10T09:00:00+07:00" and not person["modified_after_signing"]
    assert seal["signer"] == "UBND huyện Nhơn Trạch" and seal["agency_code"] == "H19.42"
    fields = PdfReader(io.BytesIO(sealed)).get_fields()
    assert fields[vpdf.NUMBER_FIELD]["/V"] == "Số: 01/UBND-TNMT"
    assert fields[vpdf.DATE_FIELD]["/V"] == "Nhơn Trạch, ngày 10 tháng 3 năm 2026"
    # the separate attachment carries the agency signature too (Phụ lục I)
    att = client.simulate_get(f"/attachments/{doc['attachments'][1]['id']}",
                              headers=client.web_login("clerk").headers).content
    att_report = verify(client, att).json
    assert att_report["verdict"] == "valid" and att_report["signatures"][0]["signer"] == "UBND huyện Nhơn Trạch"

    # internal recipients have it at once; the agency hosted here registered it; the other one is queued
    vp_unit = db_rows(data_dir, "SELECT role, status FROM assignment WHERE document_id = ? AND department_id = ?",
                      issued["document_id"], world.dept_vp)
    assert vp_unit == [("co", "waiting")]
    info = client.simulate_get("/api/v1/inbox?tab=info", headers=login(client, "vpspec")).json["items"]
    assert [i["document_id"] for i in info] == [issued["document_id"]]
    other = db_rows(data_dir, "SELECT id, arrival_number, status, issuer_code, number, notation FROM document "
                              "WHERE agency_id = ? AND direction = 'in'", world.other_agency_id)
    assert [row[1:] for row in other] == [(1, "registered", "H19.42", "01", "UBND-TNMT")]
    assert db_rows(data_dir, "SELECT organ_id, kind, status, attempts FROM outbox") == [("H19.01", "issue",
                                                                                       "pending", 0)]
    assert [o["organ_id"] for o in issued["outbox"]] == ["H19.01"]

    found = client.simulate_get("/api/v1/search?q=bao cao tinh hinh quan ly dat dai&direction=out",
                                headers=login(client, "spec2")).json
    assert [d["id"] for d in found["documents"]] == [issued["document_id"]]

    # a second issue of a numbered document is refused and changes nothing
    before = snapshot(data_dir)
    again = act(client, login(client, "clerk"), draft["id"], "issue", passphrase=PW_SEAL)
    assert again.status_code == 409 and again.json["error"]["code"] == "already_issued"
    assert snapshot(data_dir) == before


@needs_pdfsig
def test_pdfsig_agrees_on_the_issued_document(client, world, data_dir, ready, tmp_path):
    issued = issued_draft(client, world, doc_type="QD", recipient=[f"dept:{world.dept_vp}"])
    assert issued["number_notation"] == "01/QĐ-UBND"
    path = tmp_path / "issued.pdf"
    path.write_bytes(pdf_of(client, issued["id"]))
    nss = tmp_path / "nss"
    nss.mkdir()
    subprocess.run(["certutil", "-N", "-d", f"sql:{nss}", "--empty-password"], check=True, capture_output=True)
    subprocess.run(["certutil", "-A", "-d", f"sql:{nss}", "-n", "root", "-t", "C,C,C", "-i",
                    str(data_dir / "pki" / "root" / "ca.crt")], check=True, capture_output=True)
    out = subprocess.run(["pdfsig", "-nssdir", f"sql:{nss}", str(path)], capture_output=True, text=True,
                         timeout=60).stdout
    assert out.count("Signature Validation: Signature is Valid.") == 2, out
    assert out.count("Certificate Validation: Certificate is Trusted.") == 2, out
    assert LEADER_NAME in out


# ---- numbering ----------------------------------------------------------------------------------------------

@pytest.mark.slow  # several full sign-and-issue rounds
def test_shared_sequence_and_confidential_register(client, world, data_dir, ready):
    a = issued_draft(client, world)
    b = issued_draft(client, world, doc_type="QD")
    secret = issued_draft(client, world, doc_type="TB", confidentiality="1")
    c = issued_draft(client, world, doc_type="TB")
    assert [d["number_notation"] for d in (a, b, secret, c)] == ["01/UBND-TNMT", "02/QĐ-UBND", "01/TB-UBND",
                                                               "03/TB-UBND"]
    registers = db_rows(data_dir, "SELECT d.register_id, r.confidential FROM document d JOIN register r "
                                  "ON r.id = d.register_id WHERE d.id = ?", secret["document_id"])
    assert registers[0][1] == 1


@pytest.mark.slow  # several full sign-and-issue rounds
def test_per_type_sequences(client, world, data_dir, ready):
    import sqlite3

    con = sqlite3.connect(data_dir / "vanban.db")
    con.execute("UPDATE agency SET numbering = 'per_type' WHERE id = ?", (world.agency_id,))
    con.commit()
    con.close()
    numbers = [issued_draft(client, world, doc_type=t)["number_notation"] for t in ("QD", "CV", "QD")]
    assert numbers == ["01/QĐ-UBND", "01/UBND-TNMT", "02/QĐ-UBND"]


def _issue_in_thread(app, clerk_id, draft_id, results, barrier):
    from vanban.core import issuing
    from vanban.errors import DomainError
    from vanban.models import database
    from vanban.models.schema import User

    database.connect(reuse_if_open=True)
    try:
        clerk = User.get_by_id(clerk_id)
        barrier.wait()
        doc = issuing.issue(app.ctx, clerk, draft_id, PW_SEAL)
        results.append(f"{doc.number}/{doc.notation}")
    except DomainError as exc:
        results.append(exc.code)
    finally:
        database.close()


def _race(app, world, draft_ids):
    results, barrier = [], threading.Barrier(len(draft_ids))
    threads = [threading.Thread(target=_issue_in_thread, args=(app, world.users["clerk"], d, results, barrier))
               for d in draft_ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return sorted(results)


@pytest.mark.slow  # several full sign-and-issue rounds
def test_two_clerks_issue_at_the_same_moment(client, app, world, data_dir, ready):
    first, second = signed_draft(client, world), signed_draft(client, world)
    assert _race(app, world, [first["id"], second["id"]]) == ["01/UBND-TNMT", "02/UBND-TNMT"]
    # the same document twice at once: one number, one refusal, the counter moved once
    third = signed_draft(client, world)
    assert _race(app, world, [third["id"], third["id"]]) == ["03/UBND-TNMT", "already_issued"]
    assert [row[3] for row in counter(data_dir)] == [3]


# ---- refusals that change nothing --------------------------------------------------------------------------

def test_signing_refusals(client, world, data_dir, ready, clock):
    draft = create_draft(client, world)
    approve_and_submit(client, draft["id"])
    leader, head = login(client, "leader"), login(client, "head")
    before = snapshot(data_dir)
    r = act(client, leader, draft["id"], "sign", passphrase="sai-mat-khau")
    assert r.status_code == 422 and r.json["error"] == {
        "code": "wrong_passphrase", "message": "Mật khẩu khóa ký không đúng hoặc tệp khóa bị hỏng.",
        "field": "passphrase"}
    assert act(client, head, draft["id"], "sign", passphrase=PW_LEADER).json["error"]["code"] == "not_assigned_signer"
    assert act(client, leader, draft["id"], "sign").json["error"]["code"] == "missing:passphrase"
    clock.set(T0 + timedelta(days=4 * 365))  # the person certificate runs three years
    late = client.api_login("leader")
    assert act(client, late, draft["id"], "sign", passphrase=PW_LEADER).json["error"]["code"] == "cert_expired"
    clock.set(T0)
    ready.revoke(ready.current("person", "H19.42", "leader")["serial"], ca_passphrase=PW_CA,
                 reason="key_compromise")
    assert act(client, leader, draft["id"], "sign", passphrase=PW_LEADER).json["error"]["code"] == "cert_revoked"
    assert snapshot(data_dir) == before
    # not a signer yet: issuing an unsigned draft is refused as well
    assert act(client, login(client, "clerk"), draft["id"], "issue",
               passphrase=PW_SEAL).json["error"]["code"] == "not_signed"


def test_issue_refusals_give_the_number_back(client, world, data_dir, pki):
    draft = signed_draft_without_seal_image(client, world)
    clerk = login(client, "clerk")
    before = snapshot(data_dir)
    assert act(client, clerk, draft["id"], "issue", passphrase=PW_SEAL).json["error"]["code"] == "seal_image_missing"
    set_seal_image(client)
    before = snapshot(data_dir)
    assert act(client, clerk, draft["id"], "issue", passphrase="sai").json["error"]["code"] == "wrong_passphrase"
    assert act(client, login(client, "spec"), draft["id"], "issue",
               passphrase=PW_SEAL).json["error"]["code"] == "role_required"
    assert snapshot(data_dir) == before
    r = act(client, clerk, draft["id"], "issue", passphrase=PW_SEAL)
    assert r.status_code == 200 and r.json["number_notation"] == "01/UBND-TNMT"  # nothing was skipped


def signed_draft_without_seal_image(client, world):
    from vanban.signing.images import signature_png

    upload(client, login(client, "leader"), "/api/v1/signing/images/signature", {},
           [("files", "ky.png", signature_png(LEADER_NAME), "image/png")])
    return signed_draft(client, world)


def set_seal_image(client):
    from vanban.signing.images import seal_png

    r = upload(client, login(client, "clerk"), "/api/v1/signing/images/seal", {},
               [("files", "dau.png", seal_png("UBND huyện Nhơn Trạch"), "image/png")])
    assert r.status_code == 201


def test_signature_images_must_be_transparent_png(client, world, data_dir):
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (60, 30), "white").save(out, format="PNG")
    r = upload(client, login(client, "leader"), "/api/v1/signing/images/signature", {},
               [("files", "ky.png", out.getvalue(), "image/png")])
    assert r.status_code == 422 and r.json["error"]["code"] == "image_not_transparent"
    r = upload(client, login(client, "spec"), "/api/v1/signing/images/seal", {},
               [("files", "dau.png", out.getvalue(), "image/png")])
    assert r.status_code == 403
    assert not [p for p in (data_dir / "blobs").rglob("*") if p.is_file()]


# ---- verification of any PDF -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def foreign_signed(tmp_path_factory):
    """A PDF signed under another province's root, which this server does not trust."""
    from vanban.signing.images import signature_png
    from vanban.signing.pki import Pki

    start = (T0 - timedelta(days=10)).astimezone()
    other = Pki(tmp_path_factory.mktemp("foreign") / "pki", clock=lambda: start, ca_key_bits=2048)
    other.init_root("CA gốc tỉnh khác", PW_CA)
    other.issue_agency_ca("H20.01", "UBND huyện Khác", root_passphrase=PW_CA, passphrase=PW_CA)
    rec = other.issue_person("H20.01", "ct", "Trần Văn Lạ", "Chủ tịch", ca_passphrase=PW_CA, passphrase=PW_CA)
    signer = other.load_signer(rec["serial"], PW_CA)
    return vpdf.sign_as_person(make_pdf("Văn bản của tỉnh khác"), signer, title="Chủ tịch", full_name="Trần Văn Lạ",
                               signature_png=signature_png("Trần Văn Lạ"), at=T0 - timedelta(days=1))


def _add_content_after_signing(data: bytes) -> bytes:
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    writer = IncrementalPdfFileWriter(io.BytesIO(data))
    extra = writer.add_object(generic.StreamObject(stream_data=b"BT /F1 24 Tf 100 100 Td (Sua so lieu) Tj ET"))
    writer.add_stream_to_page(0, extra)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_verify_refusals_and_findings(client, world, ready, foreign_signed):
    from fpdf import FPDF

    issued = issued_draft(client, world)
    sealed = pdf_of(client, issued["id"])
    changed = verify(client, _add_content_after_signing(sealed)).json
    assert changed["verdict"] == "invalid"
    assert all(s["modified_after_signing"] for s in changed["signatures"])
    flipped = sealed.replace(b"/Producer", b"/Producer", 1)
    pos = flipped.index(b"/Producer") + 12
    flipped = flipped[:pos] + bytes([flipped[pos] ^ 1]) + flipped[pos + 1:]
    assert {s["intact"] for s in verify(client, flipped).json["signatures"]} == {False}
    foreign = verify(client, foreign_signed).json
    assert foreign["verdict"] == "untrusted" and not foreign["signatures"][0]["chain_trusted"]
    assert verify(client, make_pdf("Không ký")).json == {"filename": "van-ban.pdf", "verdict": "unsigned",
                                                        "signatures": []}
    doc = FPDF()
    doc.add_page()
    doc.set_font("helvetica", size=12)
    doc.cell(0, 10, "x")
    doc.set_encryption(owner_password="a", user_password="b")
    r = verify(client, bytes(doc.output()))
    assert r.status_code == 422 and r.json["error"]["code"] == "pdf_encrypted"
    r = verify(client, b"%PDF-1.7\n1 0 obj << /ByteRange [0 1 2 3] >>\n%%EOF")
    assert r.status_code == 422 and r.json["error"]["code"] == "pdf_corrupt"


def test_incoming_policy_refuses_invalid_signatures(client, world, data_dir, ready, foreign_signed):
    from test_incoming import register

    clerk = login(client, "clerk")
    before = db_rows(data_dir, "SELECT count(*) FROM document WHERE direction = 'in'")
    files = [("files", "qd.pdf", foreign_signed, "application/pdf")]
    r = register(client, clerk, world, files=files)
    assert r.status_code == 422 and r.json["error"]["code"] == "signature_invalid"
    assert "không chuỗi được" in r.json["error"]["message"]
    assert db_rows(data_dir, "SELECT count(*) FROM document WHERE direction = 'in'") == before
    # a document this server issued verifies and is accepted
    issued = issued_draft(client, world)
    r = register(client, clerk, world, files=[("files", "01.pdf", pdf_of(client, issued["id"]), "application/pdf")])
    assert r.status_code == 201, r.text
    # an agency that does not require valid signatures accepts the untrusted one
    import sqlite3

    con = sqlite3.connect(data_dir / "vanban.db")
    con.execute("UPDATE agency SET require_valid_signature = 0 WHERE id = ?", (world.agency_id,))
    con.commit()
    con.close()
    assert register(client, clerk, world, files=files, number_notation="7/UBND-X").status_code == 201


# ---- recall ----------------------------------------------------------------------------------------------------

def test_recall_freezes_withdraws_and_queues(client, world, data_dir, ready):
    issued = issued_draft(client, world, recipient=[f"dept:{world.dept_vp}", "agency:H19.43", "agency:H19.01"])
    local_copy = db_rows(data_dir, "SELECT id FROM document WHERE agency_id = ?", world.other_agency_id)[0][0]
    spec = login(client, "spec")
    assert act(client, spec, issued["id"], "recall", reason="x").json["error"]["code"] == "role_required"
    clerk = login(client, "clerk")
    assert act(client, clerk, issued["id"], "recall", reason="").json["error"]["code"] == "missing:r"
    r = act(client, clerk, issued["id"], "recall", reason="Sai số liệu tại Điều 2")
    assert r.status_code == 200 and r.json["status"] == "recalled" and r.json["recall_reason"]
    assert db_rows(data_dir, "SELECT status FROM document WHERE id = ?", issued["document_id"]) == [("recalled",)]
    assert db_rows(data_dir, "SELECT status FROM document WHERE id = ?", local_copy) == [("withdrawn",)]
    # the receiving clerk can no longer act on it, but its record stays
    other = login(client, "otherclerk")
    r = client.simulate_post(f"/api/v1/documents/{local_copy}/actions/present",
                             json={"leader_id": world.users["otherclerk"]}, headers=other)
    assert r.status_code == 409 and r.json["error"]["code"] == "withdrawn"
    assert db_rows(data_dir, "SELECT status FROM assignment WHERE document_id = ?", issued["document_id"]) == [
        ("done",)]
    assert db_rows(data_dir, "SELECT organ_id, kind FROM outbox ORDER BY id") == [("H19.01", "issue"),
                                                                                  ("H19.01", "recall")]
    again = act(client, clerk, issued["id"], "recall", reason="lần hai")
    assert again.status_code == 409 and again.json["error"]["code"] == "already_recalled"
    rows = client.simulate_get("/api/v1/outgoing/register?from=2026-03-01&to=2026-03-31", headers=clerk).json["rows"]
    assert rows[0]["number_notation"] == "01/UBND-TNMT" and rows[0]["notes"].startswith("Đã thu hồi")


# ---- register --------------------------------------------------------------------------------------------------

def test_outgoing_register_json_pdf_xlsx(client, world, ready):
    issued_draft(client, world, recipient=[f"dept:{world.dept_vp}", "agency:H19.01"])
    issued_draft(client, world, doc_type="QD", confidentiality="2")  # confidential: its own book, not this one
    clerk = login(client, "clerk")
    r = client.simulate_get("/api/v1/outgoing/register?from=2026-03-01&to=2026-03-31", headers=clerk)
    check_openapi(client, "/api/v1/outgoing/register", "get", r)
    (row,) = r.json["rows"]
    assert row == {"number_notation": "01/UBND-TNMT", "doc_date": "2026-03-10", "type_name": "Công văn",
                   "subject": row["subject"], "signer": "KT. Lê Văn Hùng",
                   "recipients": ["Văn phòng HĐND và UBND", "H19.01"],
                   "file_copy_holder": "Phòng Tài nguyên và Môi trường", "copies": 2, "transfer_date": "2026-03-10",
                   "receipt_signature": "", "notes": ""}
    pdf = client.simulate_get("/api/v1/outgoing/register?format=pdf", headers=clerk)
    assert pdf.content.startswith(b"%PDF-")
    xlsx = client.simulate_get("/api/v1/outgoing/register?format=xlsx", headers=clerk)
    assert zipfile.ZipFile(io.BytesIO(xlsx.content)).testzip() is None
    assert client.simulate_get("/api/v1/outgoing/register", headers=login(client, "spec")).status_code == 403
    page = client.web_login("clerk").get("/outgoing/register")
    assert page.status_code == 200 and "01/UBND-TNMT" in page.text and "Sổ đăng ký văn bản đi" in page.text


# ---- web UI ----------------------------------------------------------------------------------------------------

def test_sign_issue_verify_through_the_web(client, world, data_dir, ready):
    draft = create_draft(client, world)
    approve_and_submit(client, draft["id"])
    leader = client.web_login("leader")
    clerk = client.web_login("clerk")
    # the nav counts what waits for each person: the leader's signature, then the clerk's issue
    page = leader.get("/inbox").text
    assert 'href="/outgoing?box=sign" id="nav-outgoing"' in page and 'id="outgoing-waiting"' in page
    assert 'title="Chờ tôi ký: 1 · Chờ phát hành: 0">1<' in page
    assert 'id="outgoing-waiting"' not in clerk.get("/inbox").text
    assert leader.post_form(f"/outgoing/{draft['id']}/sign", {"passphrase": "sai-mat-khau"}).status_code == 422
    assert leader.post_form(f"/outgoing/{draft['id']}/sign", {"passphrase": PW_LEADER}).status_code == 303
    assert 'id="outgoing-waiting"' not in leader.get("/inbox").text
    assert 'title="Chờ tôi ký: 0 · Chờ phát hành: 1">1<' in clerk.get("/search").text
    page = clerk.get(f"/outgoing/{draft['id']}")
    assert 'id="form-issue"' in page.text
    assert clerk.post_form(f"/outgoing/{draft['id']}/issue", {"passphrase": PW_SEAL, "place": ""}).status_code == 303
    assert 'id="outgoing-waiting"' not in clerk.get("/inbox").text
    page = clerk.get(f"/outgoing/{draft['id']}")
    assert "01/UBND-TNMT" in page.text and 'id="form-recall"' in page.text
    pdf = clerk.get(f"/outgoing/{draft['id']}/pdf")
    from conftest import multipart

    body, ctype = multipart({"csrf_token": clerk.csrf}, [("files", "01.pdf", pdf.content, "application/pdf")])
    r = client.simulate_post("/outgoing/verify", body=body, headers={**clerk.headers, "Content-Type": ctype})
    assert r.status_code == 200 and 'data-verdict="valid"' in r.text and LEADER_NAME in r.text
    settings = clerk.get("/outgoing/settings")
    assert 'id="form-seal"' in settings.text and "đã có" in settings.text


def test_passphrases_never_reach_the_database_or_the_log(client, world, data_dir, ready, caplog):
    issued_draft(client, world)
    act(client, login(client, "leader"), create_draft(client, world)["id"], "sign", passphrase=PW_LEADER + "x")
    from vanban.models import database

    database.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    stored = b"".join(p.read_bytes() for p in data_dir.glob("vanban.db*"))
    for secret in (PW_LEADER, PW_SEAL, PASSWORD):
        assert secret.encode() not in stored
        assert secret not in caplog.text


# ---- DOCX main file (LibreOffice) ------------------------------------------------------------------------------

def _docx(text: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("[Content_Types].xml", '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.'
                   'openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/'
                   'vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/'
                   'xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-'
                   'officedocument.wordprocessingml.document.main+xml"/></Types>')
        z.writestr("_rels/.rels", '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
                   'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.'
                   'openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/>'
                   '</Relationships>')
        z.writestr("word/document.xml", '<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.'
                   'openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>' + text +
                   '</w:t></w:r></w:p></w:body></w:document>')
    return out.getvalue()


@pytest.mark.slow
@pytest.mark.skipif(not (shutil.which("libreoffice") or shutil.which("soffice")), reason="needs LibreOffice")
def test_docx_main_file_is_converted_then_signed(client, world, ready):
    docx = ("files", "cong-van.docx", _docx("Kính gửi các phòng ban chuyên môn thuộc UBND huyện."),
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document")
    issued = issued_draft(client, world, files=[docx])
    data = pdf_of(client, issued["id"])
    assert data.startswith(b"%PDF-")
    assert "Kính gửi các phòng ban" in PdfReader(io.BytesIO(data)).pages[0].extract_text()
    assert verify(client, data).json["verdict"] == "valid"


def test_sender_sees_each_external_recipients_latest_status(client, world, data_dir, ready):
    """DOMAIN §10: statuses the exchange brought back (01 arrived … 03 registered) show on the draft page."""
    from vanban.exchange.node import _upsert_receipt
    from vanban.models import write_transaction

    issued = issued_draft(client, world, recipient=["agency:H19.01"])
    document_id = f"H19.42,2026/03/10,{issued['number_notation']}"
    with write_transaction():
        for code, hour in (("01", 10), ("03", 11), ("01", 9)):  # a late, older 01 must not win over 03
            _upsert_receipt(document_id=document_id, recipient="H19.01", agency_code="H19.42", local_document=None,
                            status_code=code, description="", status_at=T0.replace(tzinfo=None, hour=hour),
                            now=T0.replace(tzinfo=None))
    page = client.web_login("clerk").get(f"/outgoing/{issued['id']}")
    assert page.status_code == 200
    assert 'id="recipient-statuses"' in page.text and 'data-code="03"' in page.text and 'data-code="01"' not in page.text
