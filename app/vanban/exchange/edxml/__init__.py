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

Modules: ``model`` (data classes, DocumentId, checks), ``build`` (signed packages and status messages),
``stream`` (hardened streaming parser), ``envelope`` (reading the verified header and manifest), ``parsing``
(``parse``/``peek``). Callers import from ``vanban.exchange.edxml`` only.
"""

from __future__ import annotations

from .build import build_package, build_status
from .model import (
    MAX_ATTACHMENT_BYTES,
    MAX_BYTES,
    NS,
    PREFIX,
    Attachment,
    Business,
    Organization,
    OtherInfo,
    Package,
    ResponseFor,
    SignerInfo,
    StaffInfo,
    StatusMessage,
    TraceHeader,
    document_id,
)
from .parsing import Unverified, parse, parse_package, parse_status, peek

__all__ = [
    "MAX_ATTACHMENT_BYTES", "MAX_BYTES", "NS", "PREFIX", "Attachment", "Business", "Organization", "OtherInfo",
    "Package", "ResponseFor", "SignerInfo", "StaffInfo", "StatusMessage", "TraceHeader", "Unverified",
    "build_package", "build_status", "document_id", "parse", "parse_package", "parse_status", "peek",
]
