"""edXML data (QCVN 102): packages and status messages as frozen data classes, the DocumentId rule,
and the checks a receiver would apply, run before we sign anything."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from .. import dsig
from ..codes import VN_TZ, BusinessDocType, EdxmlError, format_date, is_valid_organ_id

NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
PREFIX = "edXML"
MAX_BYTES = 100 * 1024 * 1024  # whole package as received; the caller should pass its own configured limit
MAX_ATTACHMENT_BYTES = 50 * 1024 * 1024  # one decoded file
_SHA256_URI = "http://www.w3.org/2001/04/xmlenc#sha256"
_DIGESTS = {  # manifest digests we accept; SHA-1 is not among them (attachments are attacker-chosen files)
    _SHA256_URI: "sha256",
    "http://www.w3.org/2001/04/xmldsig-more#sha384": "sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512": "sha512",
}



# ---------------------------------------------------------------------------------------------- data classes
def _tuples(obj, *names):
    """Frozen dataclasses take lists for convenience and keep tuples (hashable, immutable)."""
    for name in names:
        object.__setattr__(obj, name, tuple(getattr(obj, name)))


@dataclass(frozen=True)
class Organization:
    organ_id: str
    organ_name: str = ""
    organization_in_charge: str = ""
    organ_add: str = ""
    email: str = ""
    telephone: str = ""
    fax: str = ""
    website: str = ""


@dataclass(frozen=True)
class SignerInfo:
    competence: str = ""  # thẩm quyền, e.g. "TM. Ủy ban nhân dân"
    position: str = ""
    full_name: str = ""


@dataclass(frozen=True)
class OtherInfo:
    priority: int = 0  # codes.Priority; other integers accepted on input
    sphere_of_promulgation: str = ""
    typer_notation: str = ""
    promulgation_amount: int | None = None
    page_amount: int | None = None
    appendixes: tuple[str, ...] = ()

    def __post_init__(self):
        _tuples(self, "appendixes")


@dataclass(frozen=True)
class ResponseFor:
    organ_id: str
    code: str = ""  # "<number>/<notation>" of the document answered
    promulgation_date: date | None = None
    document_id: str = ""


def _aware(obj, name: str) -> None:
    """Naive datetimes are Vietnam local time (what the axis means); keep them aware so they compare."""
    value = getattr(obj, name)
    if value.tzinfo is None:
        object.__setattr__(obj, name, value.replace(tzinfo=VN_TZ))


@dataclass(frozen=True)
class TraceHeader:
    organ_id: str
    timestamp: datetime

    def __post_init__(self):
        _aware(self, "timestamp")


@dataclass(frozen=True)
class StaffInfo:
    department: str = ""
    staff: str = ""
    mobile: str = ""
    email: str = ""


@dataclass(frozen=True)
class Business:
    doc_type: int = BusinessDocType.NEW  # 0 new, 1 revoke, 2 update, 3 replace
    reason: str = ""
    paper: int = 0  # 1: a paper original follows (most types travel without paper since 1 March 2020)
    staff_info: StaffInfo = StaffInfo()
    replaces: tuple[str, ...] = ()  # DocumentIds replaced/updated (BussinessReplacementInfoList; unconfirmed)

    def __post_init__(self):
        _tuples(self, "replaces")


@dataclass(frozen=True)
class Attachment:
    content_id: str
    name: str
    data: bytes = field(default=b"", repr=False)
    content_type: str = "application/pdf"
    description: str = ""


@dataclass(frozen=True)
class Package:
    from_org: Organization
    to_orgs: tuple[Organization, ...]
    code_number: str  # str: "05" keeps its leading zero (NĐ 30/2020 Điều 15)
    code_notation: str
    promulgation_date: date
    subject: str
    type_name: str = ""
    type_code: str = ""
    type_detail: str = ""
    promulgation_place: str = ""
    content: str = ""
    signer: SignerInfo = SignerInfo()
    due_date: date | None = None
    to_places: tuple[str, ...] = ()
    other_info: OtherInfo = OtherInfo()
    response_for: ResponseFor | None = None
    steering_type: int | None = None
    document_id: str = ""  # computed by document_id() when left empty
    trace_headers: tuple[TraceHeader, ...] = ()
    business: Business = Business()
    attachments: tuple[Attachment, ...] = ()
    # Filled by the parser only; not part of equality.
    unknown_elements: tuple[str, ...] = field(default=(), compare=False)
    signature: dsig.SignatureInfo | None = field(default=None, compare=False)

    def __post_init__(self):
        _tuples(self, "to_orgs", "to_places", "trace_headers", "attachments", "unknown_elements")
        if not self.document_id and self.from_org.organ_id:
            object.__setattr__(self, "document_id", document_id(
                self.from_org.organ_id, self.promulgation_date, self.code_number, self.code_notation))


@dataclass(frozen=True)
class StatusMessage:
    response_for: ResponseFor
    from_org: Organization
    status_code: str  # codes.StatusCode; unknown codes are kept as received
    timestamp: datetime
    description: str = ""
    staff_info: StaffInfo = StaffInfo()
    unknown_elements: tuple[str, ...] = field(default=(), compare=False)
    signature: dsig.SignatureInfo | None = field(default=None, compare=False)

    def __post_init__(self):
        _tuples(self, "unknown_elements")
        _aware(self, "timestamp")


def document_id(organ_id: str, promulgation_date: date, code_number: str, code_notation: str) -> str:
    """`<issuer OrganId>,<yyyy/MM/dd>,<number>/<notation>`, e.g. `000.00.00.G22,2015/09/30,7816/VPCP-TTĐT`."""
    code = f"{code_number}/{code_notation}" if code_notation else code_number
    return f"{organ_id},{format_date(promulgation_date)},{code}"


# ---------------------------------------------------------------------------------------------- checks
def _need(value, name: str) -> None:
    if value in (None, ""):
        raise EdxmlError(f"missing_field:{name}", f"Thiếu trường bắt buộc {name}")


def _check_organ(organ_id: str, name: str) -> None:
    _need(organ_id, name)
    if not is_valid_organ_id(organ_id):
        raise EdxmlError("bad_organ_id", f"Mã định danh cơ quan không hợp lệ ở {name}: {organ_id[:40]!r}")


def _check_package(pkg: Package) -> None:
    _check_organ(pkg.from_org.organ_id, "From/OrganId")
    if not pkg.to_orgs:
        raise EdxmlError("missing_field:To", "Gói tin phải có ít nhất một nơi nhận")
    for org in pkg.to_orgs:
        _check_organ(org.organ_id, "To/OrganId")
    for th in pkg.trace_headers:
        _check_organ(th.organ_id, "TraceHeader/OrganId")
    _need(pkg.code_number, "Code/CodeNumber")
    _need(pkg.subject, "Subject")
    _need(pkg.type_name, "DocumentType/TypeName")
    if pkg.business.doc_type not in set(BusinessDocType):
        raise EdxmlError("bad_value:BussinessDocType", "Loại nghiệp vụ không hợp lệ")
    ids = [a.content_id for a in pkg.attachments]
    if any(not i for i in ids) or len(set(ids)) != len(ids):
        raise EdxmlError("bad_value:ContentId", "Mỗi tệp đính kèm cần một ContentId riêng, không rỗng")


def _check_status(msg: StatusMessage) -> None:
    _check_organ(msg.from_org.organ_id, "From/OrganId")
    _check_organ(msg.response_for.organ_id, "ResponseFor/OrganId")
    _need(msg.response_for.document_id, "ResponseFor/DocumentId")
    _need(msg.status_code, "StatusCode")

