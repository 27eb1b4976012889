"""Outgoing documents (NĐ 30/2020 Điều 10–19): drafts and their versions, signing, issue, delivery, recall.

An issued draft becomes an ordinary Document (direction "out") so search, inbox and reports see it; the tables
here keep what only the outgoing workflow needs. `outbox` is the transactional outbox the exchange delivers
from (ARCHITECTURE §5): its rows are written in the same transaction as the issue or the recall.
"""
from __future__ import annotations

from peewee import CharField, DateField, DateTimeField, ForeignKeyField, IntegerField, TextField

from .schema import Agency, Assignment, BaseModel, Blob, Department, Document, User


class Draft(BaseModel):
    """A document being drafted (dự thảo) until it is issued (phát hành)."""

    agency = ForeignKeyField(Agency, backref="drafts", on_delete="RESTRICT")
    department = ForeignKeyField(Department, null=True, on_delete="RESTRICT")  # drafting unit: Công văn notation
    drafter = ForeignKeyField(User, backref="drafts", on_delete="RESTRICT")
    doc_type = CharField(max_length=8)
    subject = TextField()
    urgency = IntegerField(default=0)
    confidentiality = IntegerField(default=0)
    reply_due = DateField(null=True)
    signer = ForeignKeyField(User, null=True, backref="drafts_to_sign", on_delete="RESTRICT")
    authority_prefix = CharField(max_length=5, default="")  # "" | TM. | Q. | KT. | TL. | TUQ.
    on_behalf_of = CharField(max_length=120, default="")  # "Chủ tịch" in "KT. CHỦ TỊCH"
    signer_title = CharField(max_length=120, default="")  # "Phó Chủ tịch"
    # drafting | submitted | signed | issued | recalled
    status = CharField(max_length=12, default="drafting", index=True)
    current_version = IntegerField(default=0)
    signed_blob = CharField(max_length=64, null=True)  # sha256 of the PDF with the person's signature
    signed_version = IntegerField(null=True)
    signed_at = DateTimeField(null=True)
    document = ForeignKeyField(Document, null=True, backref="drafts", on_delete="RESTRICT")
    issued_by = ForeignKeyField(User, null=True, backref="issued_drafts", on_delete="RESTRICT")
    issued_at = DateTimeField(null=True)
    recalled_by = ForeignKeyField(User, null=True, backref="recalled_drafts", on_delete="RESTRICT")
    recalled_at = DateTimeField(null=True)
    recall_reason = TextField(default="")
    created_at = DateTimeField()
    updated_at = DateTimeField()

    class Meta:
        table_name = "outgoing_draft"


class DraftVersion(BaseModel):
    """Each edit is a new version; approvals belong to a version, so an edit after approval needs a new one."""

    draft = ForeignKeyField(Draft, backref="versions", on_delete="CASCADE")
    number = IntegerField()
    note = TextField(default="")
    created_by = ForeignKeyField(User, on_delete="RESTRICT")
    created_at = DateTimeField()
    content_approved_by = ForeignKeyField(User, null=True, backref="+", on_delete="RESTRICT")
    content_approved_at = DateTimeField(null=True)
    format_approved_by = ForeignKeyField(User, null=True, backref="+", on_delete="RESTRICT")
    format_approved_at = DateTimeField(null=True)

    class Meta:
        table_name = "outgoing_version"
        indexes = ((("draft", "number"), True),)


class DraftFile(BaseModel):
    version = ForeignKeyField(DraftVersion, backref="files", on_delete="CASCADE")
    role = CharField(max_length=10)  # main | attachment
    position = IntegerField(default=0)
    blob = ForeignKeyField(Blob, on_delete="RESTRICT")
    filename = CharField(max_length=255)
    content_type = CharField(max_length=100)
    size = IntegerField()

    class Meta:
        table_name = "outgoing_file"


class DraftEvent(BaseModel):
    """Comments on a version and every step of the workflow, in order (Phụ lục VI: processing history)."""

    draft = ForeignKeyField(Draft, backref="events", on_delete="CASCADE")
    version = IntegerField(null=True)
    user = ForeignKeyField(User, on_delete="RESTRICT")
    kind = CharField(max_length=20)
    text = TextField(default="")
    created_at = DateTimeField()

    class Meta:
        table_name = "outgoing_event"


class DraftRecipient(BaseModel):
    """Nơi nhận: a unit or person of the agency, or an agency by its code (hosted here or elsewhere)."""

    draft = ForeignKeyField(Draft, backref="recipients", on_delete="CASCADE")
    kind = CharField(max_length=8)  # dept | user | agency
    department = ForeignKeyField(Department, null=True, on_delete="RESTRICT")
    user = ForeignKeyField(User, null=True, backref="+", on_delete="RESTRICT")
    organ_id = CharField(max_length=35, null=True)
    name = CharField(max_length=200, default="")
    purpose = CharField(max_length=8, default="handle")  # handle | info

    class Meta:
        table_name = "outgoing_recipient"


class Delivery(BaseModel):
    """Where an issued document went, so a recall can reach every copy."""

    document = ForeignKeyField(Document, backref="deliveries", on_delete="CASCADE")
    kind = CharField(max_length=12)  # local_agency | unit | user | external
    organ_id = CharField(max_length=35, null=True)
    recipient_document = ForeignKeyField(Document, null=True, backref="+", on_delete="SET NULL")
    assignment = ForeignKeyField(Assignment, null=True, backref="+", on_delete="SET NULL")
    created_at = DateTimeField()

    class Meta:
        table_name = "outgoing_delivery"


class Outbox(BaseModel):
    """Transactional outbox for the exchange (liên thông): one row per external recipient and message."""

    agency = ForeignKeyField(Agency, on_delete="RESTRICT")  # the sender
    document = ForeignKeyField(Document, backref="outbox", on_delete="RESTRICT")
    organ_id = CharField(max_length=35)  # the recipient's agency code
    kind = CharField(max_length=12, default="issue")  # issue | recall
    status = CharField(max_length=12, default="pending")  # pending | sent | failed (exchange owns the rest)
    attempts = IntegerField(default=0)
    next_attempt_at = DateTimeField()
    created_at = DateTimeField()
    last_error = TextField(default="")

    class Meta:
        table_name = "outbox"
        indexes = ((("status", "next_attempt_at"), False),)


class SignatureImage(BaseModel):
    """A person's handwritten signature (blue) or an agency's seal (red), transparent PNG (Phụ lục I)."""

    kind = CharField(max_length=10)  # signature | seal
    user = ForeignKeyField(User, null=True, unique=True, backref="+", on_delete="CASCADE")
    agency = ForeignKeyField(Agency, null=True, unique=True, backref="+", on_delete="CASCADE")
    blob = ForeignKeyField(Blob, on_delete="RESTRICT")
    created_at = DateTimeField()

    class Meta:
        table_name = "signature_image"


class FormatApprover(BaseModel):
    """People the agency names to approve the format (thể thức) of drafts, besides its clerks."""

    agency = ForeignKeyField(Agency, on_delete="CASCADE")
    user = ForeignKeyField(User, backref="+", on_delete="CASCADE")

    class Meta:
        table_name = "format_approver"
        indexes = ((("agency", "user"), True),)


OUTGOING_MODELS = [Draft, DraftVersion, DraftFile, DraftEvent, DraftRecipient, Delivery, Outbox, SignatureImage,
                   FormatApprover]
