"""Building signed edXML packages and status messages (layout: see the package docstring)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from lxml import etree

from .. import dsig
from ..codes import EdxmlError, format_date, format_timestamp
from .model import (
    _SHA256_URI,
    NS,
    PREFIX,
    Attachment,
    Organization,
    OtherInfo,
    Package,
    ResponseFor,
    StaffInfo,
    StatusMessage,
    _check_package,
    _check_status,
)


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

