"""Public entry points for incoming edXML: verify and read (``parse``), or read the addressing part
unverified for routing (``peek``)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import BinaryIO

from cryptography import x509
from lxml import etree

from .. import dsig
from ..codes import EdxmlError, is_valid_organ_id
from .envelope import _date, _ManifestRef, _ours, _read_header, _read_manifest, _Reader
from .model import MAX_ATTACHMENT_BYTES, MAX_BYTES, Attachment, Package, StatusMessage, _need
from .stream import _feed, _RawAttachment, _StreamTarget


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
