"""Dossiers through the API: the yearly list, open → add documents (shared, never copied) → close → submit,
30-day warnings against the injected clock, confidential documents kept out of dossiers others can read, and
the exports: PDF and XML in chronological order and the TT 05/2025 archive package validated against the
official METS schema (plus its checksums)."""
from __future__ import annotations

import io
import zipfile

from lxml import etree
from pypdf import PdfReader

from test_tasks import Logins, register_doc


def new_dossier(client, headers, **body):
    body.setdefault("year", 2026)
    body.setdefault("title", "Hồ sơ giao đất cho hộ gia đình xã Phú Hữu")
    return client.simulate_post("/api/v1/dossiers", json=body, headers=headers)


def act(client, headers, dossier_id, action, **body):
    return client.simulate_post(f"/api/v1/dossiers/{dossier_id}/actions/{action}", json=body, headers=headers)


def counts(data_dir):
    import sqlite3

    con = sqlite3.connect(data_dir / "vanban.db")
    try:
        return {t: con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                for t in ("document", "attachment", "dossier_document")}
    finally:
        con.close()


def test_lifecycle_shared_documents_and_exports(client, world, clock, data_dir):
    from vanban.archive import validate_package

    h = Logins(client)
    late = register_doc(client, h["clerk"], world, "Văn bản thứ hai: báo cáo kết quả kiểm đếm",
                        number_notation="40/UBND-TNMT", doc_date="2026-03-08")
    early = register_doc(client, h["clerk"], world, "Văn bản thứ nhất: quyết định thu hồi đất",
                         number_notation="12/QĐ-UBND", doc_date="2026-02-02")
    d = new_dossier(client, h["clerk"], file_code="01.TNMT", heading="Đất đai", retention="10",
                    owner_id=world.users["clerk"]).json
    assert d["status"] == "planned" and d["retention"] == "10 năm"
    dup = new_dossier(client, h["clerk"], file_code="01.TNMT")
    assert dup.status_code == 409 and dup.json["error"]["code"] == "dossier_duplicate"
    other = new_dossier(client, h["clerk"], file_code="02.TNMT", title="Hồ sơ kiểm đếm", retention="").json
    assert other["retention"] == "Vĩnh viễn"
    for dossier_id in (d["id"], other["id"]):
        assert act(client, h["clerk"], dossier_id, "open").json["status"] == "open"
    before = counts(data_dir)
    for doc in (late, early):
        assert act(client, h["clerk"], d["id"], "add-document", document_id=doc["id"]).status_code == 200
    r = act(client, h["clerk"], other["id"], "add-document", document_id=early["id"])
    assert r.status_code == 200
    after = counts(data_dir)
    # One document in two dossiers: three links, no new document or file.
    assert after["dossier_document"] - before["dossier_document"] == 3
    assert (after["document"], after["attachment"]) == (before["document"], before["attachment"])
    assert act(client, h["clerk"], d["id"], "add-document", document_id=early["id"]).status_code == 409
    got = client.simulate_get(f"/api/v1/dossiers/{d['id']}", headers=h["clerk"]).json
    assert [x["id"] for x in got["documents"]] == [early["id"], late["id"]]  # oldest first

    closed = act(client, h["clerk"], d["id"], "close").json
    assert closed["status"] == "closed" and closed["end_date"] == "2026-03-10" and closed["due_date"] == "2027-03-10"
    again = act(client, h["clerk"], d["id"], "close")
    assert again.status_code == 409 and again.json["error"]["code"] == "dossier_already_closed"
    assert client.simulate_get(f"/api/v1/dossiers/{d['id']}", headers=h["clerk"]).json == got | {
        k: closed[k] for k in ("status", "end_date", "due_date")}

    # PDF: catalogue then the documents, oldest first.
    pdf = client.simulate_get(f"/api/v1/dossiers/{d['id']}/export?format=pdf", headers=h["clerk"])
    text = [p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages]
    assert "MỤC LỤC VĂN BẢN" in text[0].upper()
    body = "\n".join(text[1:])
    assert body.index("thứ nhất") < body.index("thứ hai")
    # XML: Phụ lục VI fields, chronological.
    xml = etree.fromstring(client.simulate_get(f"/api/v1/dossiers/{d['id']}/export?format=xml",
                                               headers=h["clerk"]).content)
    ns = {"d": "urn:vanban:dossier:1"}
    assert xml.findtext("d:FileCode/d:FileNotation", namespaces=ns) == "01.TNMT"
    assert xml.findtext("d:DocTotal", namespaces=ns) == "2" and xml.findtext("d:Maintenance", namespaces=ns) == "10 năm"
    assert [e.text for e in xml.findall("d:Documents/d:Document/d:IssuedDate", ns)] == ["2026-02-02", "2026-03-08"]
    # Archive package: valid METS, SHA-256 of every file, ISO 8601 +07:00.
    sip = client.simulate_get(f"/api/v1/dossiers/{d['id']}/export?format=sip", headers=h["clerk"])
    assert sip.status_code == 200 and sip.headers["content-type"] == "application/zip"
    assert validate_package(sip.content) == []
    names = zipfile.ZipFile(io.BytesIO(sip.content)).namelist()
    root = names[0].split("/")[0]
    assert {f"{root}/METS.xml", f"{root}/metadata/descriptive/ead.xml",
            f"{root}/metadata/preservation/premis.xml"} <= set(names)
    assert sum("/representations/rep1/data/" in n for n in names) == 2
    assert act(client, h["clerk"], d["id"], "submit").json["status"] == "submitted"


def _rezip(data: bytes, change) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            content = change(info.filename, src.read(info.filename))
            if content is not None:
                dst.writestr(info, content)
    return out.getvalue()


def test_package_validation_catches_damage(client, world):
    from vanban.archive import validate_mets, validate_package

    h = Logins(client)
    doc = register_doc(client, h["clerk"], world)
    d = new_dossier(client, h["clerk"], file_code="05.VP").json
    act(client, h["clerk"], d["id"], "open")
    act(client, h["clerk"], d["id"], "add-document", document_id=doc["id"])
    sip = client.simulate_get(f"/api/v1/dossiers/{d['id']}/export?format=sip", headers=h["clerk"]).content
    # A changed byte in a document: its SHA-256 no longer matches.
    damaged = _rezip(sip, lambda n, c: c + b"\n%%" if "/data/" in n else c)
    assert any("SHA-256 does not match" in p for p in validate_package(damaged))
    # A file dropped from the package.
    missing = _rezip(sip, lambda n, c: None if n.endswith("premis.xml") else c)
    assert any("not in the package" in p for p in validate_package(missing))
    # The METS schema itself: an element METS does not define, an attribute value it does not allow.
    mets = next(zipfile.ZipFile(io.BytesIO(sip)).read(n) for n in zipfile.ZipFile(io.BytesIO(sip)).namelist()
                if n.endswith("/METS.xml"))
    assert validate_mets(mets) == []
    assert validate_mets(mets.replace(b'CHECKSUMTYPE="SHA-256"', b'CHECKSUMTYPE="SHA-257"', 1))
    assert validate_mets(mets.replace(b"</mets:fileSec>", b"<mets:bogus/></mets:fileSec>"))
    assert validate_package(b"not a zip") == ["not a ZIP file"]


def test_confidential_documents_stay_out_of_dossiers_others_read(client, world, data_dir):
    h = Logins(client)
    secret = register_doc(client, h["clerk"], world, "Tài liệu mật", register_id=str(world.secret_register_id),
                          confidentiality="1", number_notation="03/QĐ-UBND")
    assert client.simulate_get(f"/api/v1/documents/{secret['id']}", headers=h["spec"]).status_code == 404
    shared = new_dossier(client, h["clerk"], file_code="09.VP", shared=True).json
    act(client, h["clerk"], shared["id"], "open")
    before = counts(data_dir)
    r = act(client, h["clerk"], shared["id"], "add-document", document_id=secret["id"])
    assert r.status_code == 403 and r.json["error"]["code"] == "confidential_in_readable_dossier"
    private = new_dossier(client, h["clerk"], file_code="10.VP").json
    act(client, h["clerk"], private["id"], "open")
    act(client, h["clerk"], private["id"], "add-reader", user_id=world.users["spec"])
    r = act(client, h["clerk"], private["id"], "add-document", document_id=secret["id"])
    assert r.status_code == 403 and "Đặng Quốc Bảo" in r.json["error"]["message"]
    assert counts(data_dir) == before
    # Only the owner reads it: accepted; then nobody who cannot see it may be added as a reader.
    alone = new_dossier(client, h["clerk"], file_code="11.VP").json
    act(client, h["clerk"], alone["id"], "open")
    assert act(client, h["clerk"], alone["id"], "add-document", document_id=secret["id"]).status_code == 200
    r = act(client, h["clerk"], alone["id"], "add-reader", user_id=world.users["spec2"])
    assert r.status_code == 403
    assert client.simulate_get(f"/api/v1/dossiers/{alone['id']}", headers=h["spec2"]).status_code == 404


def test_thirty_day_warning_follows_the_clock(client, world, clock):
    from vanban.core import dossiers

    h = Logins(client)
    doc = register_doc(client, h["clerk"], world)
    keep = new_dossier(client, h["clerk"], file_code="20.VP", retention="20").json
    short = new_dossier(client, h["clerk"], file_code="21.VP", retention="2").json  # stays in the unit
    building = new_dossier(client, h["clerk"], file_code="22.XD", construction=True).json
    for d in (keep, short, building):
        act(client, h["clerk"], d["id"], "open")
        act(client, h["clerk"], d["id"], "add-document", document_id=doc["id"])
        act(client, h["clerk"], d["id"], "close")
    assert client.simulate_get(f"/api/v1/dossiers/{building['id']}", headers=h["clerk"]).json["due_date"] == "2026-06-10"
    ctx = client.app.ctx
    assert dossiers.scan_due(ctx) == 0
    clock.set(clock.now().replace(month=5, day=12))  # construction dossier due 10/06: 29 days ahead
    assert dossiers.scan_due(ctx) == 1 and dossiers.scan_due(ctx) == 0
    clock.set(clock.now().replace(year=2027, month=2, day=10))  # 28 days before 10/03/2027
    assert dossiers.scan_due(ctx) == 1
    clerk = client.api_login("clerk")
    listed = client.simulate_get("/api/v1/dossiers?year=2026", headers=clerk).json
    assert set(listed["due"]) == {keep["id"], building["id"]}
    notes = client.simulate_get("/api/v1/notifications", headers=clerk).json["items"]
    assert sorted(n["title"] for n in notes if n["kind"] == "dossier_due") == [
        "Hồ sơ 20.VP phải nộp lưu trước 10/03/2027", "Hồ sơ 22.XD phải nộp lưu trước 10/06/2026"]


def test_dossier_list_report_and_pages(client, world):
    h = Logins(client)
    new_dossier(client, h["clerk"], file_code="01.TCCB", title="Hồ sơ tuyển dụng công chức", heading="Tổ chức")
    r = client.simulate_get("/api/v1/work-reports/dossier-list?year=2026", headers=h["clerk"])
    assert r.json["rows"][0]["file_code"] == "01.TCCB" and r.json["rows"][0]["retention"] == "Vĩnh viễn"
    pdf = client.simulate_get("/api/v1/work-reports/dossier-list?year=2026&format=pdf", headers=h["clerk"])
    assert "DANH MỤC HỒ SƠ NĂM 2026" in PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text().upper()
    b = client.web_login("clerk")
    page = b.get("/dossiers?year=2026")
    assert page.status_code == 200 and "01.TCCB" in page.text
    assert new_dossier(client, h["clerk"], file_code="bad code").status_code == 422


def test_web_pages_of_a_dossier(client, world):
    h = Logins(client)
    doc = register_doc(client, h["clerk"], world)
    b = client.web_login("clerk")
    r = b.post_form("/dossiers", {"year": "2026", "file_code": "07.VP", "title": "Hồ sơ hội nghị", "retention": "5",
                                  "owner_id": str(world.users["clerk"]), "department_id": ""})
    assert r.status_code == 303
    d = client.simulate_get("/api/v1/dossiers?year=2026", headers=h["clerk"]).json["dossiers"][0]
    assert b.post_form(f"/dossiers/{d['id']}/open", {}).status_code == 303
    assert b.post_form(f"/dossiers/{d['id']}/add-document", {"document_id": str(doc["id"])}).status_code == 303
    page = b.get(f"/dossiers/{d['id']}")
    assert page.status_code == 200 and doc["subject"] in page.text and "Kết thúc hồ sơ" in page.text
    assert b.post_form(f"/dossiers/{d['id']}/close", {"end_date": ""}).status_code == 303
    again = b.post_form(f"/dossiers/{d['id']}/close", {"end_date": ""})
    assert again.status_code == 409 and "không kết thúc lần nữa" in again.text
    sip = b.get(f"/dossiers/{d['id']}/export", params={"format": "sip"})
    assert sip.status_code == 200 and sip.content[:2] == b"PK"
    for path in ("/work-reports", "/notifications", "/calendar", "/calendar/published", "/dossiers"):
        assert b.get(path).status_code == 200, path
