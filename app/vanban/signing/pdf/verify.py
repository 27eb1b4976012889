"""Verifying every signature in a PDF: integrity, chain, validity at signing time, revocation and
changes made after signing."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import UTC, datetime

from cryptography import x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.settings import KeyUsageConstraints

from .. import SigningError
from ..pki import TrustStore, agency_code_of, common_name_of
from ..pki.trust import validation_context

# Revocations that say nothing against the key: a signature made before them keeps its value even
# without a trusted timestamp (RFC 5280 5.3.1 reason codes).
BENIGN_REASONS = {x509.ReasonFlags.superseded, x509.ReasonFlags.cessation_of_operation,
                  x509.ReasonFlags.affiliation_changed}
PROBLEMS = {
    "not_intact": "Nội dung đã bị sửa sau khi ký (chữ ký không khớp).",
    "modified_after_signing": "Văn bản có thay đổi không được phép sau khi ký.",
    "untrusted": "Chứng thư số không chuỗi được tới CA gốc tin cậy.",
    "expired": "Chứng thư số không còn hiệu lực tại thời điểm ký.",
    "revoked": "Chứng thư số đã bị thu hồi trước thời điểm ký.",
    "revoked_after_signing": "Chứng thư số bị thu hồi sau khi ký; không có dấu thời gian tin cậy để xác nhận.",
    "unreadable": "Không đọc được chữ ký.",
}


@dataclass
class SignatureReport:
    field_name: str
    signer_common_name: str | None = None
    agency_code: str | None = None
    organization: str | None = None
    serial: str | None = None
    signing_time: datetime | None = None  # claimed by the signer (/M), the only time in PAdES B-B
    timestamp_time: datetime | None = None  # from a TSA token (PAdES B-T), trusted when chain_trusted
    intact: bool = False  # covered bytes unchanged and the CMS signature checks
    chain_trusted: bool = False
    chain: list[str] = field(default_factory=list)  # common names, signer first, root last
    chain_reason: str | None = None
    valid_at_signing_time: bool = False
    revoked: bool = False
    revoked_at: datetime | None = None
    revocation_reason: str | None = None
    coverage: str = "unclear"  # entire_file | entire_revision | unclear
    modified_after_signing: bool = True
    modification_level: str | None = None
    verdict: str = "invalid"  # valid | invalid | untrusted | indeterminate
    problems: list[str] = field(default_factory=list)

    @property
    def messages(self) -> list[str]:
        return [PROBLEMS[p] for p in self.problems]


@dataclass
class VerificationReport:
    signatures: list[SignatureReport]
    verdict: str  # valid | invalid | untrusted | indeterminate | unsigned

    @property
    def valid(self) -> bool:
        return self.verdict == "valid"


def _reader(pdf_bytes: bytes) -> PdfFileReader:
    try:
        reader = PdfFileReader(io.BytesIO(pdf_bytes), strict=False)
        encrypted = reader.encrypted
    except Exception as exc:  # hostile input: any parse failure is "corrupt", never a crash
        raise SigningError("pdf_corrupt", str(exc)[:200]) from None
    if encrypted:
        raise SigningError("pdf_encrypted")
    return reader


def verify_pdf(pdf_bytes: bytes, *, trust=None, trust_roots=(), crls=(), other_certs=(),
               at: datetime | None = None) -> VerificationReport:
    """Check every signature. `trust` is a pki.TrustStore; or pass roots/CRLs/intermediates directly.

    Each signature is judged at `at` if given, else at its own signing time (TSA time when present):
    "was the certificate good when this was signed". Revocation comes only from the CRLs given.
    """
    if trust is None:
        trust = TrustStore(tuple(trust_roots), tuple(other_certs), tuple(crls))
    reader = _reader(pdf_bytes)
    try:
        embedded = list(reader.embedded_regular_signatures)
    except Exception as exc:  # a broken AcroForm is as bad as a broken file
        raise SigningError("pdf_corrupt", str(exc)[:200]) from None
    reports = [_verify_one(emb, trust, at) for emb in embedded]
    if not reports:
        return VerificationReport([], "unsigned")
    order = ["valid", "indeterminate", "untrusted", "invalid"]
    return VerificationReport(reports, max((r.verdict for r in reports), key=order.index))


def _verify_one(emb, trust, at: datetime | None) -> SignatureReport:
    rep = SignatureReport(field_name=str(emb.field_name))
    try:
        cert = x509.load_der_x509_certificate(emb.signer_cert.dump())
        rep.signer_common_name, rep.agency_code = common_name_of(cert), agency_code_of(cert)
        orgs = cert.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)
        rep.organization = str(orgs[0].value) if orgs else None
        rep.serial = f"{cert.serial_number:x}"
        rep.signing_time = emb.self_reported_timestamp
        moment = at or rep.signing_time or datetime.now(UTC)
        ctx = validation_context(trust.roots, trust.intermediates, moment)
        usage = KeyUsageConstraints(key_usage={"non_repudiation", "digital_signature"}, match_all_key_usages=False)
        status = validate_pdf_signature(emb, ctx, key_usage_settings=usage)
    except Exception as exc:  # hostile input: report the signature as unreadable, keep checking others
        rep.problems.append("unreadable")
        rep.chain_reason = str(exc)[:200]
        return rep
    if status.timestamp_validity is not None and status.timestamp_validity.trusted:
        rep.timestamp_time = status.timestamp_validity.timestamp
        moment = at or rep.timestamp_time
    rep.intact = bool(status.intact and status.valid)
    path = status.validation_path
    rep.chain_trusted = path is not None and status.trust_problem_indic is None
    chain = list(path.iter_certs(include_root=True)) if path is not None else []
    rep.chain = [common_name_of(x509.load_der_x509_certificate(c.dump())) for c in reversed(chain)]
    rep.chain_reason = None if rep.chain_trusted else (
        status.trust_problem_indic.name if status.trust_problem_indic else "NO_CHAIN")
    rep.valid_at_signing_time = cert.not_valid_before_utc <= moment <= cert.not_valid_after_utc
    rep.coverage = status.coverage.name.lower() if status.coverage else "unclear"
    level = status.modification_level
    rep.modification_level = level.name.lower() if level is not None else None
    # Later signatures, DSS updates and filling the number/date fields are allowed (FORM_FILLING);
    # anything else — new page content, annotations, changed objects — counts as a modification.
    rep.modified_after_signing = rep.coverage != "entire_file" and (
        level is None or level > ModificationLevel.FORM_FILLING or status.docmdp_ok is False)
    _revocation(rep, [cert] + [x509.load_der_x509_certificate(c.dump()) for c in chain[:-1]], trust, moment)
    _judge(rep)
    return rep


def _revocation(rep: SignatureReport, certs, trust, moment: datetime) -> None:
    for cert in certs:
        entry = trust.revocation_of(cert)
        if entry is None:
            continue
        rep.revoked, rep.revoked_at = True, entry.revocation_date_utc
        try:
            reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
        except x509.ExtensionNotFound:
            reason = x509.ReasonFlags.unspecified
        rep.revocation_reason = reason.name
        if entry.revocation_date_utc <= moment:
            rep.problems.append("revoked")
        elif reason not in BENIGN_REASONS and rep.timestamp_time is None:
            rep.problems.append("revoked_after_signing")
        return


def _judge(rep: SignatureReport) -> None:
    if not rep.intact:
        rep.problems.insert(0, "not_intact")
    if rep.modified_after_signing:
        rep.problems.append("modified_after_signing")
    if not rep.valid_at_signing_time:
        rep.problems.append("expired")
    if not rep.chain_trusted and "expired" not in rep.problems:
        rep.problems.append("untrusted")
    hard = {"not_intact", "modified_after_signing", "expired", "revoked", "unreadable"}
    if hard & set(rep.problems):
        rep.verdict = "invalid"
    elif "untrusted" in rep.problems:
        rep.verdict = "untrusted"
    elif rep.problems:
        rep.verdict = "indeterminate"
    else:
        rep.verdict = "valid"
