"""Model → JSON shapes (the schemas of openapi.py)."""
from __future__ import annotations

from ..core.doctypes import TYPE_NAMES


def _d(value):
    return value.isoformat() if value else None


def user(u) -> dict:
    return {"id": u.id, "username": u.username, "full_name": u.full_name, "position": u.position,
            "roles": sorted(u.role_set), "agency_code": u.agency.code, "department_id": u.department_id}


def document(doc, attachments=None) -> dict:
    out = {
        "id": doc.id, "direction": doc.direction, "register_id": doc.register_id, "year": doc.year,
        "arrival_number": doc.arrival_number, "arrival_at": _d(doc.arrival_at), "issuer_name": doc.issuer_name,
        "issuer_code": doc.issuer_code, "number": doc.number, "notation": doc.notation,
        "number_notation": f"{doc.number}/{doc.notation}", "doc_date": _d(doc.doc_date), "doc_type": doc.doc_type,
        "type_name": TYPE_NAMES.get(doc.doc_type, ""), "subject": doc.subject, "urgency": doc.urgency,
        "confidentiality": doc.confidentiality, "deadline": _d(doc.deadline), "medium": doc.medium,
        "status": doc.status, "closed_at": _d(doc.closed_at),
    }
    if attachments is not None:
        out["attachments"] = [{"id": a.id, "filename": a.filename, "content_type": a.content_type,
                               "size": a.size, "sha256": a.blob_id} for a in attachments]
    return out


def inbox_item(item) -> dict:
    return {**item, "deadline": _d(item["deadline"])}


def assignment(a) -> dict:
    return {"id": a.id, "document_id": a.document_id, "parent_id": a.parent_id, "role": a.role,
            "assignee_id": a.assignee_id, "department_id": a.department_id, "deadline": _d(a.deadline),
            "status": a.status, "instruction": a.instruction}


def node(n) -> dict:
    return {"id": n.id, "label": n.label, "detail": n.sub, "state": n.state,
            "children": [node(c) for c in n.children]}
