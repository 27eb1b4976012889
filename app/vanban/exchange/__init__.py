"""Inter-agency exchange (liên thông): edXML packages per QCVN 102:2016/BTTTT (amended 2022).

Pure library: no web framework, no database. See edxml.py for the wire format and dsig.py for signatures.
"""

from .codes import (
    BusinessDocType,
    EdxmlError,
    Priority,
    StatusCode,
    is_valid_organ_id,
    new_to_old,
    old_to_new,
    parse_timestamp,
    status_label,
)
from .dsig import SignatureInfo, load_pem_certs
from .edxml import (
    MAX_ATTACHMENT_BYTES,
    MAX_BYTES,
    NS,
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
    Unverified,
    build_package,
    build_status,
    document_id,
    parse,
    parse_package,
    parse_status,
    peek,
)

__all__ = [
    "MAX_ATTACHMENT_BYTES", "MAX_BYTES", "NS", "Attachment", "Business", "BusinessDocType", "EdxmlError",
    "Organization", "OtherInfo", "Package", "Priority", "ResponseFor", "SignatureInfo", "SignerInfo", "StaffInfo",
    "StatusCode", "StatusMessage", "TraceHeader", "Unverified", "build_package", "build_status", "document_id",
    "is_valid_organ_id", "load_pem_certs", "new_to_old", "old_to_new", "parse", "parse_package", "parse_status",
    "parse_timestamp", "peek", "status_label",
]
