"""The app side of digital signatures: the agency PKI under <data>/pki, signature and seal images, the
competent person's signature (ký số), verification of any uploaded PDF, and the incoming-signature policy.

Passphrases arrive as arguments, unlock a key in memory for one call and are dropped: they are never stored,
never put in an audit entry, an event, an exception message or a log line.
"""
from __future__ import annotations

import io
import logging

from ..errors import Forbidden, Invalid, Rejected
from ..models import write_transaction
from ..models.outgoing import Draft, SignatureImage
from ..models.schema import Blob, User
from ..signing import SigningError
from . import audit
from .accounts import require_role
from .incoming import discard_uploads
from .outgoing import event, get_draft, get_version, require_status, version_files

log = logging.getLogger(__name__)

# Agency.require_valid_signature refuses an electronic document whose PDF carries a signature that does not
# verify (changed after signing, untrusted, revoked, expired). Refusing PDFs with no signature at all is the
# stricter reading of DOMAIN §5; it stays off until scanned uploads are told apart from digital originals.
REFUSE_UNSIGNED = False
PDF = "application/pdf"


def pki(ctx):
    from ..signing.pki import Pki

    return Pki(ctx.settings.data_path / "pki")


def refusal(exc: SigningError) -> Rejected:
    """A signing-library refusal as a domain error: same stable code, its Vietnamese message."""
    field = "passphrase" if exc.code in ("wrong_passphrase", "passphrase_missing") else None
    return Rejected(exc.message, code=exc.code, field=field)


# ---- images ---------------------------------------------------------------------------------------------------

def _check_png(ctx, upload) -> None:
    from PIL import Image

    if upload.content_type != "image/png":
        raise Rejected("Ảnh chữ ký hoặc con dấu phải là tệp PNG nền trong suốt.", code="image_not_png")
    try:
        with Image.open(upload.staged.path) as img:
            img.load()
            transparent = img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info
    except Exception:  # Pillow raises many types for broken images; all mean "unusable"
        raise Rejected("Không đọc được ảnh PNG.", code="image_invalid") from None
    if not transparent:
        raise Rejected("Ảnh phải có nền trong suốt (PNG có kênh alpha), theo Phụ lục I NĐ 30/2020.",
                       code="image_not_transparent")


def set_image(ctx, actor: User, kind: str, uploads) -> SignatureImage:
    """Store the actor's signature image, or (clerk, admin) the agency's seal image, replacing the old one."""
    new = False
    try:
        if kind == "seal":
            require_role(actor, "clerk", "admin")
        elif kind != "signature":
            raise Invalid("Loại ảnh: signature hoặc seal.", code="invalid:kind", field="kind")
        if len(uploads) != 1:
            raise Invalid("Gửi đúng một tệp PNG.", code="missing:files", field="files")
        up = uploads[0]
        _check_png(ctx, up)
        now = ctx.clock.now()
        local = now.replace(tzinfo=None)
        owner = {"agency": actor.agency_id} if kind == "seal" else {"user": actor.id}
        with write_transaction():
            sha = up.staged.sha256
            new = ctx.blobs.commit(up.staged)
            Blob.insert(sha256=sha, size=up.staged.size, created_at=local).on_conflict_ignore().execute()
            cond = (SignatureImage.agency == actor.agency_id) if kind == "seal" else (SignatureImage.user == actor.id)
            SignatureImage.delete().where(cond).execute()
            image = SignatureImage.create(kind=kind, blob=sha, created_at=local, **owner)
            audit.record(now, actor, f"signing.{kind}_image", "user" if kind == "signature" else "agency",
                         actor.id if kind == "signature" else actor.agency_id, {"sha256": sha})
    except BaseException:
        if new:
            ctx.blobs.remove(uploads[0].staged.sha256)
        discard_uploads(uploads)
        raise
    return image


def image_bytes(ctx, kind: str, *, user=None, agency_id=None) -> bytes:
    cond = (SignatureImage.user == user.id) if kind == "signature" else (SignatureImage.agency == agency_id)
    row = SignatureImage.get_or_none(cond & (SignatureImage.kind == kind))
    if row is None:
        if kind == "signature":
            raise Rejected("Bạn chưa tải lên ảnh chữ ký (PNG nền trong suốt).", code="signature_image_missing")
        raise Rejected("Cơ quan chưa có ảnh con dấu (PNG nền trong suốt).", code="seal_image_missing")
    with ctx.blobs.open(row.blob_id) as fh:
        return fh.read()


def has_image(kind: str, *, user=None, agency_id=None) -> bool:
    cond = (SignatureImage.user == user.id) if kind == "signature" else (SignatureImage.agency == agency_id)
    return SignatureImage.select().where(cond & (SignatureImage.kind == kind)).exists()


# ---- keys ---------------------------------------------------------------------------------------------------

def unlock(ctx, kind: str, agency_code: str, passphrase, *, username=None):
    """The newest active certificate of a person (kind "person") or of the agency seal, unlocked."""
    store = pki(ctx)
    try:
        rec = store.current(kind, agency_code, username) if (store.dir / "index.json").exists() else None
    except SigningError as exc:
        raise refusal(exc) from None
    if rec is None:
        if _revoked_only(store, kind, agency_code, username):
            raise refusal(SigningError("cert_revoked"))
        if kind == "person":
            raise Rejected("Bạn chưa có chứng thư số ký văn bản; đề nghị quản trị cấp (vanban pki issue-person).",
                           code="no_certificate")
        raise Rejected("Cơ quan chưa có chứng thư số của con dấu (vanban pki issue-seal).", code="no_seal_certificate")
    try:
        return store.load_signer(rec["serial"], passphrase)
    except SigningError as exc:
        raise refusal(exc) from None


def _revoked_only(store, kind, agency_code, username) -> bool:
    """The person (or seal) had certificates, all revoked: say so rather than "no certificate"."""
    return any(r["kind"] == kind and r["ca"] == agency_code and r["status"] == "revoked"
               and (username is None or r.get("username") == username) for r in store.list())


# ---- the competent person signs ---------------------------------------------------------------------------

def main_pdf(ctx, version) -> bytes:
    """The current version's main file as PDF: a DOCX is converted with LibreOffice first."""
    from pathlib import PurePath

    from ..signing.convert import docx_to_pdf

    main = next((f for f in version_files(version) if f.role == "main"), None)
    if main is None:
        raise Invalid("Phiên bản không có tệp văn bản chính.", code="missing:files", field="files")
    with ctx.blobs.open(main.blob_id) as fh:
        data = fh.read()
    if main.content_type == PDF:
        return data
    try:
        return docx_to_pdf(data, suffix=PurePath(main.filename).suffix or ".docx",
                           tmp_dir=ctx.settings.data_path / "tmp")
    except SigningError as exc:
        raise refusal(exc) from None


def sign(ctx, actor: User, draft_id, passphrase) -> Draft:
    """Ký số: the assigned signer signs the submitted version (PAdES, signature image, authority prefix).

    The slow part (conversion, signing) runs before the write transaction; inside it the draft is read again
    and must still be the same submitted version, so nothing half-done is ever stored."""
    from ..signing import pdf as vpdf

    draft = get_draft(actor, draft_id)
    if actor.id != draft.signer_id:
        raise Forbidden("Bạn không phải người được trình ký văn bản này.", code="not_assigned_signer")
    require_status(draft, "submitted")
    version = get_version(draft, draft.current_version)
    if not passphrase:
        raise Invalid("Nhập mật khẩu khóa ký.", code="missing:passphrase", field="passphrase")
    picture = image_bytes(ctx, "signature", user=actor)
    signer = unlock(ctx, "person", actor.agency.code, passphrase, username=actor.username)
    source = main_pdf(ctx, version)
    now = ctx.clock.now()
    try:
        signed = vpdf.sign_as_person(source, signer, title=draft.signer_title or actor.position or "",
                                     full_name=actor.full_name, signature_png=picture,
                                     authority_prefix=draft.authority_prefix or None,
                                     on_behalf_of=draft.on_behalf_of or None, at=now)
    except SigningError as exc:
        raise refusal(exc) from None
    return _store_signed(ctx, actor, draft, version, signed, now)


def _store_signed(ctx, actor, draft, version, signed: bytes, now) -> Draft:
    local = now.replace(tzinfo=None)
    staged = ctx.blobs.stage_bytes(signed)
    new = False
    try:
        with write_transaction():
            fresh = Draft.get_by_id(draft.id)
            require_status(fresh, "submitted")
            if fresh.current_version != version.number or fresh.signer_id != actor.id:
                raise Rejected("Dự thảo vừa thay đổi; mở lại trước khi ký.", code="draft_changed")
            new = ctx.blobs.commit(staged)
            Blob.insert(sha256=staged.sha256, size=staged.size, created_at=local).on_conflict_ignore().execute()
            Draft.update(status="signed", signed_blob=staged.sha256, signed_version=version.number, signed_at=local,
                         updated_at=local).where(Draft.id == draft.id).execute()
            event(fresh, actor, "sign", draft.authority_prefix or "", local, version=version.number)
            audit.record(now, actor, "outgoing.sign", "draft", draft.id,
                         {"version": version.number, "sha256": staged.sha256})
    except BaseException:
        if new:
            ctx.blobs.remove(staged.sha256)
        staged.discard()
        raise
    return Draft.get_by_id(draft.id)


# ---- verification -----------------------------------------------------------------------------------------

def verify_bytes(ctx, data: bytes):
    from ..signing.pdf import verify_pdf

    try:
        return verify_pdf(data, trust=pki(ctx).trust_store())
    except SigningError as exc:
        raise refusal(exc) from None


def verify_upload(ctx, actor: User, uploads) -> dict:
    """Kiểm tra chữ ký số of any PDF: who, when, chain, valid then, changed after. Nothing is stored."""
    try:
        if len(uploads) != 1:
            raise Invalid("Chọn một tệp PDF để kiểm tra.", code="missing:files", field="files")
        if uploads[0].content_type != PDF:
            raise Rejected("Chỉ kiểm tra chữ ký số trên tệp PDF.", code="not_pdf")
        with open(uploads[0].staged.path, "rb") as fh:
            report = verify_bytes(ctx, fh.read())
        return report_dict(report, uploads[0].filename)
    finally:
        discard_uploads(uploads)


def _iso(value):
    return value.isoformat() if value else None


def report_dict(report, filename="") -> dict:
    sigs = []
    for s in report.signatures:
        sigs.append({"field": s.field_name, "signer": s.signer_common_name, "agency_code": s.agency_code,
                     "organization": s.organization, "serial": s.serial, "signing_time": _iso(s.signing_time),
                     "timestamp_time": _iso(s.timestamp_time), "intact": s.intact, "chain_trusted": s.chain_trusted,
                     "chain": list(s.chain), "valid_at_signing_time": s.valid_at_signing_time, "revoked": s.revoked,
                     "revoked_at": _iso(s.revoked_at), "coverage": s.coverage,
                     "modified_after_signing": s.modified_after_signing, "verdict": s.verdict,
                     "problems": list(s.problems), "messages": s.messages})
    return {"filename": filename, "verdict": report.verdict, "signatures": sigs}


# ---- incoming policy (called from core.incoming.register_incoming) ------------------------------------------

def check_incoming_signatures(ctx, actor: User, medium: str, uploads) -> None:
    """Agency.require_valid_signature: refuse an electronic document whose signed PDF does not verify.

    NĐ 30/2020 Điều 20 and DOMAIN §5: on electronic receipt the clerk checks authenticity and integrity; a
    document that fails is returned to the sender. Raises Rejected, so registration changes nothing."""
    if medium != "electronic" or not actor.agency.require_valid_signature:
        return
    signed_ok = 0
    for up in uploads:
        if up.content_type != PDF:
            continue
        with open(up.staged.path, "rb") as fh:
            data = fh.read()
        # A PDF signature dictionary carries /ByteRange in the clear (it is patched in place after signing, so
        # it never sits in a compressed object stream): without it there is nothing to verify, and the clerk
        # does not wait for the verifier to load.
        if b"/ByteRange" not in data:
            continue
        report = verify_bytes(ctx, data)
        if report.verdict == "unsigned":
            continue
        if report.verdict != "valid":
            reasons = sorted({m for s in report.signatures for m in s.messages})
            raise Rejected(f"Tệp {up.filename}: chữ ký số không hợp lệ ({' '.join(reasons) or report.verdict}). "
                           f"Văn bản bị từ chối, trả lại nơi gửi.", code="signature_invalid", field="files")
        signed_ok += 1
    if REFUSE_UNSIGNED and not signed_ok:
        raise Rejected("Văn bản điện tử không có chữ ký số hợp lệ; bị từ chối theo quy định của cơ quan.",
                       code="signature_missing", field="files")


def check_pdf_opens(path) -> None:
    """Refuse an encrypted or broken main PDF when it is uploaded, not only when it is signed."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        with open(path, "rb") as fh:
            reader = PdfReader(io.BytesIO(fh.read()))
            encrypted = reader.is_encrypted
            if not encrypted:
                len(reader.pages)
    except (PdfReadError, ValueError, KeyError, TypeError, IndexError, OSError):
        raise Rejected("Tệp PDF bị hỏng hoặc không phải PDF.", code="pdf_corrupt", field="files") from None
    if encrypted:
        raise Rejected("Tệp PDF được mã hóa; không thể ký. Gửi bản không đặt mật khẩu.", code="pdf_encrypted",
                       field="files")
