from __future__ import annotations

import falcon

from ...core import agencies, inbox, incoming, routing
from ...core.access import get_document
from ...core.accounts import agency_users
from ...core.doctypes import CONFIDENTIALITY, DOC_TYPES, MEDIUM, ROLE_NAMES, STATUS_NAMES, URGENCY
from ...errors import DomainError
from ...models.schema import Attachment
from .. import cache
from ..forms import read_form
from .base import Page


def routing_specs(form, prefix: str, with_deadline=True) -> list[dict]:
    """Parallel form fields <prefix>_to[] and <prefix>_deadline[] → [{"to": "user:3", "deadline": "..."}]."""
    targets = form.getlist(f"{prefix}_to")
    deadlines = form.getlist(f"{prefix}_deadline") if with_deadline else []
    specs = []
    for i, to in enumerate(targets):
        if to:
            specs.append({"to": to, "deadline": deadlines[i] if i < len(deadlines) else ""})
    return specs


class NewDocument(Page):
    def on_get(self, req, resp):
        self.show_form(req, resp, {})

    def show_form(self, req, resp, values, error=None, status=200, duplicate=False):
        user = req.context.user
        self.render(req, resp, "document_new.html", status=status, values=values, error=error,
                    duplicate=duplicate, doc_types=DOC_TYPES, urgency=URGENCY, confidentiality=CONFIDENTIALITY,
                    medium=MEDIUM, registers=agencies.registers(user.agency_id, "incoming"))


class Documents(NewDocument):
    def on_post(self, req, resp):
        form, uploads = read_form(req, self.ctx)
        try:
            doc = incoming.register_incoming(self.ctx, req.context.user, form, uploads)
        except DomainError as exc:
            if exc.status == 403:
                raise
            self.show_form(req, resp, form, error=exc, status=exc.status, duplicate=exc.code == "duplicate")
            return
        self.redirect(f"/documents/{doc.id}?registered=1")


class DocumentPage(Page):
    def on_get(self, req, resp, doc_id):
        user = req.context.user
        doc = get_document(user, doc_id)
        today = self.ctx.clock.today()
        data = inbox.document_page(doc, today)
        # The agency's people and units for the routing forms change rarely: kept per thread until the next
        # database change (web/cache.py); building ~100 user rows was a third of the page's time.
        users = cache.memo(("agency_users", user.agency_id), lambda: list(agency_users(user.agency_id)))
        departments = cache.memo(("departments", user.agency_id), lambda: agencies.departments(user.agency_id))
        self.render(req, resp, "document.html", doc=doc, **data, my_roles=inbox.my_open_roles(user, doc.id),
                    users=users, departments=departments,
                    type_names=dict((c, n) for c, n, _ in DOC_TYPES), urgency=URGENCY,
                    confidentiality=CONFIDENTIALITY, status_names=STATUS_NAMES, role_names=ROLE_NAMES,
                    registered=req.get_param_as_bool("registered") or False)


class DocumentAction(Page):
    """POST /documents/{id}/{action}: one form per routing step."""

    def on_post(self, req, resp, doc_id, action):
        user = req.context.user
        form, uploads = read_form(req, self.ctx)
        if action == "present":
            incoming.present(self.ctx, user, get_document(user, doc_id), form.get("leader_id"), form.get("note", ""))
        elif action in ("assign", "reassign"):
            leads = routing_specs(form, "lead")
            fn = routing.assign if action == "assign" else routing.reassign
            fn(self.ctx, user, doc_id, instruction=form.get("instruction", ""), lead=leads[0] if leads else None,
               co=routing_specs(form, "co"), info=routing_specs(form, "info", with_deadline=False))
        elif action == "forward":
            routing.forward(self.ctx, user, doc_id, to_user_id=form.get("to_user_id"),
                            role=form.get("role", "co"), note=form.get("note", ""))
        elif action == "comment":
            routing.comment(self.ctx, user, doc_id, form.get("text", ""), uploads)
        elif action == "complete":
            routing.complete(self.ctx, user, doc_id, form.get("note", ""))
        else:
            incoming.discard_uploads(uploads)
            raise falcon.HTTPNotFound()
        self.redirect(f"/documents/{int(doc_id)}")


class AttachmentDownload(Page):
    def on_get(self, req, resp, attachment_id):
        att = Attachment.get_or_none(Attachment.id == attachment_id)
        if att is None:
            raise falcon.HTTPNotFound()
        get_document(req.context.user, att.document_id)  # access check, 404 when not allowed
        resp.content_type = att.content_type
        resp.downloadable_as = att.filename
        resp.stream = self.ctx.blobs.open(att.blob_id)
        resp.content_length = att.size
