"""Counts behind the business gauges."""
from __future__ import annotations

from datetime import date

from peewee import JOIN, Case, fn

from ..models.schema import Agency, Document


def document_gauges(today: date):
    open_docs = Document.status.in_(("registered", "presented", "in_progress"))
    overdue = Case(None, [((Document.deadline < today), 1)], 0)
    q = (Agency.select(Agency.code, fn.COUNT(Document.id), fn.COALESCE(fn.SUM(overdue), 0))
         .join(Document, on=((Document.agency == Agency.id) & open_docs), join_type=JOIN.LEFT_OUTER)
         .group_by(Agency.code).tuples())
    return list(q)
