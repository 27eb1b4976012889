"""Incoming documents (NĐ 30/2020 Điều 20–24): receive, register, present to a leader."""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

from ..errors import Conflict, Invalid
from ..models import write_transaction
from ..models.schema import Assignment, Attachment, Blob, Document, Register, User
from . import audit, forms, indexing
from .accounts import require_role
from .doctypes import CONFIDENTIALITY, MEDIUM, TYPE_NAMES, URGENCY
from .files import check_content, clean_filename, extension
from .numbering import next_number


@dataclass
class Upload:
    """A file staged on disk (core.blobs.StagedFile) with the name the user gave it."""

    filename: str
    staged: object
    content_type: str = ""


def accept_upload(ctx, filename: str, stream, max_bytes: int) -> Upload:
    """Stage one uploaded file: safe name, allowed type, content matches extension, virus-free."""
    name = clean_filename(filename)
    ext = extension(name)
    staged = ctx.blobs.stage(stream, max_bytes)
    try:
        content_type = check_content(ext, staged.head, lambda: open(staged.path, "rb"))
        _scan(ctx, staged, name)
    except BaseException:
        staged.discard()
        raise
    return Upload(name, staged, content_type)


def _scan(ctx, staged, name):
    from ..antivirus import ScannerUnavailable
    from ..errors import Rejected
    from ..metrics import AV_SCANS

    try:
        result = ctx.scanner.scan_file(staged.path)
    except ScannerUnavailable as exc:
        AV_SCANS.labels("error").inc()
        if ctx.settings.antivirus_required:
            raise Rejected("Không kiểm tra được virus (dịch vụ ClamAV không sẵn sàng); tệp chưa được nhận. "
                           "Báo quản trị hệ thống.", code="antivirus_unavailable") from exc
        return
    if not result.clean:
        AV_SCANS.labels("infected").inc()
        ctx.blobs.quarantine_file(staged, f"{name}: {result.signature}")
        raise Rejected(f"Tệp {name} nhiễm mã độc ({result.signature}); đã cách ly, không lưu.",
                       code="file_infected")
    AV_SCANS.labels("clean").inc()


def discard_uploads(uploads) -> None:
    for up in uploads:
        up.staged.discard()


def _fields(ctx, actor, data) -> dict:
    issuer = forms.text(data, "issuer_name", "Cơ quan ban hành", max_len=200)
    number, notation = forms.number_notation(data)
    doc_date = forms.parse_date(data, "doc_date", "Ngày văn bản")
    if doc_date > ctx.clock.today():
        raise Invalid("Ngày văn bản không thể sau ngày hôm nay.", code="bad_date:doc_date", field="doc_date")
    deadline = forms.parse_date(data, "deadline", "Hạn xử lý", required=False)
    if deadline and deadline < doc_date:
        raise Invalid("Hạn xử lý trước ngày văn bản.", code="bad_date:deadline", field="deadline")
    register = Register.get_or_none((Register.id == forms.integer(data, "register_id", "Sổ đăng ký")) &
                                    (Register.agency == actor.agency_id) & (Register.kind == "incoming") &
                                    (Register.active == True))  # noqa: E712
    if register is None:
        raise Invalid("Sổ đăng ký không hợp lệ.", code="invalid:register_id", field="register_id")
    confidentiality = forms.choice(data, "confidentiality", "Độ mật", CONFIDENTIALITY, default=0, cast=int)
    return {
        "issuer_name": issuer, "issuer_code": forms.text(data, "issuer_code", "Mã cơ quan ban hành",
                                                         required=False, max_len=35).upper() or None,
        "number": number, "notation": notation, "doc_date": doc_date,
        "doc_type": forms.choice(data, "doc_type", "Loại văn bản", TYPE_NAMES),
        "subject": forms.text(data, "subject", "Trích yếu", max_len=500),
        "urgency": forms.choice(data, "urgency", "Độ khẩn", URGENCY, default=0, cast=int),
        "confidentiality": confidentiality, "deadline": deadline, "register": register,
        "medium": forms.choice(data, "medium", "Hình thức", MEDIUM, default="electronic"),
        "notes": forms.text(data, "notes", "Ghi chú", required=False, max_len=1000),
    }


def find_duplicates(agency_id, issuer_name, number, notation, year):
    """NĐ 30/2020 Điều 15/22: warn on the same issuer, number, notation and year."""
    from ..text import fold

    return [d for d in Document.select().where(
        (Document.agency == agency_id) & (Document.direction == "in") & (Document.number == number) &
        (Document.notation == notation) & (Document.year == year))
        if fold(d.issuer_name) == fold(issuer_name)]


def register_incoming(ctx, actor: User, data: dict, uploads: list[Upload]) -> Document:
    """Register an incoming document with its files; gives it the register's next arrival number."""
    try:
        require_role(actor, "clerk")
        fields = _fields(ctx, actor, data)
        if fields["medium"] == "electronic" and not uploads:
            raise Invalid("Văn bản điện tử phải có ít nhất một tệp đính kèm.", code="missing:files",
                          field="files")
        dups = find_duplicates(actor.agency_id, fields["issuer_name"], fields["number"], fields["notation"],
                               fields["doc_date"].year)
        if dups and not forms.flag(data, "confirm_duplicate"):
            first = dups[0]
            raise Conflict(f"Văn bản {fields['number']}/{fields['notation']} của {fields['issuer_name']} đã được "
                           f"đăng ký (số đến {first.arrival_number}/{first.year}). Đánh dấu \"Vẫn đăng ký\" nếu "
                           f"đây là bản khác.", code="duplicate")
        # Outgoing/signing (issue 3): Agency.require_valid_signature refuses a PDF whose signature fails.
        from .signing_service import check_incoming_signatures
        check_incoming_signatures(ctx, actor, fields["medium"], uploads)
    except BaseException:
        discard_uploads(uploads)
        raise
    now = ctx.clock.now()
    try:
        with write_transaction(), blob_guard(ctx) as new_blobs:
            year = now.year
            doc = Document.create(
                agency=actor.agency_id, direction="in", year=year,
                arrival_number=next_number(fields["register"].id, year), arrival_at=now.replace(tzinfo=None),
                created_by=actor, created_at=now.replace(tzinfo=None), status="registered", **fields)
            new_blobs += attach_files(ctx, doc, actor, uploads)
            indexing.index_document(doc)
            audit.record(now, actor, "incoming.register", "document", doc.id,
                         {"arrival_number": doc.arrival_number, "notation": f"{doc.number}/{doc.notation}",
                          "files": [u.staged.sha256 for u in uploads]})
    except BaseException:
        discard_uploads(uploads)
        raise
    indexing.queue_text_extraction(ctx, doc)
    return doc


@contextmanager
def blob_guard(ctx):
    """Yields a list the caller appends the blobs it newly created to; if the block fails they are removed
    while the write lock is still held (this runs inside write_transaction), so a concurrent request storing
    the same content cannot commit a row naming a file about to disappear: it finds no file and writes its
    own."""
    created: list[str] = []
    try:
        yield created
    except BaseException:
        for sha in created:
            ctx.blobs.remove(sha)
        raise


def attach_files(ctx, doc, actor, uploads) -> list[str]:
    """Move staged files into the blob store and add their rows; returns the blobs that are new, so the caller
    can delete them if its transaction rolls back (no orphan file is left behind)."""
    created = []
    now = ctx.clock.local()
    for up in uploads:
        sha, size = up.staged.sha256, up.staged.size
        if ctx.blobs.commit(up.staged):
            created.append(sha)
        Blob.insert(sha256=sha, size=size, created_at=now).on_conflict_ignore().execute()
        Attachment.create(document=doc, blob=sha, filename=up.filename, content_type=up.content_type, size=size,
                          uploaded_by=actor, created_at=now)
    return created


def present(ctx, actor: User, doc: Document, leader_id, note: str = "") -> Assignment:
    """Clerk presents (trình) the document to a leader for instructions."""
    from .routing import load_for_action, pick_user

    require_role(actor, "clerk")
    now = ctx.clock.now()
    with write_transaction():
        doc = load_for_action(actor, doc.id)
        if doc.status not in ("registered", "presented"):
            from ..errors import InvalidTransition

            raise InvalidTransition("Văn bản đã được chỉ đạo xử lý, không trình lại.", code="already_assigned")
        leader = pick_user(actor.agency_id, leader_id, "leader", label="Lãnh đạo")
        a = Assignment.create(document=doc, assigner=actor, assignee=leader, role="present",
                              instruction=forms.text({"n": note}, "n", "Ghi chú", required=False, max_len=2000),
                              deadline=doc.deadline, created_at=now.replace(tzinfo=None))
        Document.update(status="presented").where(Document.id == doc.id).execute()
        audit.record(now, actor, "incoming.present", "document", doc.id, {"leader": leader.username})
    return a
