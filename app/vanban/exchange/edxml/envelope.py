"""Reading the *verified* envelope (header and manifest) into data classes, remembering what was read so
the rest can be reported as unknown elements."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, replace
from datetime import date, datetime

from lxml import etree

from .. import dsig
from ..codes import BusinessDocType, EdxmlError, parse_date, parse_timestamp
from .model import (
    _DIGESTS,
    NS,
    Business,
    Organization,
    OtherInfo,
    Package,
    ResponseFor,
    SignerInfo,
    StaffInfo,
    StatusMessage,
    TraceHeader,
    _check_organ,
)


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

