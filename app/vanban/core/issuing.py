"""Issue (phát hành, NĐ 30/2020 Điều 15–16): number and notation, the agency seal, the Document row, delivery
to recipients here and the exchange outbox for the others — all in one write transaction."""
from __future__ import annotations

from datetime import timedelta

from ..errors import Conflict, Invalid, InvalidTransition
from ..models import write_transaction
from ..models.outgoing import Delivery, Draft, DraftRecipient, Outbox
from ..models.schema import Agency, Assignment, Attachment, Blob, Department, Document, Event, Register, User
from ..signing import SigningError
from . import audit, indexing
from .accounts import require_role
from .doctypes import TYPE_ABBREV, TYPE_NAMES
from .numbering import next_number
from .outgoing import NO_ABBREV_TYPES, event, get_draft, get_version, version_files
from .signing_service import PDF, image_bytes, refusal, unlock


def numbering_of(agency: Agency, doc_type: str, confidential: bool) -> tuple[Register, str]:
    """NĐ 30/2020 Điều 15: one sequence for all administrative documents or one per type, as the head of the
    agency chooses; confidential documents always run on their own register."""
    register = (Register.select().where((Register.agency == agency.id) & (Register.kind == "outgoing") &
                                        (Register.confidential == bool(confidential)) &
                                        (Register.active == True))  # noqa: E712
                .order_by(Register.id).first())
    if register is None:
        raise Invalid("Cơ quan chưa có sổ văn bản đi" + (" mật" if confidential else "") + ".",
                      code="outgoing_register_missing")
    return register, (doc_type if agency.numbering == "per_type" else "")


def notation_of(agency: Agency, doc_type: str, department: Department | None) -> str:
    """`QĐ-UBND` (type + agency); for a Công văn `UBND-VP` (agency + drafting unit), NĐ 30/2020 Điều 15."""
    if doc_type in NO_ABBREV_TYPES:
        return f"{agency.abbreviation}-{department.abbreviation}" if department else agency.abbreviation
    return f"{TYPE_ABBREV[doc_type]}-{agency.abbreviation}"


def issue(ctx, actor: User, draft_id, passphrase, place: str | None = None) -> Document:
    """The clerk issues a signed draft. The number is taken under BEGIN IMMEDIATE and the seal applied inside
    the same transaction: if sealing fails the rollback gives the number back (never skip), and the write lock
    keeps a second clerk waiting (never duplicate). A numbered draft is refused a second time."""
    require_role(actor, "clerk")
    draft = get_draft(actor, draft_id)
    _check_issuable(draft)
    if not passphrase:
        raise Invalid("Nhập mật khẩu khóa con dấu.", code="missing:passphrase", field="passphrase")
    place = (place or "").strip()[:60] or None
    seal_png = image_bytes(ctx, "seal", agency_id=actor.agency_id)
    seal = unlock(ctx, "seal", actor.agency.code, passphrase)
    with ctx.blobs.open(draft.signed_blob) as fh:
        signed = fh.read()
    attachments = [f for f in version_files(get_version(draft, draft.signed_version)) if f.role == "attachment"]
    created = []
    try:
        with write_transaction():
            now = ctx.clock.now()
            local = now.replace(tzinfo=None)
            draft = Draft.get_by_id(draft.id)
            _check_issuable(draft)
            agency = Agency.get_by_id(draft.agency_id)
            register, sequence = numbering_of(agency, draft.doc_type, draft.confidentiality > 0)
            number = f"{next_number(register.id, now.year, sequence):02d}"
            notation = notation_of(agency, draft.doc_type, draft.department)
            number_notation = f"{number}/{notation}"
            files = _seal_files(ctx, seal, seal_png, signed, attachments, number_notation, now, place)
            created = _commit_blobs(ctx, files, local)
            doc = _create_document(draft, agency, register, number, notation, actor, local)
            _attach(doc, files, actor, local)
            local_docs = distribute(ctx, actor, draft, doc, agency, local)
            Draft.update(status="issued", document=doc, issued_by=actor, issued_at=local, updated_at=local).where(
                Draft.id == draft.id).execute()
            event(draft, actor, "issue", number_notation, local, version=draft.signed_version)
            audit.record(now, actor, "outgoing.issue", "document", doc.id,
                         {"draft": draft.id, "number_notation": number_notation, "register": register.id,
                          "sequence": sequence, "files": [f[1].sha256 for f in files]})
    except BaseException:
        for sha in created:
            ctx.blobs.remove(sha)
        raise
    for d in [doc, *local_docs]:
        indexing.queue_text_extraction(ctx, d)
    return doc


def _check_issuable(draft: Draft) -> None:
    if draft.document_id is not None or draft.status in ("issued", "recalled"):
        raise Conflict("Văn bản đã được cấp số và phát hành; không phát hành lần hai.", code="already_issued")
    if draft.status != "signed":
        raise InvalidTransition("Văn bản chưa được người có thẩm quyền ký số.", code="not_signed")


def _seal_files(ctx, seal, seal_png, signed, attachments, number_notation, now, place):
    """[(filename, staged, content type)]: the sealed main PDF, then each attachment (PDFs stamped)."""
    from ..signing import pdf as vpdf

    out = []
    try:
        sealed = vpdf.apply_agency_seal(signed, seal, seal_png, number_notation=number_notation, issued_at=now,
                                        place=place)
        out.append((_pdf_name(number_notation), ctx.blobs.stage_bytes(sealed), PDF))
        for f in attachments:
            with ctx.blobs.open(f.blob_id) as fh:
                data = fh.read()
            if f.content_type == PDF:
                # Phụ lục I: the agency signs each separate attachment, top-right of page 1, text only.
                data = vpdf.stamp_attachment(data, seal, number_notation=number_notation, signed_at=now)
            out.append((f.filename, ctx.blobs.stage_bytes(data), f.content_type))
    except SigningError as exc:
        for _, staged, _ in out:
            staged.discard()
        raise refusal(exc) from None
    except BaseException:
        for _, staged, _ in out:
            staged.discard()
        raise
    return out


def _pdf_name(number_notation: str) -> str:
    return number_notation.replace("/", "-") + ".pdf"


def _commit_blobs(ctx, files, local) -> list[str]:
    created = []
    for _, staged, _ in files:
        sha, size = staged.sha256, staged.size
        if ctx.blobs.commit(staged):
            created.append(sha)
        Blob.insert(sha256=sha, size=size, created_at=local).on_conflict_ignore().execute()
    return created


def _create_document(draft, agency, register, number, notation, actor, local) -> Document:
    return Document.create(
        agency=agency, direction="out", register=register, year=local.year, issuer_name=agency.name,
        issuer_code=agency.code, number=number, notation=notation, doc_date=local.date(), doc_type=draft.doc_type,
        subject=draft.subject, urgency=draft.urgency, confidentiality=draft.confidentiality,
        deadline=draft.reply_due, medium="electronic", status="issued", created_by=actor, created_at=local)


def _attach(doc, files, actor, local) -> None:
    for filename, staged, ctype in files:
        Attachment.create(document=doc, blob=staged.sha256, filename=filename, content_type=ctype, size=staged.size,
                          uploaded_by=actor, created_at=local)
    indexing.index_document(doc)


def distribute(ctx, actor, draft, doc, agency, local) -> list[Document]:
    """Internal recipients get it at once (units and people: an assignment in their inbox; agencies hosted on
    this server: an incoming document in their clerk's queue); external agencies get an outbox row."""
    local_docs = []
    instruction = f"Văn bản {doc.number}/{doc.notation}: {TYPE_NAMES.get(doc.doc_type, '')}"
    for r in DraftRecipient.select().where(DraftRecipient.draft == draft.id).order_by(DraftRecipient.id):
        handle = r.purpose == "handle"
        if r.kind in ("dept", "user"):
            a = Assignment.create(document=doc, assigner=actor, assignee=r.user_id, department=r.department_id,
                                  role="co" if handle else "info", instruction=instruction,
                                  deadline=draft.reply_due if handle else None, created_at=local)
            Delivery.create(document=doc, kind="unit" if r.kind == "dept" else "user", assignment=a,
                            created_at=local)
            continue
        target = Agency.get_or_none(Agency.code == r.organ_id)
        if target is not None:
            copy = _receive_locally(actor, doc, target, agency, local)
            local_docs.append(copy)
            Delivery.create(document=doc, kind="local_agency", organ_id=r.organ_id, recipient_document=copy,
                            created_at=local)
        else:
            enqueue(agency, doc, r.organ_id, "issue", local)
            Delivery.create(document=doc, kind="external", organ_id=r.organ_id, created_at=local)
    return local_docs


def enqueue(agency, doc, organ_id, kind, local) -> Outbox:
    return Outbox.create(agency=agency, document=doc, organ_id=organ_id, kind=kind, status="pending", attempts=0,
                         next_attempt_at=local, created_at=local, last_error="")


def _receive_locally(actor, doc, target, sender, local) -> Document:
    """Another agency on this server receives the document at once, registered with its next arrival number."""
    register = (Register.select().where((Register.agency == target.id) & (Register.kind == "incoming") &
                                        (Register.confidential == False) & (Register.active == True))  # noqa: E712
                .order_by(Register.id).first())
    if register is None:
        raise Invalid(f"{target.name} chưa có sổ văn bản đến.", code="recipient_register_missing")
    copy = Document.create(
        agency=target, direction="in", register=register, year=local.year,
        arrival_number=next_number(register.id, local.year), arrival_at=local, issuer_name=sender.name,
        issuer_code=sender.code, number=doc.number, notation=doc.notation, doc_date=doc.doc_date,
        doc_type=doc.doc_type, subject=doc.subject, urgency=doc.urgency, confidentiality=0, deadline=doc.deadline,
        medium="electronic", status="registered", created_by=actor, created_at=local,
        notes="Nhận điện tử từ cơ quan cùng máy chủ")
    for att in Attachment.select().where(Attachment.document == doc.id):
        Attachment.create(document=copy, blob=att.blob_id, filename=att.filename, content_type=att.content_type,
                          size=att.size, uploaded_by=actor, created_at=local)
    Event.create(document=copy, user=actor, kind="received", text=f"{sender.name} gửi", created_at=local)
    indexing.index_document(copy)
    audit.record(_aware(local), actor, "incoming.receive_local", "document", copy.id,
                 {"from": sender.code, "source_document": doc.id}, agency_code=target.code)
    return copy


def _aware(local):
    from ..clock import VN

    return local.replace(tzinfo=VN)


# ---- the outgoing register (sổ đăng ký văn bản đi, DOMAIN §6) ---------------------------------------------------

MAX_DAYS = 400


def register_rows(user, date_from, date_to, today):
    """Rows for reports.registers.outgoing_register: issued (and recalled) non-confidential documents."""
    require_role(user, "clerk", "leader", "admin")
    date_to = date_to or today
    date_from = date_from or date_to.replace(day=1)
    if date_from > date_to:
        raise Invalid("Từ ngày sau đến ngày.", code="bad_date:range", field="from")
    if (date_to - date_from).days > MAX_DAYS:
        raise Invalid(f"Khoảng thời gian tối đa {MAX_DAYS} ngày.", code="range_too_long", field="from")
    drafts = (Draft.select(Draft, Document).join(Document, on=(Draft.document == Document.id))
              .where((Draft.agency == user.agency_id) & Draft.status.in_(("issued", "recalled")) &
                     (Document.confidentiality == 0) & (Draft.issued_at >= date_from) &
                     (Draft.issued_at < date_to + timedelta(days=1)))
              .order_by(Draft.issued_at, Document.number))
    return Agency.get_by_id(user.agency_id), date_from, date_to, [_row(d) for d in drafts]


def _row(draft) -> dict:
    doc = draft.document
    recipients = [r.name for r in DraftRecipient.select().where(DraftRecipient.draft == draft.id)
                  .order_by(DraftRecipient.id)]
    signer = draft.signer.full_name if draft.signer_id else ""
    if draft.authority_prefix:
        signer = f"{draft.authority_prefix} {signer}"
    notes = f"Đã thu hồi {draft.recalled_at:%d/%m/%Y}: {draft.recall_reason}" if draft.status == "recalled" else ""
    return {"number_notation": f"{doc.number}/{doc.notation}", "doc_date": doc.doc_date,
            "type_name": TYPE_NAMES.get(doc.doc_type, ""), "subject": doc.subject, "signer": signer,
            "recipients": recipients, "file_copy_holder": draft.department.name if draft.department_id else "",
            "copies": len(recipients), "transfer_date": draft.issued_at.date(), "receipt_signature": "",
            "notes": notes}
