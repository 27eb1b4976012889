"""The JSON API answers what its OpenAPI document says: every response of a full flow is validated."""
from __future__ import annotations

import re

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from conftest import incoming_fields, make_pdf, multipart
from vanban.api.openapi import spec


@pytest.fixture(scope="module")
def document():
    doc = spec()
    validate(doc)  # the document itself is valid OpenAPI 3.1
    return doc


def check(document, method, template, response):
    op = document["paths"][template][method]
    status = str(response.status_code)
    assert status in op["responses"], f"{method.upper()} {template} answered undocumented {status}"
    content = op["responses"][status].get("content", {})
    if response.headers.get("content-type", "").startswith("application/json"):
        schema = dict(content["application/json"]["schema"])
        schema["components"] = document["components"]
        errors = list(Draft202012Validator(schema).iter_errors(response.json))
        assert not errors, f"{method.upper()} {template} {status}: {errors[0].message}"
    return response


class Recorder:
    def __init__(self, client, document):
        self.client, self.document, self.seen = client, document, set()

    def _template(self, path):
        for template in self.document["paths"]:
            pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"
            if re.match(pattern, path):
                return template
        raise AssertionError(f"{path} is not in the OpenAPI document")

    def call(self, method, path, **kw):
        r = getattr(self.client, f"simulate_{method}")(path, **kw)
        template = self._template(path)
        self.seen.add((method, template))
        return check(self.document, method, template, r)


def test_full_flow_matches_the_document(client, world, document):
    api = Recorder(client, document)
    login = api.call("post", "/api/v1/auth/login", json={"username": "clerk", "password": "mật-khẩu-thử-1"})
    h = {"Authorization": f"Bearer {login.json['token']}"}
    lead = client.api_login("leader")
    spec_h = client.api_login("spec")
    admin = client.api_login("admin")
    api.call("get", "/api/v1/me", headers=h)
    api.call("get", "/api/v1/doc-types", headers=h)
    body, ctype = multipart(incoming_fields(world), [("files", "a.pdf", make_pdf("Quyết định"), "application/pdf")])
    doc = api.call("post", "/api/v1/documents", body=body, headers={**h, "Content-Type": ctype}).json
    api.call("post", "/api/v1/documents", body=body, headers={**h, "Content-Type": ctype})  # 409 duplicate
    api.call("get", f"/api/v1/documents/{doc['id']}", headers=h)
    api.call("get", "/api/v1/documents/999999", headers=h)  # 404
    api.call("post", f"/api/v1/documents/{doc['id']}/actions/present", json={"leader_id": world.users["leader"]},
             headers=h)
    api.call("post", f"/api/v1/documents/{doc['id']}/actions/assign", headers=lead,
             json={"instruction": "Xử lý", "lead": {"to": f"user:{world.users['spec']}", "deadline": "2026-03-20"}})
    api.call("post", f"/api/v1/documents/{doc['id']}/actions/assign", headers=lead, json={"instruction": "x"})  # 422
    api.call("get", "/api/v1/inbox", headers=spec_h)
    api.call("get", "/api/v1/inbox", params={"tab": "nope"}, headers=spec_h)
    api.call("post", f"/api/v1/documents/{doc['id']}/actions/comment", json={"text": "ok"}, headers=spec_h)
    api.call("post", f"/api/v1/documents/{doc['id']}/actions/complete", json={}, headers=spec_h)
    api.call("post", f"/api/v1/documents/{doc['id']}/actions/complete", json={}, headers=spec_h)  # 403 nothing open
    api.call("get", f"/api/v1/documents/{doc['id']}/routing", headers=h)
    api.call("get", "/api/v1/search", params={"q": "quyet dinh"}, headers=h)
    api.call("get", "/api/v1/reports/incoming", params={"from": "2026-03-01", "to": "2026-03-31"}, headers=h)
    pdf = api.call("get", "/api/v1/reports/incoming", params={"format": "pdf"}, headers=h)
    assert pdf.content.startswith(b"%PDF")
    xlsx = api.call("get", "/api/v1/reports/tracking", params={"format": "xlsx"}, headers=h)
    assert xlsx.content.startswith(b"PK")
    api.call("get", "/api/v1/admin/users", headers=admin)
    api.call("get", "/api/v1/admin/users", headers=h)  # 403 for a clerk
    api.call("post", "/api/v1/admin/departments", json={"name": "Phòng Nội vụ", "abbreviation": "NV"}, headers=admin)
    api.call("post", "/api/v1/admin/agencies", json={"code": "h19.42.07", "name": "UBND xã Long Tân",
                                                     "abbreviation": "UBND", "old_code": "000.07.42.H19"},
             headers=admin)
    api.call("post", "/api/v1/admin/agencies", json={"code": "not a code", "name": "x", "abbreviation": "x"},
             headers=admin)  # 422
    api.call("post", "/api/v1/admin/users", headers=admin, json={
        "username": "cv.nv", "full_name": "Lý Thị Hoa", "password": "mat-khau-dai", "roles": ["specialist"]})
    r = api.call("patch", f"/api/v1/admin/users/{world.users['spec2']}", json={"roles": ["specialist", "unit_head"]},
                 headers=admin)
    assert r.json["roles"] == ["specialist", "unit_head"]
    api.call("patch", f"/api/v1/admin/users/{world.users['spec2']}", json={"active": False}, headers=admin)
    api.call("patch", f"/api/v1/admin/users/{world.users['admin']}", json={"active": False}, headers=admin)  # 422
    api.call("patch", f"/api/v1/admin/users/{world.users['otherclerk']}", json={"active": False},
             headers=admin)  # 404: another agency's user
    assert client.simulate_post("/api/v1/auth/login", json={"username": "spec2", "password": "mật-khẩu-thử-1"}
                                ).status_code == 401  # switched off
    api.call("post", "/api/v1/auth/logout", headers=h)
    api.call("get", "/api/v1/me", headers=h)  # 401
    core = ("/api/v1/auth", "/api/v1/me", "/api/v1/doc-types", "/api/v1/inbox", "/api/v1/documents",
            "/api/v1/search", "/api/v1/reports/{name}", "/api/v1/admin")
    documented = {(m, p) for p, ops in document["paths"].items() for m in ops if p.startswith(core)}
    documented -= {(m, p) for m, p in documented if "/outgoing" in p}
    assert documented - api.seen == set(), "every documented operation of the incoming flow is exercised"


def test_admin_bad_input(client, world):
    admin = client.api_login("admin")
    cases = [
        ("agencies", {"code": "A" * 36, "name": "x", "abbreviation": "X"}, "agency_code_invalid"),
        ("agencies", {"code": "H19.42", "name": "dup", "abbreviation": "X"}, "agency_exists"),
        ("agencies", {"code": "H19.99", "name": "x", "abbreviation": "X", "old_code": "H19"}, "old_code_invalid"),
        ("departments", {"name": "x", "abbreviation": "V P"}, "abbreviation_invalid"),
        ("departments", {"name": "Trùng", "abbreviation": "TNMT"}, "department_exists"),
        ("users", {"username": "a b", "full_name": "x", "password": "12345678", "roles": ["clerk"]}, "username_invalid"),
        ("users", {"username": "newu", "full_name": "x", "password": "short", "roles": ["clerk"]}, "password_too_short"),
        ("users", {"username": "newu", "full_name": "x", "password": "12345678", "roles": ["god"]}, "role_invalid"),
        ("users", {"username": "clerk", "full_name": "x", "password": "12345678", "roles": ["clerk"]}, "username_taken"),
        ("registers", {"kind": "sideways", "name": "x"}, "register_kind_invalid"),
    ]
    for kind, body, code in cases:
        r = client.simulate_post(f"/api/v1/admin/{kind}", json=body, headers=admin)
        assert r.status_code == 422 and r.json["error"]["code"] == code, (kind, body, r.text)
    assert client.simulate_post("/api/v1/admin/widgets", json={}, headers=admin).status_code == 404
