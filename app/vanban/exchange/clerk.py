"""The clerk's queue of documents received through the exchange (NĐ 30/2020 Điều 20–21, DOMAIN §5, §11).

The clerk checks authenticity and integrity (the system's XML-DSig over the envelope and manifest, the PAdES
signatures in each PDF), then accepts — the document is registered as incoming (core/incoming) and the sender
gets 03 — or refuses with a reason (02). Updates (BussinessDocType 2) attach the new files to the copy already
registered; replacements (3) register the new document and withdraw the one it replaces; revocations (1) and
recall requests (status 13) withdraw the local copy when the clerk agrees (15) or not (16).
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field

from ..core import audit
from ..core.accounts import require_role
from ..core.doctypes import TYPE_NAMES
from ..core.incoming import accept_upload, attach_files, blob_guard, discard_uploads, register_incoming
from ..errors import Invalid, InvalidTransition, NotFound
from ..models import write_transaction
from ..models.exchange import ExchangeInbox
from ..models.schema import Agency, Document, Event, Register
from . import edxml
from .codes import BusinessDocType, EdxmlError, StatusCode
from .node import config_of, enqueue_status

BUSINESS_LABELS = {0: "Văn bản mới", 1: "Thu hồi văn bản", 2: "Cập nhật văn bản", 3: "Thay thế văn bản"}
_TYPE_CODES = {name.casefold(): code for code, name in TYPE_NAMES.items()}


@dataclass
class Inspection:
    row: ExchangeInbox
    package: edxml.Package | None = None
    error: str = ""  # Vietnamese reason when the package no longer verifies
    pdf_checks: list = field(default_factory=list)  # (file name, verdict, signer names)


def queue(user) -> list[ExchangeInbox]:
    require_role(user, "clerk")
    return list(ExchangeInbox.select().where((ExchangeInbox.agency_code == user.agency.code) &
                                             ExchangeInbox.state.in_(("pending", "recall")))
                .order_by(ExchangeInbox.received_at))


def history(user, limit: int = 100) -> list[ExchangeInbox]:
    require_role(user, "clerk", "leader", "admin")
    return list(ExchangeInbox.select().where(ExchangeInbox.agency_code == user.agency.code)
                .order_by(ExchangeInbox.id.desc()).limit(limit))


def get_item(user, inbox_id) -> ExchangeInbox:
    require_role(user, "clerk")
    try:
        row = ExchangeInbox.get_or_none(ExchangeInbox.id == int(inbox_id))
    except (TypeError, ValueError):
        row = None
    if row is None or row.agency_code != user.agency.code:
        raise NotFound("Không tìm thấy văn bản liên thông.", code="exchange_item_not_found")
    return row


def _load(ctx, row) -> edxml.Package:
    """Verify again from the stored bytes: what the clerk sees is what was signed, checked now."""
    config = config_of(ctx)
    with ctx.blobs.open(row.blob_sha) as fh:
        return edxml.parse_package(fh, trusted_certs=config.trusted_certs, max_bytes=config.max_bytes + 1,
                                   max_attachment_bytes=config.max_bytes)


def inspect(ctx, user, inbox_id) -> Inspection:
    row = get_item(user, inbox_id)
    result = Inspection(row)
    if row.kind != "package" or not row.blob_sha:
        return result
    try:
        result.package = _load(ctx, row)
    except EdxmlError as exc:
        result.error = exc.reason
        return result
    result.pdf_checks = [_pdf_check(ctx, a) for a in result.package.attachments if a.content_type.endswith("pdf")]
    return result


def _pdf_check(ctx, att) -> tuple[str, str, list[str]]:
    from ..signing import SigningError
    from ..signing.pdf import verify_pdf

    trusted = config_of(ctx).trusted_certs
    extra = []
    pki_dir = ctx.settings.data_path / "pki"
    if (pki_dir / "root" / "ca.crt").exists():
        from ..signing.pki import Pki

        store = Pki(pki_dir).trust_store()
        extra, trusted = list(store.intermediates), list(trusted) + list(store.roots)
    try:
        report = verify_pdf(att.data, trust_roots=trusted, other_certs=extra)
    except SigningError as exc:
        return att.name, "invalid", [exc.message]
    return att.name, report.verdict, [s.signer_common_name or "?" for s in report.signatures]


def _default_register(agency_id: int) -> int:
    reg = (Register.select().where((Register.agency == agency_id) & (Register.kind == "incoming") &
                                   (Register.confidential == False) & (Register.active == True))  # noqa: E712
           .order_by(Register.id).first())
    if reg is None:
        raise Invalid("Cơ quan chưa có sổ văn bản đến.", code="incoming_register_missing")
    return reg.id


def _fields(pkg: edxml.Package, register_id, confirm_duplicate: bool) -> dict:
    doc_type = _TYPE_CODES.get(pkg.type_name.casefold(), "CV")
    urgency = pkg.other_info.priority if pkg.other_info.priority in (0, 1, 2, 3) else 3
    deadline = pkg.due_date if pkg.due_date and pkg.due_date >= pkg.promulgation_date else None
    return {"register_id": str(register_id), "issuer_name": (pkg.from_org.organ_name or pkg.from_org.organ_id)[:200],
            "issuer_code": pkg.from_org.organ_id, "number_notation": f"{pkg.code_number}/{pkg.code_notation}",
            "doc_date": pkg.promulgation_date.isoformat(), "doc_type": doc_type, "subject": pkg.subject[:500],
            "urgency": str(urgency), "confidentiality": "0",
            "deadline": deadline.isoformat() if deadline else "", "medium": "electronic",
            "notes": "Nhận qua trục liên thông" + (" (kèm bản giấy)" if pkg.business.paper else ""),
            "confirm_duplicate": "1" if confirm_duplicate else ""}


def _uploads(ctx, pkg: edxml.Package) -> list:
    max_bytes = config_of(ctx).max_bytes
    uploads = []
    try:
        for att in pkg.attachments:
            uploads.append(accept_upload(ctx, att.name, io.BytesIO(att.data), max_bytes))
    except BaseException:
        discard_uploads(uploads)
        raise
    return uploads


def _decide(row, now, user, state, reason="", local_document=None) -> None:
    ExchangeInbox.update(state=state, reason=reason[:2000], decided_at=now.replace(tzinfo=None),
                         decided_by=user.username, local_document=local_document or row.local_document).where(
        ExchangeInbox.id == row.id).execute()


def _pending(row) -> None:
    if row.state != "pending":
        raise InvalidTransition("Văn bản này đã được xử lý.", code="already_decided")


def accept(ctx, user, inbox_id, *, register_id=None, confirm_duplicate=False) -> Document:
    """Register the received document (status 03), or apply an update / replacement / revocation (15)."""
    row = get_item(user, inbox_id)
    _pending(row)
    pkg = _load(ctx, row)
    kind = BusinessDocType(row.business_type)
    if kind in (BusinessDocType.UPDATE, BusinessDocType.REVOKE):
        original = _local_copy(row)
        if original is not None:
            return _apply_to_copy(ctx, user, row, pkg, original, kind)
        if kind == BusinessDocType.REVOKE:
            raise InvalidTransition("Chưa có bản đã vào sổ để thu hồi; hãy từ chối gói tin này.",
                                    code="nothing_to_revoke")
    uploads = _uploads(ctx, pkg)
    with write_transaction():
        doc = register_incoming(ctx, user, _fields(pkg, register_id or _default_register(user.agency_id),
                                                   confirm_duplicate), uploads)
        now = ctx.clock.now()
        _decide(row, now, user, "accepted", local_document=doc.id)
        if kind == BusinessDocType.REPLACE:
            _withdraw_replaced(row, pkg, user, now)
        enqueue_status(ctx, agency_code=row.agency_code, recipient=row.sender, document_id=row.document_id,
                       status_code=StatusCode.ACCEPTED, local_document=doc.id, staff=user.full_name,
                       description=f"Đã vào sổ văn bản đến, số đến {doc.arrival_number}")
        audit.record(now, user, "exchange.accept", "document", doc.id, {"document_id": row.document_id})
    return doc


def _local_copy(row) -> Document | None:
    prior = (ExchangeInbox.select().where((ExchangeInbox.agency_code == row.agency_code) &
                                          (ExchangeInbox.document_id == row.document_id) &
                                          (ExchangeInbox.kind == "package") & (ExchangeInbox.state == "accepted") &
                                          ExchangeInbox.local_document.is_null(False))
             .order_by(ExchangeInbox.id).first())
    return Document.get_or_none(Document.id == prior.local_document) if prior else None


def _apply_to_copy(ctx, user, row, pkg, original: Document, kind) -> Document:
    uploads = _uploads(ctx, pkg) if kind == BusinessDocType.UPDATE else []
    try:
        with write_transaction(), blob_guard(ctx) as new_blobs:
            now = ctx.clock.now()
            if kind == BusinessDocType.UPDATE:
                new_blobs += attach_files(ctx, original, user, uploads)
                Document.update(subject=pkg.subject[:500]).where(Document.id == original.id).execute()
                text = f"Cơ quan gửi cập nhật văn bản: {pkg.business.reason}".strip()
            else:
                Document.update(status="withdrawn").where(Document.id == original.id).execute()
                text = f"Cơ quan gửi thu hồi văn bản: {pkg.business.reason}".strip()
            Event.create(document=original, user=user, kind="exchange", text=text[:4000],
                         created_at=now.replace(tzinfo=None))
            _decide(row, now, user, "accepted", local_document=original.id)
            enqueue_status(ctx, agency_code=row.agency_code, recipient=row.sender, document_id=row.document_id,
                           status_code=StatusCode.RECALL_ACCEPTED, local_document=original.id,
                           staff=user.full_name, description=text[:1000])
            audit.record(now, user, f"exchange.{kind.name.lower()}", "document", original.id,
                         {"document_id": row.document_id})
    except BaseException:
        discard_uploads(uploads)
        raise
    return original


def _withdraw_replaced(row, pkg, user, now) -> None:
    replaced = set(pkg.business.replaces)
    if not replaced:
        return
    olds = (ExchangeInbox.select().where((ExchangeInbox.agency_code == row.agency_code) &
                                         ExchangeInbox.document_id.in_(replaced) &
                                         ExchangeInbox.local_document.is_null(False)))
    for old in olds:
        Document.update(status="withdrawn").where(Document.id == old.local_document).execute()
        Event.create(document=old.local_document, user=user, kind="exchange",
                     text=f"Được thay thế bởi văn bản {pkg.code_number}/{pkg.code_notation}",
                     created_at=now.replace(tzinfo=None))


def refuse(ctx, user, inbox_id, reason: str) -> ExchangeInbox:
    """Return the document to its sender with a reason (status 02; 16 for an update or revocation)."""
    reason = (reason or "").strip()
    if not reason:
        raise Invalid("Nhập lý do từ chối.", code="missing:reason", field="reason")
    row = get_item(user, inbox_id)
    _pending(row)
    code = StatusCode.REFUSED if row.business_type in (0, 3) else StatusCode.RECALL_REFUSED
    with write_transaction():
        now = ctx.clock.now()
        _decide(row, now, user, "refused", reason)
        enqueue_status(ctx, agency_code=row.agency_code, recipient=row.sender, document_id=row.document_id,
                       status_code=code, description=reason[:1000], staff=user.full_name)
        audit.record(now, user, "exchange.refuse", "exchange", row.id, {"document_id": row.document_id,
                                                                        "reason": reason[:200]})
    return row


def answer_recall(ctx, user, inbox_id, agree: bool, note: str = "") -> ExchangeInbox:
    """The sender asked to recall (13): withdraw the local copy and answer 15, or keep it and answer 16."""
    row = get_item(user, inbox_id)
    if row.state != "recall":
        raise InvalidTransition("Không có đề nghị thu hồi đang chờ.", code="no_recall_pending")
    with write_transaction():
        now = ctx.clock.now()
        if agree and row.local_document:
            Document.update(status="withdrawn").where(Document.id == row.local_document).execute()
            Event.create(document=row.local_document, user=user, kind="exchange",
                         text=f"Thu hồi theo đề nghị của cơ quan gửi. {note}".strip()[:4000],
                         created_at=now.replace(tzinfo=None))
        ExchangeInbox.update(state="applied", decided_at=now.replace(tzinfo=None), decided_by=user.username,
                             reason=note[:2000]).where(ExchangeInbox.id == row.id).execute()
        enqueue_status(ctx, agency_code=row.agency_code, recipient=row.sender, document_id=row.document_id,
                       status_code=StatusCode.RECALL_ACCEPTED if agree else StatusCode.RECALL_REFUSED,
                       description=note[:1000] or ("Đồng ý thu hồi" if agree else "Không đồng ý thu hồi"),
                       staff=user.full_name)
        audit.record(now, user, "exchange.recall_answer", "exchange", row.id, {"agree": bool(agree)})
    return row


def agency_name(code: str) -> str:
    agency = Agency.get_or_none(Agency.code == code)
    return agency.name if agency else code
