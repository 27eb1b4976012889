"""Who may see a document: its agency only; a confidential (mật) one only its assignees (DOMAIN.md §4)."""
from __future__ import annotations

from peewee import fn

from ..errors import NotFound
from ..models import database
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
    per document (search checks the confidential matches of every query with this, so it is plain SQL: building
    the peewee queries cost more than running them)."""
    doc_ids = [int(i) for i in doc_ids]
    if not doc_ids:
        return set()
    marks = ",".join("?" * len(doc_ids))
    rows = database.execute_sql(f"SELECT id, confidentiality, created_by_id FROM document WHERE id IN ({marks}) "
                                "AND agency_id = ?", (*doc_ids, user.agency_id)).fetchall()
    seen = {i for i, secret, creator in rows if secret == 0 or creator == user.id}
    unsure = [i for i, _, _ in rows if i not in seen]
    if unsure:
        marks = ",".join("?" * len(unsure))
        sql = f"SELECT DISTINCT document_id FROM assignment WHERE document_id IN ({marks}) AND (assignee_id = ?"
        params = [*unsure, user.id]
        if user.department_id and "unit_head" in user.role_set:
            sql += " OR department_id = ?"
            params.append(user.department_id)
        seen.update(r[0] for r in database.execute_sql(sql + ")", params).fetchall())
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
