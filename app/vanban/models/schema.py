"""peewee models. Only this package writes SQL (ARCHITECTURE §3)."""
from __future__ import annotations

from peewee import (
    BooleanField,
    CharField,
    DateField,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
)

from .db import database


# Date-times are stored as naive Vietnam local time (UTC+07:00, no daylight saving): registers, deadlines and
# the working day are all local, and peewee reads naive values back without guessing.
class BaseModel(Model):
    class Meta:
        database = database
        legacy_table_names = False


class SchemaVersion(BaseModel):
    version = IntegerField(primary_key=True)
    applied_at = DateTimeField()


class Agency(BaseModel):
    # QĐ 20/2020/QĐ-TTg: electronic id up to 35 chars; the older QCVN 102:2016 form is 13 chars.
    code = CharField(max_length=35, unique=True)
    old_code = CharField(max_length=13, null=True)
    name = CharField(max_length=200)
    abbreviation = CharField(max_length=20)  # the agency part of a notation: UBND, SNV ...
    parent_code = CharField(max_length=35, null=True)
    address = CharField(max_length=300, default="")
    # NĐ 30/2020 Điều 15: one sequence for all administrative documents, or one per type.
    numbering = CharField(max_length=10, default="shared")
    require_valid_signature = BooleanField(default=True)
    created_at = DateTimeField()


class Department(BaseModel):
    agency = ForeignKeyField(Agency, backref="departments", on_delete="RESTRICT")
    name = CharField(max_length=200)
    abbreviation = CharField(max_length=20)  # the unit part of a Công văn notation: VP, VX ...
    active = BooleanField(default=True)

    class Meta:
        indexes = ((("agency", "abbreviation"), True),)


class User(BaseModel):
    agency = ForeignKeyField(Agency, backref="users", on_delete="RESTRICT")
    department = ForeignKeyField(Department, null=True, backref="members", on_delete="SET NULL")
    username = CharField(max_length=64, unique=True)
    full_name = CharField(max_length=120)
    position = CharField(max_length=120, default="")
    email = CharField(max_length=200, default="")
    password_hash = CharField(max_length=200)
    roles = CharField(max_length=100)  # comma separated subset of core.accounts.ROLES, scoped to .agency
    active = BooleanField(default=True)
    created_at = DateTimeField()

    @property
    def role_set(self) -> frozenset[str]:
        return frozenset(r for r in self.roles.split(",") if r)


class Session(BaseModel):
    token_hash = CharField(max_length=64, primary_key=True)  # sha256 of the cookie; the raw token is never stored
    user = ForeignKeyField(User, backref="sessions", on_delete="CASCADE")
    csrf_token = CharField(max_length=64)
    created_at = DateTimeField()
    expires_at = DateTimeField(index=True)


class LoginFailure(BaseModel):
    key = CharField(max_length=200, index=True)  # "u:<username>" or "ip:<address>"
    at = DateTimeField()


class Register(BaseModel):
    """A book (sổ) in which documents are registered and numbered."""

    agency = ForeignKeyField(Agency, backref="registers", on_delete="RESTRICT")
    kind = CharField(max_length=10)  # incoming | outgoing
    name = CharField(max_length=200)
    confidential = BooleanField(default=False)
    active = BooleanField(default=True)


class Counter(BaseModel):
    """Last number given per register, year and sequence; read and bumped under BEGIN IMMEDIATE."""

    register = ForeignKeyField(Register, on_delete="CASCADE")
    year = IntegerField()
    sequence = CharField(max_length=20, default="")
    last = IntegerField(default=0)

    class Meta:
        indexes = ((("register", "year", "sequence"), True),)


class Document(BaseModel):
    agency = ForeignKeyField(Agency, backref="documents", on_delete="RESTRICT")
    direction = CharField(max_length=3)  # in | out
    register = ForeignKeyField(Register, null=True, on_delete="RESTRICT")
    year = IntegerField()
    arrival_number = IntegerField(null=True)
    arrival_at = DateTimeField(null=True)
    issuer_name = CharField(max_length=200, default="")
    issuer_code = CharField(max_length=35, null=True)
    number = CharField(max_length=11, default="")
    notation = CharField(max_length=30, default="")
    doc_date = DateField(null=True)
    doc_type = CharField(max_length=8)
    subject = TextField()
    urgency = IntegerField(default=0)
    confidentiality = IntegerField(default=0)
    deadline = DateField(null=True)
    medium = CharField(max_length=12, default="electronic")  # electronic | paper
    status = CharField(max_length=16, default="registered")
    created_by = ForeignKeyField(User, on_delete="RESTRICT")
    created_at = DateTimeField()
    closed_at = DateTimeField(null=True)
    notes = TextField(default="")

    class Meta:
        indexes = (
            (("agency", "direction", "register", "year", "arrival_number"), False),
            (("agency", "issuer_name", "number", "notation", "year"), False),
            (("agency", "arrival_at"), False),
        )


class Blob(BaseModel):
    sha256 = CharField(max_length=64, primary_key=True)
    size = IntegerField()
    created_at = DateTimeField()


class Attachment(BaseModel):
    document = ForeignKeyField(Document, backref="attachments", on_delete="CASCADE")
    blob = ForeignKeyField(Blob, on_delete="RESTRICT")  # column blob_id holds the sha256
    filename = CharField(max_length=255)
    content_type = CharField(max_length=100)
    size = IntegerField()
    uploaded_by = ForeignKeyField(User, on_delete="RESTRICT")
    created_at = DateTimeField()
    text_status = CharField(max_length=10, default="pending")  # pending | done | none | failed


class Assignment(BaseModel):
    """One edge of the routing tree: who gave the document to whom, in which role, by when."""

    document = ForeignKeyField(Document, backref="assignments", on_delete="CASCADE")
    parent = ForeignKeyField("self", null=True, backref="children", on_delete="CASCADE")
    assigner = ForeignKeyField(User, on_delete="RESTRICT", backref="given")
    assignee = ForeignKeyField(User, null=True, on_delete="RESTRICT", backref="received")
    department = ForeignKeyField(Department, null=True, on_delete="RESTRICT")
    role = CharField(max_length=8)  # present | lead | co | info
    instruction = TextField(default="")
    deadline = DateField(null=True)
    status = CharField(max_length=12, default="waiting")  # waiting | in_progress | done
    created_at = DateTimeField()
    done_at = DateTimeField(null=True)

    class Meta:
        indexes = (
            (("assignee", "status", "deadline"), False),
            (("department", "status"), False),
        )


class Event(BaseModel):
    """The document's processing history: comments, forwards, files, completions (Phụ lục VI)."""

    document = ForeignKeyField(Document, backref="events", on_delete="CASCADE")
    user = ForeignKeyField(User, on_delete="RESTRICT")
    kind = CharField(max_length=16)
    text = TextField(default="")
    attachment = ForeignKeyField(Attachment, null=True, on_delete="SET NULL")
    created_at = DateTimeField()


class AuditEntry(BaseModel):
    """Append-only; each row carries the hash of the previous one (see core/audit.py)."""

    at = CharField(max_length=40)  # ISO 8601 with +07:00, kept as text so the hashed bytes never change
    agency_code = CharField(max_length=35, default="")
    username = CharField(max_length=64, default="")
    action = CharField(max_length=40)
    object_type = CharField(max_length=20, default="")
    object_id = CharField(max_length=40, default="")
    detail = TextField(default="{}")
    prev_hash = CharField(max_length=64)
    hash = CharField(max_length=64)


ALL_MODELS = [
    SchemaVersion, Agency, Department, User, Session, LoginFailure, Register, Counter, Document, Blob,
    Attachment, Assignment, Event, AuditEntry,
]
