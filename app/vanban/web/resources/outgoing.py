"""Web pages of the outgoing workflow: drafts, review, signing, issue, recall, verification, register."""
from __future__ import annotations

import falcon

from ...core import agencies, issuing, outgoing, outgoing_queries, recall, signing_service
from ...core.accounts import agency_users
from ...core.doctypes import CONFIDENTIALITY, DOC_TYPES, URGENCY
from ...core.forms import parse_date
from ...core.incoming import discard_uploads
from ...errors import DomainError
from ...models.schema import Agency
from ...reports import format_value, render_pdf, render_xlsx
from ...reports import registers as books
from .. import cache
from ..forms import read_form
from .base import Page


def recipients_from(form):
    """Recipients from a form or JSON body, or None when the request names none (a revision keeps them).

    JSON: "recipients": [{"to": "dept:3" | "user:5" | "agency:H19.43", "purpose": "handle" | "info"}] or plain
    strings. Forms: repeated `recipient` (to handle), `recipient_info` (for information) and `agency_codes`
    (codes separated by commas, spaces or lines)."""
    if isinstance(form.get("recipients"), list):
        return [r if isinstance(r, dict) else {"to": str(r)} for r in form["recipients"]]
    getlist = getattr(form, "getlist", lambda k: [form[k]] if form.get(k) else [])
    specs = [{"to": v, "purpose": "handle"} for v in getlist("recipient") if v]
    specs += [{"to": v, "purpose": "info"} for v in getlist("recipient_info") if v]
    codes = " ".join(getlist("agency_codes")).replace(",", " ").split()
    specs += [{"to": f"agency:{c}", "purpose": "handle"} for c in codes]
    named = any(k in form for k in ("recipient", "recipient_info", "agency_codes", "recipients"))
    return specs if (specs or named) else None


def _no_store(resp):
    resp.cache_control = ["no-store"]


class _Base(Page):
    def choices(self, user) -> dict:
        users = list(agency_users(user.agency_id))
        return {"doc_types": DOC_TYPES, "urgency": URGENCY, "confidentiality": CONFIDENTIALITY,
                "prefixes": outgoing.PREFIXES, "users": users, "leaders": [u for u in users if "leader" in u.role_set],
                "departments": agencies.departments(user.agency_id),
                "agencies": [a for a in Agency.select().order_by(Agency.code) if a.id != user.agency_id]}


class OutgoingList(_Base):
    def on_get(self, req, resp):
        user = req.context.user
        box = req.get_param("box") or "mine"
        _no_store(resp)
        self.render(req, resp, "outgoing_list.html", box=box if box in outgoing_queries.BOXES else "mine",
                    boxes=outgoing_queries.BOX_NAMES, drafts=outgoing_queries.drafts(user, box),
                    box_counts=outgoing_queries.counts(user), status_names=outgoing.STATUS_NAMES,
                    type_names={c: n for c, n, _ in DOC_TYPES})

    def on_post(self, req, resp):
        form, uploads = read_form(req, self.ctx)
        user = req.context.user
        try:
            draft = outgoing.create_draft(self.ctx, user, form, uploads, recipients_from(form) or [])
        except DomainError as exc:
            if exc.status == 403:
                raise
            self.render(req, resp, "outgoing_form.html", status=exc.status, error=exc, values=form, draft=None,
                        **self.choices(user))
            return
        self.redirect(f"/outgoing/{draft.id}?created=1")


class NewDraft(_Base):
    def on_get(self, req, resp):
        self.render(req, resp, "outgoing_form.html", error=None, values={}, draft=None,
                    **self.choices(req.context.user))


class DraftPage(_Base):
    def on_get(self, req, resp, draft_id):
        user = req.context.user
        draft = outgoing.get_draft(user, draft_id)
        _no_store(resp)
        self.render(req, resp, "outgoing_draft.html", draft=draft, **outgoing_queries.draft_page(draft),
                    status_names=outgoing.STATUS_NAMES, event_names=outgoing.EVENT_NAMES,
                    type_names={c: n for c, n, _ in DOC_TYPES},
                    is_unit_head=outgoing.is_unit_head_of(user, draft),
                    is_format_approver=outgoing.is_format_approver(user),
                    has_signature=signing_service.has_image("signature", user=user),
                    created=req.get_param_as_bool("created") or False, **self.choices(user))


class DraftAction(_Base):
    """POST /outgoing/{id}/{action}: one form per workflow step. GET /outgoing/{id}/pdf: the signed PDF."""

    def on_get(self, req, resp, draft_id, action):
        user = req.context.user
        draft = outgoing.get_draft(user, draft_id)
        if action == "pdf":
            send_pdf(self.ctx, resp, draft)
        elif action == "edit":
            values = {"signer_id": draft.signer_id, "reply_due": draft.reply_due or ""}
            self.render(req, resp, "outgoing_form.html", error=None, values=values, draft=draft,
                        **self.choices(user))
        else:
            raise falcon.HTTPNotFound()

    def on_post(self, req, resp, draft_id, action):
        user = req.context.user
        form, uploads = read_form(req, self.ctx)
        if action == "version":
            try:
                outgoing.new_version(self.ctx, user, draft_id, form, uploads, recipients_from(form))
            except DomainError as exc:
                if exc.status in (403, 404):
                    raise
                draft = outgoing.get_draft(user, draft_id)
                self.render(req, resp, "outgoing_form.html", status=exc.status, error=exc, values=form, draft=draft,
                            **self.choices(user))
                return
        else:
            discard_uploads(uploads)
            run_action(self.ctx, user, draft_id, action, form)
        self.redirect(f"/outgoing/{int(draft_id)}")


def run_action(ctx, user, draft_id, action, form):
    """The workflow steps shared by the web form and the JSON API."""
    if action == "comment":
        return outgoing.comment(ctx, user, draft_id, form.get("text", ""), form.get("version"))
    if action == "approve_content":
        return outgoing.approve_content(ctx, user, draft_id, form.get("note", ""))
    if action == "approve_format":
        return outgoing.approve_format(ctx, user, draft_id, form.get("note", ""))
    if action == "submit":
        return outgoing.submit(ctx, user, draft_id, form.get("note", ""))
    if action == "return":
        return outgoing.send_back(ctx, user, draft_id, form.get("text", ""))
    if action == "sign":
        return signing_service.sign(ctx, user, draft_id, form.get("passphrase"))
    if action == "issue":
        return issuing.issue(ctx, user, draft_id, form.get("passphrase"), form.get("place"))
    if action == "recall":
        return recall.recall(ctx, user, draft_id, form.get("reason", ""))
    raise falcon.HTTPNotFound(title="Không có thao tác này", description="unknown_action")


def send_pdf(ctx, resp, draft):
    """The issued PDF (seal, number) when there is one, else the PDF with the signer's signature."""
    from ...models.schema import Attachment

    if draft.document_id:
        att = (Attachment.select().where((Attachment.document == draft.document_id) &
                                         (Attachment.content_type == "application/pdf")).order_by(Attachment.id).first())
        sha, name = att.blob_id, att.filename
    elif draft.signed_blob:
        sha, name = draft.signed_blob, f"du-thao-{draft.id}-da-ky.pdf"
    else:
        raise falcon.HTTPNotFound(title="Văn bản chưa được ký", description="not_signed")
    _no_store(resp)
    resp.content_type = "application/pdf"
    resp.downloadable_as = name
    resp.stream = ctx.blobs.open(sha)
    resp.content_length = ctx.blobs.path(sha).stat().st_size


class DraftFileDownload(Page):
    def on_get(self, req, resp, file_id):
        f = outgoing_queries.draft_file(req.context.user, file_id)
        if f is None:
            raise falcon.HTTPNotFound(title="Không tìm thấy tệp", description="file_not_found")
        _no_store(resp)
        resp.content_type = f.content_type
        resp.downloadable_as = f.filename
        resp.stream = self.ctx.blobs.open(f.blob_id)
        resp.content_length = f.size


class Verify(Page):
    def on_get(self, req, resp):
        self.render(req, resp, "outgoing_verify.html", report=None, error=None)

    def on_post(self, req, resp):
        form, uploads = read_form(req, self.ctx)
        try:
            report = signing_service.verify_upload(self.ctx, req.context.user, uploads)
        except DomainError as exc:
            self.render(req, resp, "outgoing_verify.html", status=exc.status, report=None, error=exc)
            return
        _no_store(resp)
        self.render(req, resp, "outgoing_verify.html", report=report, error=None)


class Register(Page):
    def on_get(self, req, resp):
        fmt = req.get_param("format") or "html"
        if fmt not in ("html", "pdf", "xlsx"):
            raise falcon.HTTPBadRequest(title="Định dạng không hợp lệ", description="invalid:format")
        report, rows, date_from, date_to = build_register(self.ctx, req)
        _no_store(resp)
        stem = f"outgoing-{date_from:%Y%m%d}-{date_to:%Y%m%d}"
        if fmt == "pdf":
            resp.content_type, resp.data, resp.downloadable_as = "application/pdf", render_pdf(report), f"{stem}.pdf"
        elif fmt == "xlsx":
            resp.content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            resp.data, resp.downloadable_as = render_xlsx(report), f"{stem}.xlsx"
        else:
            self.render(req, resp, "outgoing_register.html", report=report, rows=rows, fmt=format_value,
                        date_from=date_from, date_to=date_to)


def build_register(ctx, req):
    params = {"from": req.get_param("from"), "to": req.get_param("to")}
    agency, date_from, date_to, rows = issuing.register_rows(
        req.context.user, parse_date(params, "from", "Từ ngày", required=False),
        parse_date(params, "to", "Đến ngày", required=False), ctx.clock.today())
    return books.outgoing_register(rows, agency.name, date_from, date_to), rows, date_from, date_to


class Settings(_Base):
    """Signature image (each signer), seal image (clerk), format approvers (admin)."""

    def on_get(self, req, resp, what=None):
        self.show(req, resp)

    def show(self, req, resp, error=None, status=200, done=None):
        user = req.context.user
        self.render(req, resp, "outgoing_settings.html", status=status, error=error, done=done,
                    has_signature=signing_service.has_image("signature", user=user),
                    has_seal=signing_service.has_image("seal", agency_id=user.agency_id),
                    approvers=outgoing_queries.format_approvers(user.agency_id), **self.choices(user))

    def on_post(self, req, resp, what=None):
        user = req.context.user
        form, uploads = read_form(req, self.ctx)
        try:
            if what in ("signature", "seal"):
                signing_service.set_image(self.ctx, user, what, uploads)
            elif what == "format-approver":
                discard_uploads(uploads)
                outgoing.set_format_approver(self.ctx, user, form.get("user_id"), form.get("enabled", "1") == "1")
            else:
                discard_uploads(uploads)
                raise falcon.HTTPNotFound()
        except DomainError as exc:
            if exc.status == 403:
                raise
            self.show(req, resp, error=exc, status=exc.status)
            return
        self.redirect("/outgoing/settings?saved=1")


def _waiting(user) -> dict:
    """The nav's count of drafts to sign or issue, on every page: kept per thread until the next database
    change (web/cache.py)."""
    if user is None:
        return {"total": 0}
    return cache.memo(("outgoing_waiting", user.id), lambda: outgoing_queries.waiting(user))


def add_routes(app, ctx, templates):
    templates.globals["outgoing_waiting"] = _waiting
    page = {"ctx": ctx, "templates": templates}
    app.add_route("/outgoing", OutgoingList(**page))
    app.add_route("/outgoing/new", NewDraft(**page))
    app.add_route("/outgoing/verify", Verify(**page))
    app.add_route("/outgoing/register", Register(**page))
    app.add_route("/outgoing/settings", Settings(**page))
    app.add_route("/outgoing/settings/{what}", Settings(**page))
    app.add_route("/outgoing/files/{file_id:int}", DraftFileDownload(**page))
    app.add_route("/outgoing/{draft_id:int}", DraftPage(**page))
    app.add_route("/outgoing/{draft_id:int}/{action}", DraftAction(**page))
    from ...api.outgoing import add_routes as add_api_routes

    add_api_routes(app, ctx)
