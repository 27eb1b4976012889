"""The OpenAPI 3.1 document of /api/v1. Tests validate every API response they see against it."""
from __future__ import annotations

from .. import __version__

S = {"type": "string"}
I = {"type": "integer"}  # noqa: E741
NS = {"type": ["string", "null"]}
NI = {"type": ["integer", "null"]}
DATE = {"type": ["string", "null"], "format": "date"}


def _obj(props: dict, required=None, extra=False) -> dict:
    return {"type": "object", "properties": props, "required": list(required or props),
            "additionalProperties": extra}


def _ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


SCHEMAS = {
    "Error": _obj({"error": _obj({"code": S, "message": S, "field": S}, ["code", "message"])}),
    "User": _obj({"id": I, "username": S, "full_name": S, "position": S, "roles": {"type": "array", "items": S},
                  "agency_code": S, "department_id": NI}),
    "Attachment": _obj({"id": I, "filename": S, "content_type": S, "size": I, "sha256": S}),
    "Document": _obj({
        "id": I, "direction": {"enum": ["in", "out"]}, "register_id": NI, "year": I, "arrival_number": NI,
        "arrival_at": NS, "issuer_name": S, "issuer_code": NS, "number": S, "notation": S, "number_notation": S,
        "doc_date": DATE, "doc_type": S, "type_name": S, "subject": S, "urgency": I, "confidentiality": I,
        "deadline": DATE, "medium": S, "status": S, "closed_at": NS,
        "attachments": {"type": "array", "items": _ref("Attachment")}},
        required=["id", "direction", "subject", "status", "number_notation", "doc_type"]),
    "Counters": _obj({"todo": I, "overdue": I, "info": I, "done": I}),
    "InboxItem": _obj({"assignment_id": I, "document_id": I, "role": S, "role_name": S,
                       "status": {"enum": ["waiting", "in_progress", "done", "overdue"]}, "deadline": DATE,
                       "subject": S, "number_notation": S, "issuer": S, "arrival_number": NI, "urgency": I,
                       "instruction": S}),
    "Assignment": _obj({"id": I, "document_id": I, "parent_id": NI, "role": {"enum": ["present", "lead", "co", "info"]},
                        "assignee_id": NI, "department_id": NI, "deadline": DATE, "status": S, "instruction": S}),
    "Node": _obj({"id": S, "label": S, "detail": S, "state": {"enum": ["waiting", "in_progress", "done", "overdue"]},
                  "children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}}}),
    "RoutingSpec": _obj({"to": {"type": "string", "pattern": "^(user|dept):[0-9]+$"}, "deadline": DATE}, ["to"]),
}

_ERRORS = {str(code): {"description": text, "content": {"application/json": {"schema": _ref("Error")}}}
           for code, text in [(400, "Bad request"), (401, "Not logged in"), (403, "Not allowed / CSRF"),
                              (404, "Not found or not visible"), (409, "Conflict (duplicate, state)"),
                              (411, "Length required"), (413, "Too large"), (422, "Invalid input"),
                              (429, "Throttled")]}


def _json(schema, desc="OK"):
    return {"description": desc, "content": {"application/json": {"schema": schema}}}


def _op(summary, ok_code="200", ok=None, body=None, params=None):
    op = {"summary": summary, "responses": {ok_code: ok or {"description": "OK"}, **_ERRORS}}
    if body:
        op["requestBody"] = {"required": True, "content": body}
    if params:
        op["parameters"] = params
    return op


def _q(name, schema=S, required=False):
    return {"name": name, "in": "query", "required": required, "schema": schema}


_DOC_ID = {"name": "doc_id", "in": "path", "required": True, "schema": I}
_INCOMING_FORM = _obj({
    "register_id": I, "issuer_name": S, "issuer_code": S, "number_notation": {"type": "string", "example": "125/UBND-VX"},
    "doc_date": {"type": "string", "format": "date"}, "doc_type": S, "subject": S, "urgency": I,
    "confidentiality": I, "deadline": {"type": "string", "format": "date"},
    "medium": {"enum": ["electronic", "paper"]}, "notes": S, "confirm_duplicate": S,
    "files": {"type": "array", "items": {"type": "string", "format": "binary"}}},
    required=["register_id", "issuer_name", "number_notation", "doc_date", "doc_type", "subject"], extra=True)
_ACTION_BODY = _obj({"leader_id": I, "note": S, "instruction": S, "lead": _ref("RoutingSpec"),
                     "co": {"type": "array", "items": _ref("RoutingSpec")},
                     "info": {"type": "array", "items": _ref("RoutingSpec")},
                     "to_user_id": I, "role": {"enum": ["co", "info"]}, "text": S}, required=[])


def spec() -> dict:
    # Outgoing documents and signatures; tasks, dossiers, calendar, staff and notices. Imported here, not at
    # the top: those modules import this one for its helpers.
    from .outgoing import openapi_parts as outgoing_parts
    from .work_openapi import openapi_parts as work_parts

    out_schemas, out_paths = outgoing_parts(_op, _json, _q)
    work_schemas, work_paths = work_parts(_op, _json, _q)
    doc_list = {"type": "array", "items": _ref("Document")}
    return {
        "openapi": "3.1.0",
        "info": {"title": "vanban API", "version": __version__,
                 "description": "Quản lý văn bản và điều hành. Authenticate with POST /api/v1/auth/login, then "
                                "send `Authorization: Bearer <token>`."},
        "components": {"schemas": {**SCHEMAS, **out_schemas, **work_schemas},
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}],
        "paths": {
            "/api/v1/auth/login": {"post": {**_op("Log in", ok=_json(_obj({
                "token": S, "csrf_token": S, "expires_at": S, "user": _ref("User")})), body={"application/json": {
                    "schema": _obj({"username": S, "password": S})}}), "security": []}},
            "/api/v1/auth/logout": {"post": _op("Log out", "204", {"description": "Logged out"})},
            "/api/v1/me": {"get": _op("Current user", ok=_json(_obj({"user": _ref("User"),
                                                                       "counters": _ref("Counters")})))},
            "/api/v1/doc-types": {"get": _op("The 29 document types", ok=_json(_obj({"doc_types": {
                "type": "array", "items": _obj({"code": S, "name": S, "abbreviation": S})}})))},
            "/api/v1/inbox": {"get": _op("Personal inbox", ok=_json(_obj({
                "tab": S, "counters": _ref("Counters"), "items": {"type": "array", "items": _ref("InboxItem")}})),
                params=[_q("tab", {"enum": ["todo", "overdue", "info", "done"]}), _q("page", I)])},
            "/api/v1/documents": {"post": _op("Register an incoming document", "201", _json(_ref("Document")),
                                              body={"multipart/form-data": {"schema": _INCOMING_FORM},
                                                    "application/json": {"schema": _INCOMING_FORM}})},
            "/api/v1/documents/{doc_id}": {"get": _op("A document", ok=_json(_ref("Document")), params=[_DOC_ID])},
            "/api/v1/documents/{doc_id}/routing": {"get": _op("Routing tree", ok=_json(_obj({
                "document_id": I, "root": _ref("Node")})), params=[_DOC_ID])},
            "/api/v1/documents/{doc_id}/actions/{action}": {"post": _op(
                "present | assign | reassign | forward | comment | complete", ok=_json(_obj({
                    "document": _ref("Document"), "assignments": {"type": "array", "items": _ref("Assignment")}})),
                body={"application/json": {"schema": _ACTION_BODY}, "multipart/form-data": {"schema": _ACTION_BODY}},
                params=[_DOC_ID, {"name": "action", "in": "path", "required": True, "schema": {
                    "enum": ["present", "assign", "reassign", "forward", "comment", "complete"]}}])},
            "/api/v1/search": {"get": _op("Search (diacritics optional)", ok=_json(_obj({
                "total": {"type": "integer", "description": "Matches the caller may see; a lower bound when "
                          "total_capped (the newest 5 × search_candidates matches are counted, 1,000 by default)"},
                "total_capped": {"type": "boolean", "description": "More matches exist than total"},
                "documents": doc_list})), params=[
                _q("q"), _q("type"), _q("status"), _q("register", I), _q("from", {"type": "string", "format": "date"}),
                _q("to", {"type": "string", "format": "date"}), _q("direction", {"enum": ["in", "out"]}),
                _q("page", I)])},
            "/api/v1/reports/{name}": {"get": _op("Incoming register / tracking book", ok={
                "description": "Rows, PDF or XLSX", "content": {
                    "application/json": {"schema": _obj({"from": S, "to": S, "rows": {"type": "array", "items": {
                        "type": "object"}}})},
                    "application/pdf": {}, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {}}},
                params=[{"name": "name", "in": "path", "required": True, "schema": {"enum": ["incoming", "tracking"]}},
                        _q("from", {"type": "string", "format": "date"}), _q("to", {"type": "string", "format": "date"}),
                        _q("format", {"enum": ["json", "pdf", "xlsx"]})])},
            "/api/v1/admin/users/{user_id}": {"patch": _op(
                "Change a user's roles, unit, name or switch the account off", ok=_json({"type": "object"}),
                body={"application/json": {"schema": _obj({"roles": {"type": "array", "items": S},
                                                           "department_id": NI, "active": {"type": "boolean"},
                                                           "full_name": S, "position": S}, required=[])}},
                params=[{"name": "user_id", "in": "path", "required": True, "schema": I}])},
            "/api/v1/admin/{kind}": {
                "get": _op("List agencies | departments | users | registers", ok=_json({"type": "object"}),
                           params=[{"name": "kind", "in": "path", "required": True, "schema": {
                               "enum": ["agencies", "departments", "users", "registers"]}}]),
                "post": _op("Create one", "201", _json({"type": "object"}),
                            body={"application/json": {"schema": {"type": "object"}}},
                            params=[{"name": "kind", "in": "path", "required": True, "schema": {
                                "enum": ["agencies", "departments", "users", "registers"]}}])},
            **out_paths,
            **work_paths,
        },
    }
