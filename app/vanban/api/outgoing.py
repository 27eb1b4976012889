"""JSON API of the outgoing workflow, signatures and the outgoing register, with its OpenAPI parts
(merged into api/openapi.py's spec())."""
from __future__ import annotations

import falcon

from ..core import outgoing, outgoing_queries, signing_service
from ..core.doctypes import TYPE_NAMES
from ..core.incoming import discard_uploads
from ..errors import Invalid
from ..models.outgoing import Draft
from ..reports import render_pdf, render_xlsx
from ..web.forms import read_form
from ..web.resources.outgoing import build_register, recipients_from, run_action, send_pdf


def _d(value):
    return value.isoformat() if value else None


def draft_json(draft: Draft) -> dict:
    page = outgoing_queries.draft_page(draft)
    doc = draft.document if draft.document_id else None
    return {
        "id": draft.id, "status": draft.status, "doc_type": draft.doc_type,
        "type_name": TYPE_NAMES.get(draft.doc_type, ""), "subject": draft.subject, "urgency": draft.urgency,
        "confidentiality": draft.confidentiality, "reply_due": _d(draft.reply_due), "drafter_id": draft.drafter_id,
        "department_id": draft.department_id, "signer_id": draft.signer_id, "authority_prefix": draft.authority_prefix,
        "on_behalf_of": draft.on_behalf_of, "signer_title": draft.signer_title,
        "current_version": draft.current_version, "signed_version": draft.signed_version,
        "signed_at": _d(draft.signed_at), "issued_at": _d(draft.issued_at), "document_id": draft.document_id,
        "number_notation": f"{doc.number}/{doc.notation}" if doc else None,
        "recalled_at": _d(draft.recalled_at), "recall_reason": draft.recall_reason,
        "recipients": [{"kind": r.kind, "name": r.name, "organ_id": r.organ_id, "department_id": r.department_id,
                        "user_id": r.user_id, "purpose": r.purpose} for r in page["recipients"]],
        "versions": [{"number": v.number, "note": v.note, "created_by": v.created_by_id,
                      "created_at": _d(v.created_at), "content_approved_by": v.content_approved_by_id,
                      "format_approved_by": v.format_approved_by_id,
                      "files": [{"id": f.id, "role": f.role, "filename": f.filename, "content_type": f.content_type,
                                 "size": f.size, "sha256": f.blob_id} for f in page["files"].get(v.id, [])]}
                     for v in page["versions"]],
        "events": [{"kind": e.kind, "version": e.version, "user_id": e.user_id, "text": e.text,
                    "created_at": _d(e.created_at)} for e in page["events"]],
        "outbox": [{"id": o.id, "organ_id": o.organ_id, "kind": o.kind, "status": o.status} for o in page["outbox"]],
    }


def _summary(draft: Draft) -> dict:
    return {"id": draft.id, "status": draft.status, "doc_type": draft.doc_type, "subject": draft.subject,
            "current_version": draft.current_version, "updated_at": _d(draft.updated_at)}


class _Api:
    def __init__(self, ctx):
        self.ctx = ctx


class Drafts(_Api):
    def on_get(self, req, resp):
        box = req.get_param("box") or "mine"
        if box not in outgoing_queries.BOXES:
            raise Invalid("box: " + ", ".join(outgoing_queries.BOXES) + ".", code="invalid:box", field="box")
        resp.media = {"box": box, "drafts": [_summary(d) for d in outgoing_queries.drafts(req.context.user, box)]}

    def on_post(self, req, resp):
        form, uploads = read_form(req, self.ctx)
        draft = outgoing.create_draft(self.ctx, req.context.user, form, uploads, recipients_from(form) or [])
        resp.status = falcon.HTTP_201
        resp.location = f"/api/v1/outgoing/{draft.id}"
        resp.media = draft_json(draft)


class DraftItem(_Api):
    def on_get(self, req, resp, draft_id):
        resp.media = draft_json(outgoing.get_draft(req.context.user, draft_id))


class Versions(_Api):
    def on_post(self, req, resp, draft_id):
        form, uploads = read_form(req, self.ctx)
        outgoing.new_version(self.ctx, req.context.user, draft_id, form, uploads, recipients_from(form))
        resp.status = falcon.HTTP_201
        resp.media = draft_json(outgoing.get_draft(req.context.user, draft_id))


class Action(_Api):
    def on_post(self, req, resp, draft_id, action):
        form, uploads = read_form(req, self.ctx)
        discard_uploads(uploads)
        run_action(self.ctx, req.context.user, draft_id, action, form)
        resp.media = draft_json(outgoing.get_draft(req.context.user, draft_id))


class Pdf(_Api):
    def on_get(self, req, resp, draft_id):
        send_pdf(self.ctx, resp, outgoing.get_draft(req.context.user, draft_id))


class VerifySignature(_Api):
    def on_post(self, req, resp):
        _, uploads = read_form(req, self.ctx)
        resp.media = signing_service.verify_upload(self.ctx, req.context.user, uploads)


class Images(_Api):
    def on_post(self, req, resp, kind):
        _, uploads = read_form(req, self.ctx)
        if kind not in ("signature", "seal"):
            discard_uploads(uploads)
            raise falcon.HTTPNotFound(title="Không có loại ảnh này", description="unknown_image_kind")
        image = signing_service.set_image(self.ctx, req.context.user, kind, uploads)
        resp.status = falcon.HTTP_201
        resp.media = {"kind": image.kind, "sha256": image.blob_id}


class FormatApprovers(_Api):
    def on_get(self, req, resp):
        resp.media = {"user_ids": [u.id for u in outgoing_queries.format_approvers(req.context.user.agency_id)]}

    def on_post(self, req, resp):
        form, _ = read_form(req, self.ctx)
        enabled = form.get("enabled", True) not in (False, "0", "false")
        outgoing.set_format_approver(self.ctx, req.context.user, form.get("user_id"), enabled)
        resp.media = {"user_ids": [u.id for u in outgoing_queries.format_approvers(req.context.user.agency_id)]}


class RegisterReport(_Api):
    def on_get(self, req, resp):
        fmt = req.get_param("format") or "json"
        if fmt not in ("json", "pdf", "xlsx"):
            raise Invalid("format: json, pdf hoặc xlsx.", code="invalid:format", field="format")
        report, rows, date_from, date_to = build_register(self.ctx, req)
        if fmt == "json":
            resp.media = {"from": date_from.isoformat(), "to": date_to.isoformat(),
                          "rows": [{k: (_d(v) if hasattr(v, "isoformat") else v) for k, v in r.items()} for r in rows]}
        elif fmt == "pdf":
            resp.content_type, resp.data = "application/pdf", render_pdf(report)
        else:
            resp.content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            resp.data = render_xlsx(report)


def add_routes(app, ctx):
    v1 = "/api/v1"
    app.add_route(f"{v1}/outgoing", Drafts(ctx))
    app.add_route(f"{v1}/outgoing/format-approvers", FormatApprovers(ctx))
    app.add_route(f"{v1}/outgoing/register", RegisterReport(ctx))
    app.add_route(f"{v1}/outgoing/{{draft_id:int}}", DraftItem(ctx))
    app.add_route(f"{v1}/outgoing/{{draft_id:int}}/versions", Versions(ctx))
    app.add_route(f"{v1}/outgoing/{{draft_id:int}}/pdf", Pdf(ctx))
    app.add_route(f"{v1}/outgoing/{{draft_id:int}}/actions/{{action}}", Action(ctx))
    app.add_route(f"{v1}/signatures/verify", VerifySignature(ctx))
    app.add_route(f"{v1}/signing/images/{{kind}}", Images(ctx))


# ---- OpenAPI ------------------------------------------------------------------------------------------------

S, I, B = {"type": "string"}, {"type": "integer"}, {"type": "boolean"}  # noqa: E741
NS, NI = {"type": ["string", "null"]}, {"type": ["integer", "null"]}
ACTIONS = ["comment", "approve_content", "approve_format", "submit", "return", "sign", "issue", "recall"]


def _obj(props, required=None, extra=False):
    return {"type": "object", "properties": props, "required": list(props if required is None else required),
            "additionalProperties": extra}


def _ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


def _arr(item):
    return {"type": "array", "items": item}


def _schemas() -> dict:
    file_ = _obj({"id": I, "role": {"enum": ["main", "attachment"]}, "filename": S, "content_type": S, "size": I,
                  "sha256": S})
    return {
        "Draft": _obj({
            "id": I, "status": {"enum": list(outgoing.STATUS_NAMES)}, "doc_type": S, "type_name": S, "subject": S,
            "urgency": I, "confidentiality": I, "reply_due": NS, "drafter_id": I, "department_id": NI,
            "signer_id": NI, "authority_prefix": {"enum": list(outgoing.PREFIXES)}, "on_behalf_of": S,
            "signer_title": S, "current_version": I, "signed_version": NI, "signed_at": NS, "issued_at": NS,
            "document_id": NI, "number_notation": NS, "recalled_at": NS, "recall_reason": S,
            "recipients": _arr(_obj({"kind": {"enum": ["dept", "user", "agency"]}, "name": S, "organ_id": NS,
                                     "department_id": NI, "user_id": NI, "purpose": {"enum": ["handle", "info"]}})),
            "versions": _arr(_obj({"number": I, "note": S, "created_by": I, "created_at": S,
                                   "content_approved_by": NI, "format_approved_by": NI, "files": _arr(file_)})),
            "events": _arr(_obj({"kind": S, "version": NI, "user_id": I, "text": S, "created_at": S})),
            "outbox": _arr(_obj({"id": I, "organ_id": S, "kind": {"enum": ["issue", "recall"]}, "status": S}))}),
        "DraftSummary": _obj({"id": I, "status": S, "doc_type": S, "subject": S, "current_version": I,
                              "updated_at": NS}),
        "SignatureCheck": _obj({
            "field": S, "signer": NS, "agency_code": NS, "organization": NS, "serial": NS, "signing_time": NS,
            "timestamp_time": NS, "intact": B, "chain_trusted": B, "chain": _arr(S), "valid_at_signing_time": B,
            "revoked": B, "revoked_at": NS, "coverage": S, "modified_after_signing": B,
            "verdict": {"enum": ["valid", "invalid", "untrusted", "indeterminate"]}, "problems": _arr(S),
            "messages": _arr(S)}),
        "VerificationReport": _obj({"filename": S, "verdict": {"enum": ["valid", "invalid", "untrusted",
                                                                        "indeterminate", "unsigned"]},
                                    "signatures": _arr(_ref("SignatureCheck"))}),
    }


def _paths(op, json_, q) -> dict:
    draft_id = {"name": "draft_id", "in": "path", "required": True, "schema": I}
    form = _obj({"doc_type": S, "subject": S, "urgency": I, "confidentiality": I,
                 "reply_due": {"type": "string", "format": "date"}, "signer_id": I,
                 "authority_prefix": {"enum": list(outgoing.PREFIXES)}, "on_behalf_of": S, "signer_title": S,
                 "note": S, "recipients": _arr({"oneOf": [S, _obj({"to": S, "purpose": {"enum": ["handle", "info"]}},
                                                                   ["to"])]}),
                 "recipient": _arr(S), "recipient_info": _arr(S), "agency_codes": S,
                 "files": _arr({"type": "string", "format": "binary"})}, required=[], extra=True)
    body = {"multipart/form-data": {"schema": form}, "application/json": {"schema": form}}
    action_body = _obj({"text": S, "note": S, "version": I, "passphrase": S, "place": S, "reason": S}, required=[])
    upload = {"multipart/form-data": {"schema": _obj({"files": _arr({"type": "string", "format": "binary"})})}}
    pdf = {"description": "PDF", "content": {"application/pdf": {}}}
    return {
        "/api/v1/outgoing": {
            "get": op("My drafts by box", ok=json_(_obj({"box": S, "drafts": _arr(_ref("DraftSummary"))})),
                      params=[q("box", {"enum": list(outgoing_queries.BOXES)})]),
            "post": op("Create a draft (first file = main PDF/DOCX, the rest attachments)", "201",
                       json_(_ref("Draft")), body=body)},
        "/api/v1/outgoing/{draft_id}": {"get": op("A draft", ok=json_(_ref("Draft")), params=[draft_id])},
        "/api/v1/outgoing/{draft_id}/versions": {"post": op("New version", "201", json_(_ref("Draft")), body=body,
                                                            params=[draft_id])},
        "/api/v1/outgoing/{draft_id}/pdf": {"get": op("Signed or issued PDF", ok=pdf, params=[draft_id])},
        "/api/v1/outgoing/{draft_id}/actions/{action}": {"post": op(
            " | ".join(ACTIONS), ok=json_(_ref("Draft")), params=[draft_id, {
                "name": "action", "in": "path", "required": True, "schema": {"enum": ACTIONS}}],
            body={"application/json": {"schema": action_body},
                  "application/x-www-form-urlencoded": {"schema": action_body}})},
        "/api/v1/outgoing/format-approvers": {
            "get": op("Format approvers", ok=json_(_obj({"user_ids": _arr(I)}))),
            "post": op("Name or un-name a format approver (admin)", ok=json_(_obj({"user_ids": _arr(I)})),
                       body={"application/json": {"schema": _obj({"user_id": I, "enabled": B}, ["user_id"])}})},
        "/api/v1/outgoing/register": {"get": op("Outgoing register (10 columns)", ok={
            "description": "Rows, PDF or XLSX", "content": {
                "application/json": {"schema": _obj({"from": S, "to": S, "rows": _arr({"type": "object"})})},
                "application/pdf": {}, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {}}},
            params=[q("from", {"type": "string", "format": "date"}), q("to", {"type": "string", "format": "date"}),
                    q("format", {"enum": ["json", "pdf", "xlsx"]})])},
        "/api/v1/signatures/verify": {"post": op("Verify the signatures of any PDF", ok=json_(
            _ref("VerificationReport")), body=upload)},
        "/api/v1/signing/images/{kind}": {"post": op("Upload my signature image or the agency seal (PNG)", "201",
                                                     json_(_obj({"kind": S, "sha256": S})), body=upload, params=[{
                                                         "name": "kind", "in": "path", "required": True,
                                                         "schema": {"enum": ["signature", "seal"]}}])},
    }


def openapi_parts(op, json_, q) -> tuple[dict, dict]:
    """(component schemas, paths) for api/openapi.py's spec(); it passes its own _op, _json and _q helpers."""
    return _schemas(), _paths(op, json_, q)
