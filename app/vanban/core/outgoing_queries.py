"""Read side of the outgoing workflow: the lists each person works from and the page of one draft."""
from __future__ import annotations

from ..models.outgoing import (
    Delivery,
    Draft,
    DraftEvent,
    DraftFile,
    DraftRecipient,
    DraftVersion,
    FormatApprover,
    Outbox,
)
from ..models.schema import User
from .outgoing import can_view, is_format_approver

BOXES = ("mine", "review", "sign", "issue", "issued")
BOX_NAMES = {"mine": "Tôi soạn", "review": "Chờ tôi duyệt", "sign": "Chờ tôi ký", "issue": "Chờ phát hành",
             "issued": "Đã phát hành"}


def _box_condition(user: User, box: str):
    base = Draft.agency == user.agency_id
    if box == "mine":
        return base & (Draft.drafter == user.id)
    if box == "sign":
        return base & (Draft.signer == user.id) & (Draft.status == "submitted")
    if box == "issue":
        return base & (Draft.status == "signed")
    if box == "issued":
        return base & Draft.status.in_(("issued", "recalled"))
    # review: a format approver sees every draft still being drafted, a unit head the unit's drafts
    drafting = base & (Draft.status == "drafting")
    if is_format_approver(user):
        return drafting
    if "unit_head" in user.role_set and user.department_id:
        return drafting & (Draft.department == user.department_id)
    return base & (Draft.id < 0)


def drafts(user: User, box: str, *, limit: int = 100) -> list[Draft]:
    box = box if box in BOXES else "mine"
    q = Draft.select().where(_box_condition(user, box)).order_by(Draft.updated_at.desc(), Draft.id.desc())
    return [d for d in q.limit(limit) if can_view(user, d)]


def counts(user: User) -> dict:
    return {box: len(drafts(user, box, limit=1000)) for box in ("review", "sign", "issue")}


def waiting(user: User) -> dict:
    """What the nav shows next to "Văn bản đi": drafts waiting for this person's signature and, for a clerk,
    signed drafts waiting to be numbered and issued. Two counts in SQL: the signer and the clerk may see
    every draft of these two boxes, so no per-draft visibility check is needed."""
    sign = Draft.select().where(_box_condition(user, "sign")).count()
    issue = Draft.select().where(_box_condition(user, "issue")).count() if "clerk" in user.role_set else 0
    return {"sign": sign, "issue": issue, "total": sign + issue}


def draft_page(draft: Draft) -> dict:
    versions = list(DraftVersion.select().where(DraftVersion.draft == draft.id).order_by(DraftVersion.number.desc()))
    files = {}
    for f in (DraftFile.select().join(DraftVersion).where(DraftVersion.draft == draft.id)
              .order_by(DraftFile.position)):
        files.setdefault(f.version_id, []).append(f)
    events = list(DraftEvent.select(DraftEvent, User).join(User).where(DraftEvent.draft == draft.id)
                  .order_by(DraftEvent.id))
    recipients = list(DraftRecipient.select().where(DraftRecipient.draft == draft.id).order_by(DraftRecipient.id))
    deliveries, outbox, receipts = [], [], []
    if draft.document_id:
        deliveries = list(Delivery.select().where(Delivery.document == draft.document_id).order_by(Delivery.id))
        outbox = list(Outbox.select().where(Outbox.document == draft.document_id).order_by(Outbox.id))
        receipts = recipient_statuses(draft.document)
    current = next((v for v in versions if v.number == draft.current_version), None)
    return {"versions": versions, "files": files, "events": events, "recipients": recipients,
            "deliveries": deliveries, "outbox": outbox, "receipts": receipts, "current": current}


def recipient_statuses(doc) -> list[dict]:
    """DOMAIN §10: the sender sees each external recipient's latest processing status (01 arrived … 06 done)."""
    from ..exchange.codes import status_label
    from ..exchange.outgoing import document_id_of
    from ..models.exchange import ExchangeReceipt

    rows = ExchangeReceipt.select().where(ExchangeReceipt.document_id == document_id_of(doc)).order_by(
        ExchangeReceipt.recipient)
    return [{"recipient": r.recipient, "code": r.status_code, "label": status_label(r.status_code),
             "at": r.status_at, "description": r.description} for r in rows]


def draft_file(user: User, file_id) -> DraftFile | None:
    """A file of a draft version, if the user may see the draft."""
    try:
        file_id = int(file_id)
    except (TypeError, ValueError):
        return None
    f = DraftFile.get_or_none(DraftFile.id == file_id)
    if f is None or not can_view(user, f.version.draft):
        return None
    return f


def format_approvers(agency_id) -> list[User]:
    return [fa.user for fa in FormatApprover.select(FormatApprover, User).join(User)
            .where(FormatApprover.agency == agency_id)]
