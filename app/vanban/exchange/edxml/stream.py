"""Streaming layer: an lxml *target* parser that rebuilds the envelope as a small tree, decodes attachments
chunk by chunk under a size limit, and refuses DOCTYPE, non-UTF-8 input and oversized documents."""

from __future__ import annotations

import binascii
import io
import os
import re
from dataclasses import dataclass, field
from typing import BinaryIO

from lxml import etree

from ..codes import EdxmlError
from .model import NS

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
        self.declared: dict = {}  # namespace declarations of the element about to start (start_ns)

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

    def start_ns(self, prefix, uri):
        """The element's namespace declarations, reported before its start(). lxml 6.2 passes start() an
        empty nsmap when the target has no start_ns (6.1 passed the declarations there), so they are taken
        from here, the ElementTree target API every version calls."""
        self.declared[prefix or None] = uri  # lxml reports the default namespace as ''

    def end_ns(self, prefix):
        pass

    def start(self, tag, attrib, nsmap=None):
        self.elements += 1
        if self.elements > _MAX_ELEMENTS:
            raise _too_large(f"Gói tin có quá {_MAX_ELEMENTS} phần tử XML")
        if len(self.roles) >= _MAX_DEPTH:
            raise EdxmlError("xml_too_deep", "Cấu trúc XML lồng quá sâu")
        parent = self.roles[-1] if self.roles else None
        ns, local = _split(tag)
        role = self._role(parent, ns, local)
        nsmap = {**{prefix or None: uri for prefix, uri in (nsmap or {}).items()}, **self.declared}
        self.declared = {}
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

