"""Outgoing documents: drafting, versions, comments, approvals, trình ký and sending back, through the API and the
web UI. Signing, issue, verification and recall are in test_signing_flow.py (which reuses the helpers here).

Real parts: the app on a fresh SQLite file, a real clamd, a PKI made with `cryptography` on disk, pyHanko."""
from __future__ import annotations

import sqlite3

import jsonschema
import pytest

from conftest import make_pdf, multipart
from vanban.signing.images import seal_png, signature_png

PW_CA = "ca-pass-phrase-1"
PW_LEADER = "khoa-ky-lanh-dao-1"
PW_SEAL = "khoa-con-dau-vt-1"
LEADER_NAME = "Lê Văn Hùng"


# ---- fixtures and helpers (test_signing_flow imports these) --------------------------------------------------

def login(client, username) -> dict:
    """API headers for a user, logged in once per test (argon2 makes each login cost a tenth of a second)."""
    cache = client.__dict__.setdefault("_tokens", {})
    if username not in cache:
        cache[username] = client.api_login(username)
    return cache[username]


def upload(client, headers, path, fields, files=()):
    body, ctype = multipart(fields, files)
    return client.simulate_post(path, body=body, headers={**headers, "Content-Type": ctype})


def draft_fields(world, **over) -> dict:
    fields = {"doc_type": "CV", "subject": "Về việc báo cáo tình hình quản lý đất đai năm 2026",
              "urgency": "0", "confidentiality": "0", "reply_due": "2026-03-25",
              "signer_id": str(world.users["leader"]), "authority_prefix": "KT.", "on_behalf_of": "Chủ tịch",
              "signer_title": "Phó Chủ tịch", "recipient": [f"dept:{world.dept_vp}"], "note": "bản đầu"}
    fields.update(over)
    return {k: v for k, v in fields.items() if v is not None}


def main_file(text="Nội dung công văn báo cáo tình hình quản lý đất đai."):
    return ("files", "cong-van.pdf", make_pdf(text), "application/pdf")


def create_draft(client, world, headers=None, files=None, **over):
    headers = headers or login(client, "spec")
    r = upload(client, headers, "/api/v1/outgoing", draft_fields(world, **over),
               [main_file()] if files is None else files)
    assert r.status_code == 201, r.text
    return r.json


def act(client, headers, draft_id, action, **body):
    return client.simulate_post(f"/api/v1/outgoing/{draft_id}/actions/{action}", json=body, headers=headers)


def approve_and_submit(client, draft_id):
    for user, action in (("head", "approve_content"), ("clerk", "approve_format"), ("spec", "submit")):
        r = act(client, login(client, user), draft_id, action)
        assert r.status_code == 200, r.text
    return r.json


def set_images(client):
    r = upload(client, login(client, "leader"), "/api/v1/signing/images/signature", {},
               [("files", "chu-ky.png", signature_png(LEADER_NAME), "image/png")])
    assert r.status_code == 201, r.text
    r = upload(client, login(client, "clerk"), "/api/v1/signing/images/seal", {},
               [("files", "con-dau.png", seal_png("UBND huyện Nhơn Trạch", place="Đồng Nai"), "image/png")])
    assert r.status_code == 201, r.text


def signed_draft(client, world, **over):
    draft = create_draft(client, world, **over)
    approve_and_submit(client, draft["id"])
    r = act(client, login(client, "leader"), draft["id"], "sign", passphrase=PW_LEADER)
    assert r.status_code == 200, r.text
    return r.json


def issued_draft(client, world, **over):
    draft = signed_draft(client, world, **over)
    r = act(client, login(client, "clerk"), draft["id"], "issue", passphrase=PW_SEAL, place="Nhơn Trạch")
    assert r.status_code == 200, r.text
    return r.json


def db_rows(data_dir, sql, *args):
    con = sqlite3.connect(data_dir / "vanban.db")
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def check_openapi(client, path_template, method, response):
    """Validate a JSON answer against the schema the OpenAPI document declares for it."""
    spec = client.simulate_get("/api/openapi.json").json
    op = spec["paths"][path_template][method]
    schema = op["responses"][str(response.status_code)]["content"]["application/json"]["schema"]
    jsonschema.validate(response.json, {**schema, "components": spec["components"]})


# ---- drafting -------------------------------------------------------------------------------------------------

def test_specialist_drafts_with_recipients_and_files(client, world, data_dir):
    h = login(client, "spec")
    r = upload(client, h, "/api/v1/outgoing", draft_fields(world, recipient=[f"dept:{world.dept_vp}",
                                                                             f"user:{world.users['vpspec']}"],
                                                            recipient_info=[f"dept:{world.dept_tnmt}"],
                                                            agency_codes="H19.43, H19.01"),
               [main_file(), ("files", "phu-luc.pdf", make_pdf("Phụ lục số liệu"), "application/pdf")])
    assert r.status_code == 201, r.text
    check_openapi(client, "/api/v1/outgoing", "post", r)
    d = r.json
    assert d["status"] == "drafting" and d["current_version"] == 1 and d["department_id"] == world.dept_tnmt
    assert [f["role"] for f in d["versions"][0]["files"]] == ["main", "attachment"]
    kinds = {(x["kind"], x["purpose"], x["organ_id"]) for x in d["recipients"]}
    assert ("agency", "handle", "H19.43") in kinds and ("agency", "handle", "H19.01") in kinds
    assert ("dept", "info", None) in kinds
    names = {x["name"] for x in d["recipients"]}
    assert "UBND huyện Long Thành" in names  # an agency hosted on this server is named from the directory
    listed = client.simulate_get("/api/v1/outgoing?box=mine", headers=h)
    assert [x["id"] for x in listed.json["drafts"]] == [d["id"]]
    check_openapi(client, "/api/v1/outgoing", "get", listed)


@pytest.mark.parametrize("over, files, code", [
    ({"subject": ""}, None, "missing:subject"),
    ({"doc_type": "XX"}, None, "invalid:doc_type"),
    ({"recipient": None}, None, "missing:recipients"),
    ({"recipient": ["agency:bad code"]}, None, "agency_code_invalid"),
    ({"recipient": ["agency:H19.42"]}, None, "recipient_self"),
    ({"confidentiality": "1", "recipient": ["agency:H19.43"]}, None, "confidential_external"),
    ({"authority_prefix": "TL.", "on_behalf_of": ""}, None, "missing:on_behalf_of"),
    ({"signer_id": "spec"}, None, "invalid:v"),
    ({}, [], "missing:files"),
    ({}, [("files", "bang.xlsx", b"PK\x03\x04", "application/octet-stream")], "file_content_mismatch"),
    ({}, [("files", "anh.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 32, "image/png")], "main_file_type"),
    ({}, [("files", "hong.pdf", b"%PDF-1.4\nkhong phai pdf", "application/pdf")], "pdf_corrupt"),
])
def test_bad_drafts_are_refused_and_change_nothing(client, world, data_dir, over, files, code):
    h = login(client, "spec")
    r = upload(client, h, "/api/v1/outgoing", draft_fields(world, **over), [main_file()] if files is None else files)
    assert r.status_code in (403, 422), r.text
    assert r.json["error"]["code"] == code
    assert db_rows(data_dir, "SELECT count(*) FROM outgoing_draft")[0][0] == 0
    assert not [p for p in (data_dir / "blobs").rglob("*") if p.is_file()]
    assert not [p for p in (data_dir / "tmp").rglob("*") if p.is_file()]


def test_encrypted_main_pdf_is_refused(client, world):
    from fpdf import FPDF

    doc = FPDF()
    doc.add_page()
    doc.set_font("helvetica", size=12)
    doc.cell(0, 10, "secret")
    doc.set_encryption(owner_password="chu", user_password="doc")
    r = upload(client, login(client, "spec"), "/api/v1/outgoing", draft_fields(world),
               [("files", "ma-hoa.pdf", bytes(doc.output()), "application/pdf")])
    assert r.status_code == 422 and r.json["error"]["code"] == "pdf_encrypted"


def test_versions_comments_approvals_and_submission(client, world):
    d = create_draft(client, world)
    spec, head, clerk, spec2 = (login(client, u) for u in ("spec", "head", "clerk", "spec2"))
    # reviewers comment on version 1
    r = act(client, spec2, d["id"], "comment", text="Đề nghị bổ sung số liệu quý I.", version=1)
    assert r.status_code == 200, r.text
    check_openapi(client, "/api/v1/outgoing/{draft_id}/actions/{action}", "post", r)
    # submitting before approval is refused
    assert act(client, spec, d["id"], "submit").json["error"]["code"] == "not_approved"
    # only the unit head approves content, only a clerk (or named approver) the format
    assert act(client, spec2, d["id"], "approve_content").json["error"]["code"] == "not_unit_head"
    assert act(client, spec2, d["id"], "approve_format").json["error"]["code"] == "not_format_approver"
    assert act(client, head, d["id"], "approve_content").status_code == 200
    assert act(client, head, d["id"], "approve_content").json["error"]["code"] == "already_approved_content"
    assert act(client, clerk, d["id"], "approve_format").status_code == 200
    # the drafter revises: version 2 with a new main file, attachments carried over; approvals start again
    r = upload(client, spec, f"/api/v1/outgoing/{d['id']}/versions", {"subject": "Về việc báo cáo đất đai (sửa)",
                                                                       "note": "bổ sung số liệu"},
               [main_file("Bản sửa có số liệu quý I.")])
    assert r.status_code == 201, r.text
    check_openapi(client, "/api/v1/outgoing/{draft_id}/versions", "post", r)
    d2 = r.json
    assert d2["current_version"] == 2 and d2["subject"].endswith("(sửa)")
    assert d2["versions"][0]["content_approved_by"] is None and d2["versions"][1]["content_approved_by"]
    assert act(client, spec, d["id"], "submit").json["error"]["code"] == "not_approved"
    # another specialist cannot revise
    r = upload(client, spec2, f"/api/v1/outgoing/{d['id']}/versions", {"note": "x"}, [main_file()])
    assert r.status_code == 403 and r.json["error"]["code"] == "not_drafter"
    final = approve_and_submit(client, d["id"])
    assert final["status"] == "submitted"
    kinds = [e["kind"] for e in final["events"]]
    assert kinds == ["create", "comment", "approve_content", "approve_format", "version", "approve_content",
                     "approve_format", "submit"]
    # a submitted draft is frozen for the drafter
    r = upload(client, spec, f"/api/v1/outgoing/{d['id']}/versions", {"note": "x"}, [main_file()])
    assert r.status_code == 409 and r.json["error"]["code"] == "draft_submitted"
    assert [x["id"] for x in client.simulate_get("/api/v1/outgoing?box=sign",
                                                 headers=login(client, "leader")).json["drafts"]] == [d["id"]]


def test_signer_sends_back_with_comment(client, world):
    d = create_draft(client, world)
    approve_and_submit(client, d["id"])
    leader = login(client, "leader")
    assert act(client, leader, d["id"], "return", text="").json["error"]["code"] == "missing:t"
    assert act(client, login(client, "head"), d["id"], "return",
               text="x").json["error"]["code"] == "not_assigned_signer"
    r = act(client, leader, d["id"], "return", text="Sửa lại phần kiến nghị.")
    assert r.status_code == 200 and r.json["status"] == "drafting"
    assert r.json["events"][-1] == {**r.json["events"][-1], "kind": "return", "text": "Sửa lại phần kiến nghị."}
    # the approvals of the unchanged version still hold, so it can go straight back
    assert act(client, login(client, "spec"), d["id"], "submit").json["status"] == "submitted"


def test_named_format_approver(client, world):
    d = create_draft(client, world)
    vpspec = login(client, "vpspec")
    assert act(client, vpspec, d["id"], "approve_format").status_code == 403
    admin = login(client, "admin")
    r = client.simulate_post("/api/v1/outgoing/format-approvers", json={"user_id": world.users["vpspec"]},
                             headers=admin)
    assert r.status_code == 200 and r.json["user_ids"] == [world.users["vpspec"]]
    assert client.simulate_post("/api/v1/outgoing/format-approvers", json={"user_id": world.users["spec"]},
                                headers=vpspec).status_code == 403
    assert act(client, vpspec, d["id"], "approve_format").status_code == 200


def test_other_agency_and_confidential_drafts_are_hidden(client, world):
    d = create_draft(client, world, confidentiality="1")
    assert client.simulate_get(f"/api/v1/outgoing/{d['id']}", headers=login(client, "spec2")).status_code == 404
    assert client.simulate_get(f"/api/v1/outgoing/{d['id']}", headers=login(client, "head")).status_code == 200
    open_draft = create_draft(client, world)
    other = login(client, "otherclerk")
    assert client.simulate_get(f"/api/v1/outgoing/{open_draft['id']}", headers=other).status_code == 404
    assert act(client, other, open_draft["id"], "comment", text="x").status_code == 404


def test_web_ui_drafting_flow(client, world):
    spec = client.web_login("spec")
    assert "Văn bản đi" in spec.get("/inbox").text  # the nav link
    page = spec.get("/outgoing/new")
    assert page.status_code == 200 and 'name="recipient"' in page.text
    body, ctype = multipart({"csrf_token": spec.csrf, **draft_fields(world)}, [main_file()])
    r = client.simulate_post("/outgoing", body=body, headers={**spec.headers, "Content-Type": ctype})
    assert r.status_code == 303, r.text
    url = r.headers["location"].split("?")[0]
    draft_id = int(url.rsplit("/", 1)[1])
    page = spec.get(url)
    assert "Về việc báo cáo tình hình quản lý đất đai" in page.text and "cong-van.pdf" in page.text
    assert spec.post_form(f"/outgoing/{draft_id}/comment", {"text": "Tự rà soát lại", "version": "1"}).status_code == 303
    edit = spec.get(f"/outgoing/{draft_id}/edit")
    assert edit.status_code == 200 and "phiên bản mới" in edit.text
    head = client.web_login("head")
    assert 'id="form-approve-content"' in head.get(url).text
    assert head.post_form(f"/outgoing/{draft_id}/approve_content", {"note": "Đồng ý"}).status_code == 303
    clerk = client.web_login("clerk")
    assert clerk.post_form(f"/outgoing/{draft_id}/approve_format", {}).status_code == 303
    assert spec.post_form(f"/outgoing/{draft_id}/submit", {}).status_code == 303
    leader = client.web_login("leader")
    page = leader.get(url)
    assert 'id="form-sign"' in page.text and 'type="password" name="passphrase"' in page.text
    assert "Chờ tôi ký" in leader.get("/outgoing?box=sign").text
    # a form error is shown on the form, in Vietnamese, without losing what was typed
    body, ctype = multipart({"csrf_token": spec.csrf, **draft_fields(world, subject="")}, [main_file()])
    r = client.simulate_post("/outgoing", body=body, headers={**spec.headers, "Content-Type": ctype})
    assert r.status_code == 422 and "Thiếu Trích yếu" in r.text
    # and a forged post without the CSRF token is refused
    assert spec.post_form(f"/outgoing/{draft_id}/comment", {"text": "x"}, csrf=False).status_code == 403


def test_openapi_lists_outgoing_paths(client):
    spec = client.simulate_get("/api/openapi.json").json
    for path in ("/api/v1/outgoing", "/api/v1/outgoing/{draft_id}/actions/{action}", "/api/v1/signatures/verify",
                 "/api/v1/outgoing/register", "/api/v1/signing/images/{kind}"):
        assert path in spec["paths"]
    assert {"Draft", "VerificationReport", "Document"} <= set(spec["components"]["schemas"])
