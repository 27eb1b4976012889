"""Inter-agency exchange (liên thông): edXML packages per QCVN 102:2016/BTTTT (amended 2022).

Pure library: no web framework, no database. See the edxml package for the wire format and dsig.py for signatures.
"""

# Names resolve on first use (PEP 562): edxml and dsig load lxml, signxml and cryptography, which a web worker
# that only shows a status label or an exchange page header need not carry.
_WHERE = {
    "Attachment": "edxml",
    "Business": "edxml",
    "BusinessDocType": "codes",
    "EdxmlError": "codes",
    "MAX_ATTACHMENT_BYTES": "edxml",
    "MAX_BYTES": "edxml",
    "NS": "edxml",
    "Organization": "edxml",
    "OtherInfo": "edxml",
    "Package": "edxml",
    "Priority": "codes",
    "ResponseFor": "edxml",
    "SignatureInfo": "dsig",
    "SignerInfo": "edxml",
    "StaffInfo": "edxml",
    "StatusCode": "codes",
    "StatusMessage": "edxml",
    "TraceHeader": "edxml",
    "Unverified": "edxml",
    "build_package": "edxml",
    "build_status": "edxml",
    "document_id": "edxml",
    "is_valid_organ_id": "codes",
    "load_pem_certs": "dsig",
    "new_to_old": "codes",
    "old_to_new": "codes",
    "parse": "edxml",
    "parse_package": "edxml",
    "parse_status": "edxml",
    "parse_timestamp": "codes",
    "peek": "edxml",
    "status_label": "codes",
}


def __getattr__(name):
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(name)


__all__ = [
    "MAX_ATTACHMENT_BYTES", "MAX_BYTES", "NS", "Attachment", "Business", "BusinessDocType", "EdxmlError",
    "Organization", "OtherInfo", "Package", "Priority", "ResponseFor", "SignatureInfo", "SignerInfo", "StaffInfo",
    "StatusCode", "StatusMessage", "TraceHeader", "Unverified", "build_package", "build_status", "document_id",
    "is_valid_organ_id", "load_pem_certs", "new_to_old", "old_to_new", "parse", "parse_package", "parse_status",
    "parse_timestamp", "peek", "status_label",
]
