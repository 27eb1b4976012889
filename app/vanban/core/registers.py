"""Rows of the incoming register (sổ đăng ký văn bản đến) and tracking book (sổ theo dõi giải quyết), DOMAIN §5."""
from __future__ import annotations

from datetime import date, timedelta

from peewee import JOIN

from ..errors import Invalid
from ..models.schema import Agency, Assignment, Department, Document, User
from .accounts import require_role
from .doctypes import STATUS_NAMES, TYPE_NAMES

MAX_DAYS = 400  # a register is printed per period; a year and a bit is the most a clerk asks for


def _period(date_from: date | None, date_to: date | None, today: date):
    date_to = date_to or today
    date_from = date_from or date_to.replace(day=1)
    if date_from > date_to:
        raise Invalid("Từ ngày sau đến ngày.", code="bad_date:range", field="from")
    if (date_to - date_from).days > MAX_DAYS:
        raise Invalid(f"Khoảng thời gian tối đa {MAX_DAYS} ngày.", code="range_too_long", field="from")
    return date_from, date_to


def _documents(user, date_from, date_to, register_id=None):
    cond = ((Document.agency == user.agency_id) & (Document.direction == "in") &
            (Document.arrival_at >= date_from) & (Document.arrival_at < date_to + timedelta(days=1)))
    if register_id:
        cond &= Document.register == register_id
    return list(Document.select().where(cond).order_by(Document.arrival_at, Document.arrival_number))


def _routing(doc_ids):
    """First hand-over (transfer date) and the lead unit or person of each document."""
    out = {}
    if not doc_ids:
        return out
    rows = (Assignment.select(Assignment, User, Department)
            .join(User, JOIN.LEFT_OUTER, on=(Assignment.assignee == User.id))
            .switch(Assignment).join(Department, JOIN.LEFT_OUTER)
            .where(Assignment.document.in_(doc_ids)).order_by(Assignment.id))
    for a in rows:
        entry = out.setdefault(a.document_id, {"transfer_date": a.created_at.date(), "recipient": ""})
        if a.role == "lead" and not entry["recipient"]:
            entry["recipient"] = a.department.name if a.department_id else a.assignee.full_name
    return out


def register_rows(user, date_from, date_to, today, register_id=None):
    require_role(user, "clerk", "leader", "admin")
    date_from, date_to = _period(date_from, date_to, today)
    docs = [d for d in _documents(user, date_from, date_to, register_id) if d.confidentiality == 0]
    routing = _routing([d.id for d in docs])
    rows = []
    for d in docs:
        r = routing.get(d.id, {})
        rows.append({
            "arrival_date": d.arrival_at.date(), "arrival_number": d.arrival_number, "author": d.issuer_name,
            "number": d.number, "notation": d.notation, "doc_date": d.doc_date,
            "type_name": TYPE_NAMES.get(d.doc_type, ""), "subject": d.subject,
            "recipient": r.get("recipient", ""), "transfer_date": r.get("transfer_date"),
            "receipt_signature": "", "notes": d.notes,
            "deadline": d.deadline, "progress": STATUS_NAMES.get(d.status, d.status),
            "reply_number_notation": "",
        })
    agency = Agency.get_by_id(user.agency_id)
    return agency, date_from, date_to, rows
