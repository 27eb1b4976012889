"""Node side of the daily statistics report (DOMAIN §12): per hosted agency and day, what the hub cannot see.

What a day holds (daily_xml.FIELDS): incoming documents registered that day by medium, how many of them got a
routing in the system and how many are done (with the processing time), outgoing documents issued that day by
form (electronic only / electronic with a paper original / paper only), how many carry a digital signature,
went through the drafting workflow, and were sent electronically to another agency.

A day is a cohort: a document registered on 3 March counts on 3 March, and its handling and completion are
counted as they stand when the report is built. So recent days keep changing while work goes on; the job
recomputes the last REFRESH_DAYS days on every run and sends a day again only when its figures changed (the
hub replaces agency + day). Days never sent (the hub was unreachable, the server was off) are sent when the
job next runs, oldest first, up to MAX_BACKFILL_DAYS back. Idempotent: running it twice sends nothing new.
"""
from __future__ import annotations

import hashlib
import json
import logging
from collections import defaultdict
from datetime import date, datetime, time, timedelta

from peewee import fn

from ..models import database, write_transaction
from ..models.exchange import ExchangeReportDay
from ..models.schema import Agency, Assignment, Document
from . import daily_xml
from .outgoing import PAPER_BY_DEFAULT

log = logging.getLogger(__name__)
# Provinces report by quarter and half year: a document registered in a quarter and done within it must count
# as done in that quarter's figures, so the last 92 days are recomputed (a few thousand rows: milliseconds).
REFRESH_DAYS = 92
MAX_BACKFILL_DAYS = 400  # a first run reports at most about a year back
DAYS_PER_REPORT = 31


def _day_of(value) -> date:
    return value.date() if isinstance(value, datetime) else value


def _blank() -> dict:
    return dict.fromkeys(daily_xml.FIELDS, 0)


def _incoming(lo: datetime, hi: datetime, out: dict) -> None:
    registered = fn.COALESCE(Document.arrival_at, Document.created_at)
    window = (Document.direction == "in") & (registered >= lo) & (registered < hi)
    handled = {r[0] for r in Assignment.select(Assignment.document).distinct().join(
        Document, on=(Assignment.document == Document.id)).where(window).tuples()}
    q = (Document.select(Document.id, Document.agency, Document.medium, Document.status, Document.arrival_at,
                         Document.created_at, Document.closed_at).where(window).tuples())
    for doc_id, agency_id, medium, status, arrival_at, created_at, closed_at in q:
        start = arrival_at or created_at
        row = out[(_day_of(start), agency_id)]
        row["incoming_paper" if medium == "paper" else "incoming_electronic"] += 1
        row["incoming_handled"] += doc_id in handled
        if status == "done" and closed_at is not None:
            row["incoming_completed"] += 1
            row["incoming_processing_seconds"] += max(0, int((closed_at - start).total_seconds()))


def _outgoing_facts(window) -> tuple[set, set, set]:
    """(drafted in the system, digitally signed, sent electronically to another agency) document ids."""
    drafted, signed, exchanged = set(), set(), set()
    if database.table_exists("outgoing_draft"):
        from ..models.outgoing import Delivery, Draft, Outbox

        for doc_id, blob in (Draft.select(Draft.document, Draft.signed_blob)
                             .join(Document, on=(Draft.document == Document.id)).where(window).tuples()):
            drafted.add(doc_id)
            if blob:
                signed.add(doc_id)
        exchanged |= {r[0] for r in Delivery.select(Delivery.document).join(
            Document, on=(Delivery.document == Document.id)).where(
            window & Delivery.kind.in_(("external", "local_agency"))).tuples()}
        exchanged |= {r[0] for r in Outbox.select(Outbox.document).join(
            Document, on=(Outbox.document == Document.id)).where(window & (Outbox.kind == "issue")).tuples()}
    return drafted, signed, exchanged


def _outgoing(lo: datetime, hi: datetime, out: dict) -> None:
    window = (Document.direction == "out") & (Document.created_at >= lo) & (Document.created_at < hi)
    drafted, signed, exchanged = _outgoing_facts(window)
    q = Document.select(Document.id, Document.agency, Document.medium, Document.doc_type,
                        Document.created_at).where(window).tuples()
    for doc_id, agency_id, medium, doc_type, created_at in q:
        row = out[(_day_of(created_at), agency_id)]
        if medium == "paper":
            row["outgoing_paper"] += 1
        elif PAPER_BY_DEFAULT.get(doc_type, 0):
            row["outgoing_electronic_paper"] += 1
        else:
            row["outgoing_electronic_only"] += 1
        row["outgoing_signed"] += doc_id in signed
        row["outgoing_handled"] += doc_id in drafted
        row["outgoing_exchanged"] += doc_id in exchanged


def compute(first: date, last: date) -> dict:
    """{day: {agency code: {field: int}}} for every day from first to last (inclusive) and every agency hosted
    here, zeros included: a zero day says "nothing registered", which the hub cannot tell from silence."""
    lo, hi = datetime.combine(first, time()), datetime.combine(last + timedelta(days=1), time())
    counts: dict = defaultdict(_blank)
    _incoming(lo, hi, counts)
    _outgoing(lo, hi, counts)
    agencies = dict(Agency.select(Agency.id, Agency.code).tuples())
    days = {}
    day = first
    while day <= last:
        days[day] = {code: dict(counts.get((day, agency_id)) or _blank()) for agency_id, code in agencies.items()}
        day += timedelta(days=1)
    return days


def digest(rows: dict) -> str:
    return hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest()


def _first_activity() -> date | None:
    first = Document.select(fn.MIN(Document.created_at)).scalar()
    return _day_of(first) if first else None


def due_days(today: date) -> dict:
    """The days to send now, with their figures: never sent, or changed since they were sent."""
    yesterday = today - timedelta(days=1)
    first = _first_activity()
    if first is None or first > yesterday:
        first = yesterday
    first = max(first, today - timedelta(days=MAX_BACKFILL_DAYS))
    sent = dict(ExchangeReportDay.select(ExchangeReportDay.day, ExchangeReportDay.digest).tuples())
    recent = today - timedelta(days=REFRESH_DAYS)
    missing = [d for d in _days(first, yesterday) if d not in sent]
    start = min([recent, *missing]) if missing else recent
    start = max(start, first)
    if start > yesterday:
        return {}
    days = compute(start, yesterday)
    return {d: rows for d, rows in days.items() if sent.get(d) != digest(rows)}


def _days(first: date, last: date):
    while first <= last:
        yield first
        first += timedelta(days=1)


def push_reports(ctx, client) -> dict:
    """Build and send the due days, DAYS_PER_REPORT per signed report; remember each day's digest once the hub
    has stored it. A transport failure stops the run: the rest goes next time."""
    from .node import config_of

    config = config_of(ctx)
    now = ctx.clock.now()
    due = due_days(ctx.clock.today())
    result = {"days": 0, "reports": 0}
    ordered = sorted(due)
    for i in range(0, len(ordered), DAYS_PER_REPORT):
        chunk = {d: due[d] for d in ordered[i:i + DAYS_PER_REPORT]}
        report = daily_xml.DailyReport(node=config.node_name or "node", generated_at=now, days=chunk)
        client.send_report(daily_xml.build(report, *config.signer))
        with write_transaction():
            for day, rows in chunk.items():
                fields = {"digest": digest(rows), "sent_at": now.replace(tzinfo=None)}
                ExchangeReportDay.insert(day=day, **fields).on_conflict(
                    conflict_target=[ExchangeReportDay.day], update=fields).execute()
        result["days"] += len(chunk)
        result["reports"] += 1
    return result
