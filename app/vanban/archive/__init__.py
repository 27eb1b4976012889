"""Dossier export and archive packages (TT 05/2025/TT-BNV, E-ARK CSIP 2.0.4): PDF and XML exports in
chronological order, the METS/EAD/PREMIS SIP, and its validation against the METS schema."""
from .export import collect, dossier_pdf, dossier_xml
from .sip import build_sip, object_id
from .validate import SchemaUnavailable, validate_mets, validate_package

__all__ = ["SchemaUnavailable", "build_sip", "collect", "dossier_pdf", "dossier_xml", "object_id",
           "validate_mets", "validate_package"]
