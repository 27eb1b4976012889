"""Recall (thu hồi, DOMAIN §6): the issuer's copy is frozen, every copy delivered on this server is withdrawn,
external recipients are told through the outbox; the metadata of the document and of the recall stay."""
from __future__ import annotations

from ..errors import Conflict, InvalidTransition
from ..models import write_transaction
from ..models.outgoing import Delivery, Draft
from ..models.schema import Assignment, Document, Event, User
from . import audit, forms
from .accounts import require_role
from .issuing import enqueue
from .outgoing import event, get_draft


def recall(ctx, actor: User, draft_id, reason: str) -> Draft:
    require_role(actor, "clerk", "leader")
    reason = forms.text({"r": reason}, "r", "Lý do thu hồi", max_len=2000)
    now = ctx.clock.now()
    local = now.replace(tzinfo=None)
    with write_transaction():
        draft = get_draft(actor, draft_id)
        if draft.status == "recalled":
            raise Conflict("Văn bản đã được thu hồi.", code="already_recalled")
        if draft.status != "issued":
            raise InvalidTransition("Chỉ thu hồi văn bản đã phát hành.", code="not_issued")
        doc = draft.document
        Document.update(status="recalled").where(Document.id == doc.id).execute()
        counts = _withdraw_copies(actor, doc, reason, local)
        Event.create(document=doc, user=actor, kind="recall", text=reason, created_at=local)
        Draft.update(status="recalled", recalled_by=actor, recalled_at=local, recall_reason=reason,
                     updated_at=local).where(Draft.id == draft.id).execute()
        event(draft, actor, "recall", reason, local, version=draft.signed_version)
        audit.record(now, actor, "outgoing.recall", "document", doc.id, {"draft": draft.id, **counts})
    return Draft.get_by_id(draft.id)


def _withdraw_copies(actor, doc, reason, local) -> dict:
    counts = {"local": 0, "internal": 0, "external": 0}
    text = f"Thu hồi văn bản {doc.number}/{doc.notation}: {reason}"
    for d in Delivery.select().where(Delivery.document == doc.id).order_by(Delivery.id):
        if d.kind == "local_agency" and d.recipient_document_id:
            # core.routing.load_for_action refuses every action on a withdrawn document; its row stays.
            Document.update(status="withdrawn").where(Document.id == d.recipient_document_id).execute()
            Event.create(document=d.recipient_document_id, user=actor, kind="recall", text=text, created_at=local)
            counts["local"] += 1
        elif d.kind in ("unit", "user") and d.assignment_id:
            # Units of the issuing agency hold the document through an assignment: closing it takes the
            # document out of their to-do list; the assignment stays as the record of what they were given.
            Assignment.update(status="done", done_at=local).where(
                (Assignment.id == d.assignment_id) & (Assignment.status != "done")).execute()
            counts["internal"] += 1
        elif d.kind == "external":
            enqueue(doc.agency, doc, d.organ_id, "recall", local)
            counts["external"] += 1
    return counts
