"""Tables of the exchange (liên thông): the node's outbox, inbox and receipts; the hub's directory and queue.

Packages and status messages are kept as the signed edXML bytes in the blob store (content addressed), so the
rows stay small and a package relayed to five agencies is stored once.
"""
from __future__ import annotations

from peewee import BooleanField, CharField, DateField, DateTimeField, IntegerField, TextField

from .db import database
from .schema import BaseModel


class ExchangeOutbox(BaseModel):
    """One row per (message, recipient): written in the same transaction as the document change that causes it
    (transactional outbox, ARCHITECTURE §5); the push job delivers it to the hub, retrying with backoff."""

    message_id = CharField(max_length=40)  # uuid4 hex; the hub's idempotency key together with the recipient
    agency_code = CharField(max_length=35)  # sending agency hosted here
    recipient = CharField(max_length=35)  # OrganId of the receiving agency
    kind = CharField(max_length=8)  # package | status
    document_id = CharField(max_length=300)  # edXML DocumentId the message is about
    status_code = CharField(max_length=4, default="")  # status messages only
    local_document = IntegerField(null=True)  # Document.id on this node, when there is one
    blob_sha = CharField(max_length=64)
    size = IntegerField()
    state = CharField(max_length=8, default="pending")  # pending | sent | failed (permanent refusal)
    attempts = IntegerField(default=0)
    next_attempt_at = DateTimeField()
    last_error = TextField(default="")
    created_at = DateTimeField()
    sent_at = DateTimeField(null=True)

    class Meta:
        table_name = "exchange_outbox"
        indexes = ((("message_id", "recipient"), True), (("state", "next_attempt_at"), False))


class ExchangeInbox(BaseModel):
    """Every package or status received from the hub, stored before it is acknowledged. ``dedup_key`` makes a
    second delivery of the same DocumentId to the same recipient a no-op (exactly once in effect)."""

    hub_id = CharField(max_length=40)  # the hub's message id (for the logs; acks are sent right away)
    dedup_key = CharField(max_length=400, unique=True)
    kind = CharField(max_length=8)  # package | status
    agency_code = CharField(max_length=35)  # recipient hosted here
    sender = CharField(max_length=35, default="")  # From/OrganId (unverified until state says otherwise)
    sender_name = CharField(max_length=200, default="")
    document_id = CharField(max_length=300, default="")
    business_type = IntegerField(default=0)  # BussinessDocType of packages
    status_code = CharField(max_length=4, default="")
    subject = TextField(default="")
    blob_sha = CharField(max_length=64, default="")
    size = IntegerField(default=0)
    # pending (clerk queue) | accepted | refused | invalid (refused automatically) | applied (statuses)
    # | recall (a recall request waits for the clerk's answer)
    state = CharField(max_length=10)
    reason = TextField(default="")
    local_document = IntegerField(null=True)
    received_at = DateTimeField()
    decided_at = DateTimeField(null=True)
    decided_by = CharField(max_length=64, default="")

    class Meta:
        table_name = "exchange_inbox"
        indexes = ((("agency_code", "kind", "state"), False),)


class ExchangeReceipt(BaseModel):
    """The sender's view: each recipient's latest status for each document sent (DOMAIN §10: the sender sees
    the recipient's processing status)."""

    document_id = CharField(max_length=300)
    recipient = CharField(max_length=35)
    agency_code = CharField(max_length=35)  # the sender hosted here
    local_document = IntegerField(null=True)
    status_code = CharField(max_length=4)
    description = TextField(default="")
    status_at = DateTimeField()  # when the recipient says it happened
    updated_at = DateTimeField()

    class Meta:
        table_name = "exchange_receipt"
        indexes = ((("document_id", "recipient"), True),)


class HubAgency(BaseModel):
    """The province's agency directory, kept at the hub (DOMAIN §1)."""

    code = CharField(max_length=35, primary_key=True)
    old_code = CharField(max_length=13, null=True)
    name = CharField(max_length=200)
    parent_code = CharField(max_length=35, null=True)
    level = CharField(max_length=10, default="district")  # province | district | commune (DOMAIN §12)
    node = CharField(max_length=64)  # TLS client certificate CN of the server that hosts it
    active = BooleanField(default=True)

    class Meta:
        table_name = "hub_agency"


class HubMessage(BaseModel):
    """A package or status stored at the hub until the receiving node acknowledges it (store and forward)."""

    message_id = CharField(max_length=40)
    recipient = CharField(max_length=35)
    sender_node = CharField(max_length=64)
    from_organ = CharField(max_length=35, default="")
    kind = CharField(max_length=8)
    document_id = CharField(max_length=300, default="")
    status_code = CharField(max_length=4, default="")
    business_type = IntegerField(default=0)
    paper = IntegerField(default=0)  # Bussiness/Paper: 1 when a paper original follows
    signed = BooleanField(default=False)  # carried a verifiable XML-DSig of the sending system
    # a task notice (exchange/tasks.py: SteeringType 1 with a task part), not a document: kept out of the
    # document figures. Added by migration 11.
    task = BooleanField(default=False)
    blob_sha = CharField(max_length=64)
    size = IntegerField()
    # queued (waiting for the recipient's node) | upstream (to forward) | acked | forwarded
    state = CharField(max_length=10)
    ack_state = CharField(max_length=12, default="")
    attempts = IntegerField(default=0)
    next_attempt_at = DateTimeField(null=True)
    last_error = TextField(default="")
    received_at = DateTimeField()
    done_at = DateTimeField(null=True)

    class Meta:
        table_name = "hub_message"
        indexes = ((("message_id", "recipient"), True), (("recipient", "state"), False),
                   (("state", "next_attempt_at"), False))


class ExchangeReportDay(BaseModel):
    """Node: the last figures of each day the hub has stored (exchange/daily.py), to send a day again only
    when its figures changed."""

    day = DateField(primary_key=True)
    digest = CharField(max_length=64)
    sent_at = DateTimeField()

    class Meta:
        table_name = "exchange_report_day"


class HubReport(BaseModel):
    """Hub: one signed daily statistics report as received (the evidence of what a node reported). Dropped with
    its bytes once every agency-day it carried has been replaced by a newer report."""

    node = CharField(max_length=64)
    generated_at = DateTimeField()  # Vietnam local time, naive
    received_at = DateTimeField()
    blob_sha = CharField(max_length=64)
    size = IntegerField()

    class Meta:
        table_name = "hub_report"


def _count():
    return IntegerField(default=0)


class HubDailyFigure(BaseModel):
    """Hub: one agency's figures for one day as its node last reported them (exchange/daily_xml.FIELDS).
    (agency, day) is unique: a newer report replaces the row."""

    agency = CharField(max_length=35)
    day = DateField()
    node = CharField(max_length=64)
    report = IntegerField()  # HubReport.id
    generated_at = DateTimeField()
    incoming_paper = _count()
    incoming_electronic = _count()
    incoming_handled = _count()
    incoming_completed = _count()
    incoming_processing_seconds = _count()
    outgoing_electronic_only = _count()
    outgoing_electronic_paper = _count()
    outgoing_paper = _count()
    outgoing_signed = _count()
    outgoing_handled = _count()
    outgoing_exchanged = _count()

    class Meta:
        table_name = "hub_daily_figure"
        indexes = ((("agency", "day"), True), (("day",), False), (("report",), False))


EXCHANGE_MODELS = [ExchangeOutbox, ExchangeInbox, ExchangeReceipt, HubAgency, HubMessage]
DAILY_MODELS = [ExchangeReportDay, HubReport, HubDailyFigure]


def create_exchange_tables() -> None:
    """Migration 4 (models/migrations.py). safe=True: re-running it changes nothing."""
    database.create_tables(EXCHANGE_MODELS, safe=True)


def create_daily_tables() -> None:
    """Migration 11: the daily statistics reports (node and hub tables; both roles run one schema), and the
    hub's task flag on relayed messages. Re-running it changes nothing."""
    database.create_tables(DAILY_MODELS, safe=True)
    columns = {c.name for c in database.get_columns("hub_message")}
    if "task" not in columns:
        database.execute_sql("ALTER TABLE hub_message ADD COLUMN task INTEGER NOT NULL DEFAULT 0")
