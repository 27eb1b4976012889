"""edXML packages and status messages (QCVN 102:2016/BTTTT amended 2022; DOMAIN.md §11): data, build, parse.

Layout we emit (every element in the edXML namespace, always with the explicit ``edXML:`` prefix, which the
national axis requires)::

    edXML
      edXMLEnvelope                      <- signed (XML-DSig, enveloped, RSA-SHA256, see dsig.py)
        edXMLHeader
          MessageHeader | Status
          TraceHeaderList (TraceHeader*, Bussiness)     [packages only]
          ds:Signature
        edXMLBody
          edXMLManifest
            Reference*  (ContentId, ContentType, Description, AttachmentName, ds:DigestMethod, ds:DigestValue)
      AttachmentEncoded
        Attachment* (ContentId, AttachmentName, Description, ContentType, ContentTransferEncoded = base64)

The manifest digests (SHA-256 of the decoded file) are our extension: they are inside the signed envelope, so
changing one byte of an attachment is detected as ``attachment_tampered`` without the signature having to cover
hundreds of megabytes of base64.

Parsing streams the document through an lxml *target* parser: the envelope is rebuilt as a small tree and
verified as soon as it ends, attachments are base64-decoded chunk by chunk with the size limit enforced on the
encoded length, and a DOCTYPE anywhere is refused (no DTD, no entities, no network).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import io
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import BinaryIO

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from lxml import etree

from . import dsig
from .codes import (
    VN_TZ,
    BusinessDocType,
    EdxmlError,
    format_date,
    format_timestamp,
    is_valid_organ_id,
    parse_date,
    parse_timestamp,
)

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


# ---------------------------------------------------------------------------------------------- building
def _q(name: str) -> str:
    return f"{{{NS}}}{name}"


def _sub(parent: etree._Element, name: str, text=None) -> etree._Element:
    el = etree.SubElement(parent, _q(name))
    if text is not None:
        el.text = str(text)
    return el


def _org(parent, name: str, org: Organization) -> None:
    el = _sub(parent, name)
    for tag, value in (("OrganId", org.organ_id), ("OrganizationInCharge", org.organization_in_charge),
                       ("OrganName", org.organ_name), ("OrganAdd", org.organ_add), ("Email", org.email),
                       ("Telephone", org.telephone), ("Fax", org.fax), ("Website", org.website)):
        _sub(el, tag, value)


def _staff(parent, info: StaffInfo) -> None:
    el = _sub(parent, "StaffInfo")
    for tag, value in (("Department", info.department), ("Staff", info.staff), ("Mobile", info.mobile),
                       ("Email", info.email)):
        _sub(el, tag, value)


def _response_for(parent, rf: ResponseFor) -> None:
    el = _sub(parent, "ResponseFor")
    _sub(el, "OrganId", rf.organ_id)
    _sub(el, "Code", rf.code)
    if rf.promulgation_date is not None:
        _sub(el, "PromulgationDate", format_date(rf.promulgation_date))
    _sub(el, "DocumentId", rf.document_id)


def _opt(value) -> str:
    return "" if value is None else str(value)


def _message_header(parent, pkg: Package) -> None:
    mh = _sub(parent, "MessageHeader")
    _org(mh, "From", pkg.from_org)
    for org in pkg.to_orgs:
        _org(mh, "To", org)
    code = _sub(mh, "Code")
    _sub(code, "CodeNumber", pkg.code_number)
    _sub(code, "CodeNotation", pkg.code_notation)
    info = _sub(mh, "PromulgationInfo")
    _sub(info, "Place", pkg.promulgation_place)
    _sub(info, "PromulgationDate", format_date(pkg.promulgation_date))
    doc_type = _sub(mh, "DocumentType")
    _sub(doc_type, "Type", pkg.type_code)
    _sub(doc_type, "TypeDetail", pkg.type_detail)
    _sub(doc_type, "TypeName", pkg.type_name)  # always sent: the Type code list is unconfirmed
    _sub(mh, "Subject", pkg.subject)
    _sub(mh, "Content", pkg.content)
    signer = _sub(mh, "SignerInfo")
    _sub(signer, "Competence", pkg.signer.competence)
    _sub(signer, "Position", pkg.signer.position)
    _sub(signer, "FullName", pkg.signer.full_name)
    _sub(mh, "DueDate", format_date(pkg.due_date) if pkg.due_date else "")
    places = _sub(mh, "ToPlaces")
    for place in pkg.to_places:
        _sub(places, "Place", place)
    _other_info(mh, pkg.other_info)
    if pkg.response_for is not None:
        _response_for(mh, pkg.response_for)
    _sub(mh, "SteeringType", _opt(pkg.steering_type))
    _sub(mh, "DocumentId", pkg.document_id)


def _other_info(parent, oi: OtherInfo) -> None:
    el = _sub(parent, "OtherInfo")
    _sub(el, "Priority", int(oi.priority))
    _sub(el, "SphereOfPromulgation", oi.sphere_of_promulgation)
    _sub(el, "TyperNotation", oi.typer_notation)
    _sub(el, "PromulgationAmount", _opt(oi.promulgation_amount))
    _sub(el, "PageAmount", _opt(oi.page_amount))
    appendixes = _sub(el, "Appendixes")
    for item in oi.appendixes:
        _sub(appendixes, "Appendix", item)


def _trace_header_list(parent, pkg: Package) -> None:
    thl = _sub(parent, "TraceHeaderList")
    for th in pkg.trace_headers:
        el = _sub(thl, "TraceHeader")
        _sub(el, "OrganId", th.organ_id)
        _sub(el, "Timestamp", format_timestamp(th.timestamp))
    bus = _sub(thl, "Bussiness")  # sic: QCVN 102 spells it with double s
    _sub(bus, "BussinessDocType", int(pkg.business.doc_type))
    _sub(bus, "BussinessDocReason", pkg.business.reason)
    if pkg.business.replaces:
        lst = _sub(bus, "BussinessReplacementInfoList")
        for doc_id in pkg.business.replaces:
            _sub(_sub(lst, "ReplacementInfo"), "DocumentId", doc_id)
    _sub(bus, "Paper", int(pkg.business.paper))
    _staff(bus, pkg.business.staff_info)


def _manifest(parent, attachments: Sequence[Attachment]) -> None:
    manifest = _sub(_sub(parent, "edXMLBody"), "edXMLManifest")
    for att in attachments:
        ref = _sub(manifest, "Reference")
        _sub(ref, "ContentId", att.content_id)
        _sub(ref, "ContentType", att.content_type)
        _sub(ref, "Description", att.description)
        _sub(ref, "AttachmentName", att.name)
        etree.SubElement(ref, f"{{{dsig.DS_NS}}}DigestMethod", Algorithm=_SHA256_URI)
        digest = etree.SubElement(ref, f"{{{dsig.DS_NS}}}DigestValue")
        digest.text = _b64encode(hashlib.sha256(att.data).digest())


def _b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _signed_envelope(fill_header, signer_key, cert_chain, attachments=()) -> etree._Element:
    """Envelope built by ``fill_header(header)``, pretty-printed *before* signing (whitespace is signed too)."""
    env = etree.Element(_q("edXMLEnvelope"), nsmap={PREFIX: NS, "ds": dsig.DS_NS})
    header = _sub(env, "edXMLHeader")
    try:
        fill_header(header)
    except ValueError as exc:  # lxml refuses control characters and other non-XML text
        raise EdxmlError("bad_text", "Văn bản chứa ký tự không hợp lệ trong XML", str(exc)) from None
    etree.SubElement(header, f"{{{dsig.DS_NS}}}Signature", Id="placeholder")
    _manifest(env, attachments)
    env = etree.fromstring(etree.tostring(env, pretty_print=True))
    return dsig.sign_envelope(env, signer_key, cert_chain)


def _document(envelope: etree._Element, attachments: Sequence[Attachment]) -> bytes:
    root = etree.Element(_q("edXML"), nsmap={PREFIX: NS})
    root.text = "\n"
    root.append(envelope)
    envelope.tail = "\n"
    if attachments:
        encoded = _sub(root, "AttachmentEncoded")
        for att in attachments:
            el = _sub(encoded, "Attachment")
            for tag, value in (("ContentId", att.content_id), ("AttachmentName", att.name),
                               ("Description", att.description), ("ContentType", att.content_type),
                               ("ContentTransferEncoded", _b64encode(att.data))):
                _sub(el, tag, value)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def build_package(pkg: Package, signer_key: rsa.RSAPrivateKey,
                  signer_cert_chain: Sequence[x509.Certificate]) -> bytes:
    """Signed edXML package (UTF-8 bytes). ``signer_cert_chain``: the sending system's certificate first,
    then its issuers. Raises EdxmlError on data a receiver would refuse."""
    _check_package(pkg)
    envelope = _signed_envelope(
        lambda header: (_message_header(header, pkg), _trace_header_list(header, pkg)),
        signer_key, signer_cert_chain, pkg.attachments)
    return _document(envelope, pkg.attachments)


def build_status(msg: StatusMessage, signer_key: rsa.RSAPrivateKey,
                 signer_cert_chain: Sequence[x509.Certificate]) -> bytes:
    """Signed edXML status message (UTF-8 bytes)."""
    _check_status(msg)

    def fill(header):
        status = _sub(header, "Status")
        _response_for(status, msg.response_for)
        _org(status, "From", msg.from_org)
        _sub(status, "StatusCode", msg.status_code)
        _sub(status, "Description", msg.description)
        _sub(status, "Timestamp", format_timestamp(msg.timestamp))
        _staff(status, msg.staff_info)

    return _document(_signed_envelope(fill, signer_key, signer_cert_chain), ())


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


# ---------------------------------------------------------------------------------------------- parsing
def _named(el: etree._Element, name: str, *namespaces: str | None) -> bool:
    if not isinstance(el.tag, str):  # processing instructions have a function as tag
        return False
    qname = etree.QName(el)
    return qname.localname == name and qname.namespace in namespaces


def _ours(el: etree._Element, name: str) -> bool:
    """edXML element ``name``; packages without a namespace are accepted too (some integrators send them)."""
    return _named(el, name, NS, None)


class _Reader:
    """Reads fields from the *signed* envelope and remembers what it read, so whatever is left over can be
    reported as unknown (ignored, listed for the logs)."""

    def __init__(self, root: etree._Element):
        self.root = root
        self.seen: set[etree._Element] = {root}

    def children(self, parent, name: str, ns: str | None = None) -> list[etree._Element]:
        found = [c for c in parent if (_ours(c, name) if ns is None else _named(c, name, ns))]
        self.seen.update(found)
        return found

    def child(self, parent, name: str, required: str | None = None, ns: str | None = None):
        found = self.children(parent, name, ns)[:1] if parent is not None else []
        if not found and required:
            raise EdxmlError(f"missing_field:{required}", f"Thiếu trường bắt buộc {required}")
        return found[0] if found else None

    def text_of(self, el, name: str = "", limit: int = 1000) -> str:
        value = (el.text or "").strip() if el is not None else ""
        if len(value) > limit:
            raise EdxmlError(f"field_too_long:{name or etree.QName(el).localname}",
                             f"Trường {name or etree.QName(el).localname} dài quá {limit} ký tự")
        return value

    def text(self, parent, name: str, required: str | None = None, limit: int = 1000) -> str:
        el = self.child(parent, name)
        value = self.text_of(el, name, limit)
        if required and not value:
            raise EdxmlError(f"missing_field:{required}", f"Thiếu trường bắt buộc {required}")
        return value

    def unknown(self, limit: int = 50) -> list[str]:
        """Top-most elements that were never read, as paths below the envelope."""
        out = []
        for el in self.root.iter():
            if isinstance(el.tag, str) and el not in self.seen and el.getparent() in self.seen:
                chain = [el, *el.iterancestors()][:-1]  # without the envelope itself
                out.append("/".join(etree.QName(a).localname for a in reversed(chain)))
        return out[:limit]


def _int(r: _Reader, parent, name: str, default: int | None = None) -> int | None:
    value = r.text(parent, name, limit=20)
    if not value:
        return default
    if not re.fullmatch(r"[+-]?\d{1,9}", value):
        raise EdxmlError(f"bad_number:{name}", f"Trường {name} phải là số: {value[:20]!r}")
    return int(value)


def _date(r: _Reader, parent, name: str, required: str | None = None) -> date | None:
    value = r.text(parent, name, required=required, limit=40)
    if not value:
        return None
    try:
        return parse_date(value)
    except ValueError:
        raise EdxmlError("bad_date", f"Ngày không hợp lệ ở {name}: {value!r}") from None


def _timestamp(r: _Reader, parent, name: str, required: str) -> datetime:
    value = r.text(parent, name, required=required, limit=40)
    try:
        return parse_timestamp(value)
    except ValueError:
        raise EdxmlError("bad_date", f"Thời điểm không hợp lệ ở {name}: {value!r}") from None


def _read_org(r: _Reader, el, path: str) -> Organization:
    organ_id = r.text(el, "OrganId", required=f"{path}/OrganId", limit=40).upper()
    _check_organ(organ_id, f"{path}/OrganId")
    return Organization(organ_id=organ_id, organ_name=r.text(el, "OrganName"),
                        organization_in_charge=r.text(el, "OrganizationInCharge"),
                        organ_add=r.text(el, "OrganAdd"), email=r.text(el, "Email"),
                        telephone=r.text(el, "Telephone"), fax=r.text(el, "Fax"), website=r.text(el, "Website"))


def _read_staff(r: _Reader, parent) -> StaffInfo:
    el = r.child(parent, "StaffInfo")
    if el is None:
        return StaffInfo()
    return StaffInfo(department=r.text(el, "Department"), staff=r.text(el, "Staff"),
                     mobile=r.text(el, "Mobile"), email=r.text(el, "Email"))


def _read_response_for(r: _Reader, el) -> ResponseFor:
    organ_id = r.text(el, "OrganId", required="ResponseFor/OrganId", limit=40).upper()
    _check_organ(organ_id, "ResponseFor/OrganId")
    return ResponseFor(organ_id=organ_id, code=r.text(el, "Code"),
                       promulgation_date=_date(r, el, "PromulgationDate"),
                       document_id=r.text(el, "DocumentId"))


def _read_package_header(r: _Reader, header) -> Package:
    mh = r.child(header, "MessageHeader", required="MessageHeader")
    to_orgs = [_read_org(r, el, "To") for el in r.children(mh, "To")]
    if not to_orgs:
        raise EdxmlError("missing_field:To", "Gói tin không có nơi nhận (To)")
    code = r.child(mh, "Code", required="Code")
    info = r.child(mh, "PromulgationInfo", required="PromulgationInfo")
    doc_type = r.child(mh, "DocumentType", required="DocumentType")
    type_name, type_code = r.text(doc_type, "TypeName"), r.text(doc_type, "Type", limit=50)
    if not (type_name or type_code):
        raise EdxmlError("missing_field:DocumentType/TypeName", "Thiếu loại văn bản (TypeName)")
    signer = r.child(mh, "SignerInfo")
    response_for = r.child(mh, "ResponseFor")
    pkg = Package(
        from_org=_read_org(r, r.child(mh, "From", required="From"), "From"), to_orgs=to_orgs,
        code_number=r.text(code, "CodeNumber", required="Code/CodeNumber", limit=50),
        code_notation=r.text(code, "CodeNotation", limit=100),
        promulgation_place=r.text(info, "Place"),
        promulgation_date=_date(r, info, "PromulgationDate", required="PromulgationInfo/PromulgationDate"),
        type_name=type_name, type_code=type_code, type_detail=r.text(doc_type, "TypeDetail"),
        subject=r.text(mh, "Subject", required="Subject", limit=4000),
        content=r.text(mh, "Content", limit=200_000),
        signer=SignerInfo(competence=r.text(signer, "Competence"), position=r.text(signer, "Position"),
                          full_name=r.text(signer, "FullName")) if signer is not None else SignerInfo(),
        due_date=_date(r, mh, "DueDate"),
        to_places=[r.text_of(p) for p in r.children(r.child(mh, "ToPlaces"), "Place")]
        if r.child(mh, "ToPlaces") is not None else [],
        other_info=_read_other_info(r, r.child(mh, "OtherInfo")),
        response_for=_read_response_for(r, response_for) if response_for is not None else None,
        steering_type=_int(r, mh, "SteeringType"),
        document_id=r.text(mh, "DocumentId", limit=300),
    )
    return pkg


def _read_other_info(r: _Reader, el) -> OtherInfo:
    if el is None:
        return OtherInfo()
    appendixes = r.child(el, "Appendixes")
    return OtherInfo(
        priority=_int(r, el, "Priority", default=0), sphere_of_promulgation=r.text(el, "SphereOfPromulgation"),
        typer_notation=r.text(el, "TyperNotation"), promulgation_amount=_int(r, el, "PromulgationAmount"),
        page_amount=_int(r, el, "PageAmount"),
        appendixes=[r.text_of(a) for a in r.children(appendixes, "Appendix")] if appendixes is not None else [])


def _read_business(r: _Reader, el) -> Business:
    if el is None:
        return Business()
    doc_type = _int(r, el, "BussinessDocType", default=0)
    if doc_type not in set(BusinessDocType):
        raise EdxmlError("bad_value:BussinessDocType", f"Loại nghiệp vụ không hỗ trợ: {doc_type}")
    paper = _int(r, el, "Paper", default=0)
    if paper not in (0, 1):
        raise EdxmlError("bad_value:Paper", f"Giá trị Paper phải là 0 hoặc 1: {paper}")
    replaces = []
    replacement_list = r.child(el, "BussinessReplacementInfoList")
    for info in r.children(replacement_list, "ReplacementInfo") if replacement_list is not None else []:
        replaces.append(r.text(info, "DocumentId", limit=300))
    return Business(doc_type=BusinessDocType(doc_type), reason=r.text(el, "BussinessDocReason", limit=4000),
                    paper=paper, staff_info=_read_staff(r, el), replaces=[d for d in replaces if d])


def _read_trace(r: _Reader, header) -> tuple[list[TraceHeader], Business]:
    thl = r.child(header, "TraceHeaderList")
    if thl is None:
        return [], Business()
    traces = []
    for th in r.children(thl, "TraceHeader"):
        organ_id = r.text(th, "OrganId", required="TraceHeader/OrganId", limit=40).upper()
        _check_organ(organ_id, "TraceHeader/OrganId")
        traces.append(TraceHeader(organ_id, _timestamp(r, th, "Timestamp", "TraceHeader/Timestamp")))
    return traces, _read_business(r, r.child(thl, "Bussiness"))


def _read_status(r: _Reader, header) -> StatusMessage:
    st = r.child(header, "Status", required="Status")
    response_for = _read_response_for(r, r.child(st, "ResponseFor", required="ResponseFor"))
    if not response_for.document_id:
        raise EdxmlError("missing_field:ResponseFor/DocumentId", "Thiếu trường bắt buộc ResponseFor/DocumentId")
    return StatusMessage(
        response_for=response_for, from_org=_read_org(r, r.child(st, "From", required="From"), "From"),
        status_code=r.text(st, "StatusCode", required="StatusCode", limit=20),
        description=r.text(st, "Description", limit=4000),
        timestamp=_timestamp(r, st, "Timestamp", "Status/Timestamp"), staff_info=_read_staff(r, st))


def _read_header(r: _Reader, header) -> Package | StatusMessage:
    if r.child(header, "MessageHeader") is None and r.child(header, "Status") is not None:
        return _read_status(r, header)
    pkg = _read_package_header(r, header)
    traces, business = _read_trace(r, header)
    return replace(pkg, trace_headers=traces, business=business)


@dataclass(frozen=True)
class _ManifestRef:
    content_id: str
    content_type: str
    description: str
    name: str
    digest_alg: str | None
    digest: bytes | None


def _read_manifest(r: _Reader, envelope) -> list[_ManifestRef]:
    body = r.child(envelope, "edXMLBody")
    manifest = r.child(body, "edXMLManifest") if body is not None else None
    refs = []
    for ref in r.children(manifest, "Reference") if manifest is not None else []:
        method = r.child(ref, "DigestMethod", ns=dsig.DS_NS)
        value = r.child(ref, "DigestValue", ns=dsig.DS_NS)
        alg = digest = None
        if method is not None or value is not None:
            alg = _DIGESTS.get(method.get("Algorithm", "") if method is not None else "")
            try:
                digest = base64.b64decode(r.text_of(value, "DigestValue", 200), validate=True)
            except binascii.Error:
                digest = None
            if alg is None or not digest:
                raise EdxmlError("attachment_digest", "Mã băm tệp đính kèm trong manifest không hợp lệ")
        refs.append(_ManifestRef(
            content_id=r.text(ref, "ContentId", required="Reference/ContentId", limit=300),
            content_type=r.text(ref, "ContentType", limit=200), description=r.text(ref, "Description", limit=2000),
            name=r.text(ref, "AttachmentName", limit=500), digest_alg=alg, digest=digest))
    if len({ref.content_id for ref in refs}) != len(refs):
        raise EdxmlError("bad_value:ContentId", "Manifest có hai tệp cùng ContentId")
    return refs


# --- streaming layer: lxml target parser ---
_CHUNK = 1024 * 1024
_MAX_DEPTH = 40  # real packages nest 5 deep; stops recursion bombs before any of our code walks the tree
_MAX_ELEMENTS = 20_000
_MAX_ENVELOPE_TEXT = 1_000_000  # characters of text in the envelope (Content may be long, not megabytes)
_MAX_ATTACHMENTS = 200
_SMALL_FIELDS = {"ContentId": 300, "AttachmentName": 500, "Description": 2000, "ContentType": 200}
_ENCODING_DECL = re.compile(rb"\s*(?:\xef\xbb\xbf)?\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._-]+)[\"']")


def _too_large(reason: str) -> EdxmlError:
    return EdxmlError("too_large", reason)


class _Base64Sink:
    """Decodes base64 as it arrives; refuses on the *encoded* length before the decoded bytes exist."""

    def __init__(self, limit: int):
        self.limit, self.encoded, self.pending, self.padded = limit, 0, "", False
        self.out = io.BytesIO()

    def feed(self, text: str) -> None:
        chunk = "".join(text.split())
        if not chunk:
            return
        if self.padded:
            raise EdxmlError("attachment_encoding", "Dữ liệu base64 của tệp đính kèm bị hỏng")
        self.encoded += len(chunk)
        if self.encoded // 4 * 3 - 3 > self.limit:
            raise _too_large(f"Tệp đính kèm vượt quá {self.limit // (1024 * 1024)} MB")
        buf = self.pending + chunk
        cut = len(buf) - len(buf) % 4
        self._decode(buf[:cut])
        self.pending = buf[cut:]

    def _decode(self, text: str) -> None:
        if not text:
            return
        try:
            self.out.write(binascii.a2b_base64(text, strict_mode=True))
        except (binascii.Error, ValueError):
            raise EdxmlError("attachment_encoding", "Dữ liệu base64 của tệp đính kèm bị hỏng") from None
        self.padded = "=" in text

    def finish(self) -> bytes:
        if self.pending:
            raise EdxmlError("attachment_encoding", "Dữ liệu base64 của tệp đính kèm bị cắt cụt")
        data = self.out.getvalue()
        if len(data) > self.limit:
            raise _too_large(f"Tệp đính kèm vượt quá {self.limit // (1024 * 1024)} MB")
        return data


@dataclass
class _RawAttachment:
    fields: dict[str, str] = field(default_factory=dict)
    data: bytes | None = None


def _split(tag: str) -> tuple[str | None, str]:
    if tag.startswith("{"):
        ns, _, local = tag[1:].partition("}")
        return ns, local
    return None, tag


class _StreamTarget:
    """Events from libxml2 -> the envelope as a small tree (handed to ``on_envelope`` the moment it ends, so a
    forged package is refused before its attachments are read) + decoded attachments + unknown elements."""

    def __init__(self, max_attachment_bytes: int, on_envelope):
        self.max_attachment_bytes, self.on_envelope = max_attachment_bytes, on_envelope
        self.roles: list[str] = []  # root | env | enc | att | field | b64 | skip
        self.path: list[str] = []
        self.scopes: list[dict] = [{}]
        self.builder: etree.TreeBuilder | None = None
        self.envelope_seen = False
        self.attachments: list[_RawAttachment] = []
        self.unknown: list[str] = []
        self.elements = self.env_text = 0
        self.text_parts: list[str] = []
        self.sink: _Base64Sink | None = None

    def _role(self, parent: str | None, ns: str | None, local: str) -> str:
        ours = ns in (NS, None)
        if parent == "env":
            return "env"
        if parent is None:
            if ours and local == "edXML":
                return "root"
            if ours and local == "edXMLEnvelope":
                return self._enter_envelope()
            raise EdxmlError("not_edxml", "Tài liệu không phải gói tin edXML", local[:50])
        if ours and (parent, local) == ("root", "edXMLEnvelope"):
            return self._enter_envelope()
        if ours and (parent, local) == ("root", "AttachmentEncoded"):
            return "enc"
        if ours and (parent, local) == ("enc", "Attachment"):
            if len(self.attachments) >= _MAX_ATTACHMENTS:
                raise _too_large(f"Gói tin có quá {_MAX_ATTACHMENTS} tệp đính kèm")
            return "att"
        if ours and parent == "att" and local in _SMALL_FIELDS:
            return "field"
        if ours and parent == "att" and local == "ContentTransferEncoded":
            return "b64"
        if parent != "skip" and len(self.unknown) < 50:
            self.unknown.append("/".join(self.path[1:] + [local]))
        return "skip"

    def _enter_envelope(self) -> str:
        if self.envelope_seen:
            raise EdxmlError("xml_structure", "Gói tin có nhiều hơn một phong bì edXMLEnvelope")
        self.envelope_seen = True
        return "env"

    def start(self, tag, attrib, nsmap=None):
        self.elements += 1
        if self.elements > _MAX_ELEMENTS:
            raise _too_large(f"Gói tin có quá {_MAX_ELEMENTS} phần tử XML")
        if len(self.roles) >= _MAX_DEPTH:
            raise EdxmlError("xml_too_deep", "Cấu trúc XML lồng quá sâu")
        parent = self.roles[-1] if self.roles else None
        ns, local = _split(tag)
        role = self._role(parent, ns, local)
        nsmap = {prefix or None: uri for prefix, uri in (nsmap or {}).items()}  # lxml reports default as ''
        scope = {**self.scopes[-1], **nsmap}
        self.roles.append(role)
        self.path.append(local)
        self.scopes.append(scope)
        if role == "env" and parent != "env":  # the envelope root carries every prefix in scope
            self.builder = etree.TreeBuilder()
            self.builder.start(tag, dict(attrib), scope)
        elif role == "env":
            self.builder.start(tag, dict(attrib), nsmap)
        elif role == "att":
            self.attachments.append(_RawAttachment())
        elif role == "field":
            self.text_parts = []
        elif role == "b64":
            self.sink = _Base64Sink(self.max_attachment_bytes)

    def end(self, tag):
        role = self.roles.pop()
        local = self.path.pop()
        self.scopes.pop()
        if role == "env":
            self.builder.end(tag)
            if not self.roles or self.roles[-1] != "env":
                envelope, self.builder = self.builder.close(), None
                self.on_envelope(envelope)
        elif role == "field":
            self.attachments[-1].fields.setdefault(local, "".join(self.text_parts).strip())
        elif role == "b64":
            if self.attachments[-1].data is not None:
                raise EdxmlError("xml_structure", "Một tệp đính kèm có hai ContentTransferEncoded")
            self.attachments[-1].data = self.sink.finish()
            self.sink = None

    def data(self, text):
        role = self.roles[-1] if self.roles else None
        if role == "env":
            self.env_text += len(text)
            if self.env_text > _MAX_ENVELOPE_TEXT:
                raise _too_large("Phần đầu gói tin (phong bì) quá lớn")
            self.builder.data(text)
        elif role == "field":
            self.text_parts.append(text)
            if sum(map(len, self.text_parts)) > _SMALL_FIELDS[self.path[-1]]:
                raise EdxmlError(f"field_too_long:{self.path[-1]}", f"Trường {self.path[-1]} quá dài")
        elif role == "b64":
            self.sink.feed(text)

    def pi(self, target, data=None):
        if self.roles and self.roles[-1] == "env":  # canonical XML keeps PIs, so the signed bytes have them
            self.builder.pi(target, data)

    def comment(self, text):
        pass  # comments are outside the signed canonical form

    def doctype(self, name, pubid, system):
        raise EdxmlError("xml_entities", "Gói tin chứa khai báo DOCTYPE/thực thể: bị từ chối (XXE, bom thực thể)")

    def close(self):
        return self


def _check_prolog(head: bytes) -> None:
    """UTF-8 only (what QCVN 102 packages use): also keeps the DOCTYPE byte scan meaningful."""
    if head[:2] in (b"\xfe\xff", b"\xff\xfe") or b"\x00" in head[:4]:
        raise EdxmlError("xml_encoding", "Gói tin phải mã hóa UTF-8")
    m = _ENCODING_DECL.match(head)
    if m and m[1].lower() not in (b"utf-8", b"utf8", b"us-ascii", b"ascii"):
        raise EdxmlError("xml_encoding", "Gói tin phải mã hóa UTF-8", m[1].decode("ascii"))


def _remaining_size(stream: BinaryIO) -> int | None:
    try:
        return os.fstat(stream.fileno()).st_size - stream.tell()
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return None


def _feed(parser: etree.XMLParser, data: bytes | bytearray | BinaryIO, max_bytes: int) -> None:
    """Size first, then DOCTYPE, then the parser: a 270 MB package is refused from its length alone."""
    limit_msg = f"Gói tin vượt quá {max_bytes // (1024 * 1024)} MB"
    if isinstance(data, str):
        raise TypeError("edXML must be given as bytes or a binary file, not str")
    if isinstance(data, (bytes, bytearray)):
        if len(data) > max_bytes:
            raise _too_large(limit_msg)
        _check_prolog(bytes(data[:512]))
        if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
            raise EdxmlError("xml_entities", "Gói tin chứa khai báo DOCTYPE/thực thể: bị từ chối")
        view = memoryview(data)
        for offset in range(0, len(data), _CHUNK):
            parser.feed(bytes(view[offset:offset + _CHUNK]))
    else:
        size = _remaining_size(data)
        if size is not None and size > max_bytes:
            raise _too_large(limit_msg)
        total = 0
        while chunk := data.read(_CHUNK):
            if total == 0:
                _check_prolog(chunk[:512])
            total += len(chunk)
            if total > max_bytes:
                raise _too_large(limit_msg)
            parser.feed(chunk)  # DOCTYPE is still refused by _StreamTarget.doctype
    parser.close()


def _parse(data, trusted_certs, *, max_bytes, max_attachment_bytes, at):
    state: dict = {}

    def on_envelope(envelope: etree._Element) -> None:
        signed, info = dsig.verify_envelope(envelope, trusted_certs, at=at,
                                            header_tag_ok=lambda el: _ours(el, "edXMLHeader"))
        reader = _Reader(signed)
        header = reader.child(signed, "edXMLHeader", required="edXMLHeader")
        state.update(result=_read_header(reader, header), manifest=_read_manifest(reader, signed), info=info)
        state["unknown"] = reader.unknown()

    target = _StreamTarget(max_attachment_bytes, on_envelope)
    parser = etree.XMLParser(target=target, resolve_entities=False, no_network=True, load_dtd=False,
                             dtd_validation=False, huge_tree=False, remove_comments=True)
    try:
        _feed(parser, data, max_bytes)
    except EdxmlError:
        raise
    except (etree.LxmlError, ValueError) as exc:  # lxml: syntax errors; ValueError: namespaces it cannot rebuild
        raise EdxmlError("xml_malformed", "Gói tin không phải XML hợp lệ", str(exc)[:300]) from None
    if "result" not in state:
        raise EdxmlError("not_edxml", "Không tìm thấy phong bì edXMLEnvelope")
    return state, target


def _match_attachments(refs: list[_ManifestRef], raws: list[_RawAttachment],
                       allow_undigested: bool) -> tuple[list[Attachment], bool]:
    """Every file in the manifest must be present, nothing else may be, and each digest must match."""
    by_cid: dict[str, _RawAttachment] = {}
    for raw in raws:
        cid = raw.fields.get("ContentId", "")
        _need(cid, "Attachment/ContentId")
        if cid in by_cid:
            raise EdxmlError("bad_value:ContentId", "Hai tệp đính kèm cùng ContentId")
        if raw.data is None:
            raise EdxmlError("missing_field:Attachment/ContentTransferEncoded", "Tệp đính kèm không có dữ liệu")
        by_cid[cid] = raw
    if set(by_cid) - {ref.content_id for ref in refs}:
        raise EdxmlError("attachment_unlisted", "Có tệp đính kèm không nằm trong manifest đã ký")
    out, verified = [], True
    for ref in refs:
        raw = by_cid.get(ref.content_id)
        if raw is None:
            raise EdxmlError("attachment_missing", f"Thiếu tệp đính kèm {ref.name or ref.content_id!r}")
        if ref.digest is None:
            if not allow_undigested:
                raise EdxmlError("attachment_unsigned", "Tệp đính kèm không có mã băm trong phần đã ký")
            verified = False
        elif not hmac.compare_digest(hashlib.new(ref.digest_alg, raw.data).digest(), ref.digest):
            raise EdxmlError("attachment_tampered",
                             f"Tệp đính kèm {ref.name or ref.content_id!r} đã bị thay đổi sau khi ký")
        out.append(Attachment(
            content_id=ref.content_id, name=ref.name or raw.fields.get("AttachmentName", ""), data=raw.data,
            content_type=ref.content_type or raw.fields.get("ContentType", "") or "application/octet-stream",
            description=ref.description or raw.fields.get("Description", "")))
    return out, verified


def parse(data: bytes | bytearray | BinaryIO, *, trusted_certs: Sequence[x509.Certificate],
          max_bytes: int = MAX_BYTES, max_attachment_bytes: int = MAX_ATTACHMENT_BYTES,
          allow_undigested_attachments: bool = False, at: datetime | None = None) -> Package | StatusMessage:
    """Verify and read a package or a status message, whichever ``data`` holds. Raises EdxmlError only.

    ``trusted_certs``: certificates of trusted sending systems (pinned) and/or CAs that issue them.
    ``at``: instant at which the signer's certificate must be valid (default now).
    ``data`` may be bytes or a binary file (read in 1 MB chunks; its size is checked first when it has one).
    """
    state, target = _parse(data, trusted_certs, max_bytes=max_bytes, max_attachment_bytes=max_attachment_bytes,
                           at=at)
    result, info = state["result"], state["info"]
    unknown = state["unknown"] + target.unknown
    if isinstance(result, StatusMessage):
        unknown += ["AttachmentEncoded/Attachment"] if target.attachments else []  # statuses carry no files
        return replace(result, unknown_elements=unknown, signature=info)
    attachments, verified = _match_attachments(state["manifest"], target.attachments,
                                               allow_undigested_attachments)
    return replace(result, attachments=attachments, unknown_elements=unknown,
                   signature=replace(info, attachments_verified=verified))


def parse_package(data: bytes | bytearray | BinaryIO, *, trusted_certs: Sequence[x509.Certificate],
                  max_bytes: int = MAX_BYTES, max_attachment_bytes: int = MAX_ATTACHMENT_BYTES,
                  allow_undigested_attachments: bool = False, at: datetime | None = None) -> Package:
    """Like :func:`parse`, refusing status messages (``not_package``)."""
    result = parse(data, trusted_certs=trusted_certs, max_bytes=max_bytes, at=at,
                   max_attachment_bytes=max_attachment_bytes,
                   allow_undigested_attachments=allow_undigested_attachments)
    if not isinstance(result, Package):
        raise EdxmlError("not_package", "Đây là thông điệp trạng thái, không phải gói văn bản")
    return result


def parse_status(data: bytes | bytearray | BinaryIO, *, trusted_certs: Sequence[x509.Certificate],
                 max_bytes: int = MAX_BYTES, at: datetime | None = None) -> StatusMessage:
    """Like :func:`parse`, refusing document packages (``not_status``)."""
    result = parse(data, trusted_certs=trusted_certs, max_bytes=max_bytes, at=at)
    if not isinstance(result, StatusMessage):
        raise EdxmlError("not_status", "Đây là gói văn bản, không phải thông điệp trạng thái")
    return result


# ---------------------------------------------------------------------------------------------- peeking
@dataclass(frozen=True)
class Unverified:
    """Addressing facts read WITHOUT checking the signature. Use them only to route a package through a hub
    or to address a refusal (status 02) to its claimed sender; never to register anything."""

    kind: str  # "package" | "status"
    from_organ_id: str  # "" when absent or not a valid organ id
    to_organ_ids: tuple[str, ...]  # packages: To; statuses: ResponseFor/OrganId
    document_id: str  # packages: DocumentId; statuses: ResponseFor/DocumentId
    code: str = ""
    promulgation_date: date | None = None


class _Peeked(Exception):
    """Stops the parser as soon as the envelope has been read."""


def _valid_id(r: _Reader, parent) -> str:
    value = r.text_of(r.child(parent, "OrganId"), limit=1000).upper() if parent is not None else ""
    return value if is_valid_organ_id(value) else ""


def _peek_envelope(env: etree._Element) -> Unverified:
    r = _Reader(env)
    header = r.child(env, "edXMLHeader")
    mh = r.child(header, "MessageHeader") if header is not None else None
    if mh is not None:
        code = r.child(mh, "Code")
        info = r.child(mh, "PromulgationInfo")
        number, notation = (r.text(code, "CodeNumber"), r.text(code, "CodeNotation")) if code is not None else ("", "")
        try:
            day = _date(r, info, "PromulgationDate") if info is not None else None
        except EdxmlError:
            day = None
        to_ids = [i for i in (_valid_id(r, to) for to in r.children(mh, "To")) if i]
        return Unverified("package", _valid_id(r, r.child(mh, "From")), tuple(to_ids),
                          r.text(mh, "DocumentId", limit=300), f"{number}/{notation}".strip("/"), day)
    status = r.child(header, "Status") if header is not None else None
    if status is None:
        raise EdxmlError("not_edxml", "Không tìm thấy MessageHeader hay Status")
    rf = r.child(status, "ResponseFor")
    to_id = _valid_id(r, rf)
    return Unverified("status", _valid_id(r, r.child(status, "From")), (to_id,) if to_id else (),
                      r.text(rf, "DocumentId", limit=300) if rf is not None else "")


def peek(data: bytes | bytearray | BinaryIO, *, max_bytes: int = MAX_BYTES) -> Unverified:
    """Read the addressing part of a package or status message without verifying it (same XML hardening:
    size cap, no DOCTYPE). Stops reading right after the envelope. Raises EdxmlError when even that fails."""
    found: list[Unverified] = []

    def on_envelope(envelope: etree._Element) -> None:
        found.append(_peek_envelope(envelope))
        raise _Peeked

    parser = etree.XMLParser(target=_StreamTarget(max_bytes, on_envelope), resolve_entities=False,
                             no_network=True, load_dtd=False, huge_tree=False)
    try:
        _feed(parser, data, max_bytes)
    except _Peeked:
        return found[0]
    except EdxmlError:
        raise
    except (etree.LxmlError, ValueError) as exc:
        raise EdxmlError("xml_malformed", "Gói tin không phải XML hợp lệ", str(exc)[:300]) from None
    raise EdxmlError("not_edxml", "Không tìm thấy phong bì edXMLEnvelope")
