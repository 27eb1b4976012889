"""Tables of the audit-head witness (ARCHITECTURE §4: the hub countersigns each node's audit-log head).

A node keeps the receipts the hub signed for its heads (audit_receipt); the hub keeps every head it witnessed
(hub_audit_head, append-only), the certificates it signed them with, and the conflicts it refused
(hub_audit_conflict). Both roles run one schema, as for the other exchange tables. See exchange/witness.py.
"""
from __future__ import annotations

from peewee import CharField, DateTimeField, IntegerField, TextField

from .db import database
from .schema import BaseModel


class AuditReceipt(BaseModel):
    """Node: the hub's signed statement that it saw this node's audit log end at ``entry_id`` with ``hash``.
    The signed fields are kept as signed (witnessed_at as text), so `vanban audit verify` can check the
    signature again years later."""

    hub = CharField(max_length=64)  # CN of the hub's signing certificate
    line = IntegerField()  # the hub's line for this node: +1 after each acknowledged rollback
    entry_id = IntegerField()
    hash = CharField(max_length=64)
    count = IntegerField()
    witnessed_at = CharField(max_length=40)  # ISO 8601 with offset, the hub's clock
    signature = TextField()  # base64
    certificate = TextField()  # PEM of the certificate that signed it
    received_at = DateTimeField()

    class Meta:
        table_name = "audit_receipt"
        indexes = ((("line", "entry_id"), True),)


class HubAuditHead(BaseModel):
    """Hub: one head witnessed for one node, in the node's current line. Never updated nor deleted (triggers)."""

    node = CharField(max_length=64)  # TLS client certificate CN of the caller
    hub = CharField(max_length=64)  # CN of the certificate that signed the receipt
    line = IntegerField()
    entry_id = IntegerField()
    hash = CharField(max_length=64)
    count = IntegerField()
    entry_at = CharField(max_length=40, default="")  # time of the head entry as the node stated it (not signed)
    witnessed_at = CharField(max_length=40)
    signer = CharField(max_length=64)  # HubAuditSigner.fingerprint
    signature = TextField()

    class Meta:
        table_name = "hub_audit_head"
        indexes = ((("node", "line", "entry_id"), True),)


class HubAuditSigner(BaseModel):
    """Hub: the certificates receipts were signed with, once each (the signing key is rotated now and then;
    a receipt handed out again later must come with the certificate that signed it)."""

    fingerprint = CharField(max_length=64, primary_key=True)  # SHA-256 of the DER
    pem = TextField()

    class Meta:
        table_name = "hub_audit_signer"


class HubAuditConflict(BaseModel):
    """Hub: a head that contradicts what was witnessed for the node (a cut or rewritten log, or a restore from
    backup). At most one is open per node; while it is, the node's heads are refused. The IT centre
    acknowledges it (`vanban hub audit-ack`), which starts a new line for the node."""

    node = CharField(max_length=64)
    line = IntegerField()
    kind = CharField(max_length=20)  # rollback | hash_mismatch | diverged | count_mismatch
    message = TextField()
    witnessed_head = IntegerField()  # HubAuditHead.id it contradicts
    entry_id = IntegerField()  # the offered head
    hash = CharField(max_length=64)
    count = IntegerField()
    entry_at = CharField(max_length=40, default="")
    previous_hash = CharField(max_length=64, default="")  # the node's hash of the witnessed entry ("" missing)
    detected_at = DateTimeField()
    repeats = IntegerField(default=0)  # heads refused since, while it stayed open
    last_seen_at = DateTimeField()
    acknowledged_at = DateTimeField(null=True)
    acknowledged_by = CharField(max_length=64, default="")
    note = TextField(default="")

    class Meta:
        table_name = "hub_audit_conflict"
        indexes = ((("node", "acknowledged_at"), False),)


WITNESS_MODELS = [AuditReceipt, HubAuditHead, HubAuditSigner, HubAuditConflict]

# The hub's record of what it witnessed is evidence: the app never changes or removes a row. (Someone with the
# database file can drop the triggers; they stop mistakes and careless scripts, not the owner of the disk.)
_APPEND_ONLY = [
    "CREATE TRIGGER IF NOT EXISTS hub_audit_head_no_update BEFORE UPDATE ON hub_audit_head "
    "BEGIN SELECT RAISE(ABORT, 'hub_audit_head is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS hub_audit_head_no_delete BEFORE DELETE ON hub_audit_head "
    "BEGIN SELECT RAISE(ABORT, 'hub_audit_head is append-only'); END",
]


def create_witness_tables() -> None:
    """Migration 12 (models/migrations.py). Re-running it changes nothing."""
    database.create_tables(WITNESS_MODELS, safe=True)
    for sql in _APPEND_ONLY:
        database.execute_sql(sql)
