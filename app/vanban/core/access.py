"""Who may see a document: its agency only; a confidential (mật) one only its assignees (DOMAIN.md §4)."""
from __future__ import annotations

from peewee import fn

from ..errors import NotFound
from ..models.schema import Assignment, Document, User


def involved(user: User, doc_id: int) -> bool:
    """The user registered it, or has (or heads a unit that has) an assignment on it."""
    cond = Assignment.assignee == user.id
    if user.department_id and "unit_head" in user.role_set:
        cond |= (Assignment.department == user.department_id)
    return (Assignment.select(fn.COUNT(1)).where((Assignment.document == doc_id) & cond).scalar() > 0)


def can_view(user: User, doc: Document) -> bool:
    if doc.agency_id != user.agency_id:
        return False
    if doc.confidentiality == 0:
        return True
    return doc.created_by_id == user.id or involved(user, doc.id)


def visible_ids(user: User, doc_ids) -> set[int]:
    """The ids among doc_ids the user may see: can_view for many documents in two queries instead of one or two
    per document (search checks its confidential candidates with this)."""
    doc_ids = list(doc_ids)
    if not doc_ids:
        return set()
    docs = list(Document.select(Document.id, Document.agency, Document.confidentiality, Document.created_by)
                .where(Document.id.in_(doc_ids)))
    seen = {d.id for d in docs if d.agency_id == user.agency_id
            and (d.confidentiality == 0 or d.created_by_id == user.id)}
    unsure = [d.id for d in docs if d.agency_id == user.agency_id and d.id not in seen]
    if unsure:
        cond = Assignment.assignee == user.id
        if user.department_id and "unit_head" in user.role_set:
            cond |= (Assignment.department == user.department_id)
        seen.update(a.document_id for a in Assignment.select(Assignment.document).distinct()
                    .where(Assignment.document.in_(unsure) & cond))
    return seen


def get_document(user: User, doc_id) -> Document:
    """The document if the user may see it. Another agency's or an unseen confidential document answers 'not
    found', so ids do not reveal what exists."""
    try:
        doc_id = int(doc_id)
    except (TypeError, ValueError):
        doc_id = -1
    doc = Document.get_or_none(Document.id == doc_id)
    if doc is None or not can_view(user, doc):
        raise NotFound("Không tìm thấy văn bản hoặc bạn không có quyền xem.", code="document_not_found")
    return doc
