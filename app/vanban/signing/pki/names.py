"""Names in certificates: agency codes, usernames, NFC Vietnamese text, subject DNs and reading them
back."""

from __future__ import annotations

import re
import unicodedata

from cryptography import x509
from cryptography.x509.oid import NameOID

from .. import SigningError

# QĐ 20/2020/QĐ-TTg: up to 35 chars of A-Z 0-9 '.', dot separated groups; also the older
# 13-char QCVN 102:2016 form (000.00.00.H41) which matches the same pattern.
AGENCY_CODE_RE = re.compile(r"^[A-Z0-9]+(\.[A-Z0-9]+)*$")
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


def nfc(text: str, what: str = "name", limit: int = 128) -> str:
    """Vietnamese text in certificates is NFC: the same name typed on two keyboards compares equal."""
    value = unicodedata.normalize("NFC", (text or "").strip())
    if not value or len(value) > limit or any(unicodedata.category(c) == "Cc" for c in value):
        raise SigningError("name_invalid", what)
    return value


def check_agency_code(code: str) -> str:
    code = (code or "").strip().upper()
    if not (0 < len(code) <= 35 and AGENCY_CODE_RE.match(code)):
        raise SigningError("agency_code_invalid", code)
    return code


def _name(cn: str, *, org: str | None = None, code: str | None = None, title: str | None = None,
          unit: str | None = None) -> x509.Name:
    # cryptography encodes these attributes as UTF8String (C stays PrintableString), which is what
    # RFC 5280 asks for and what keeps Vietnamese diacritics intact in every viewer.
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, "VN")]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    if unit:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit))
    if code:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, code))
    if title:
        attrs.append(x509.NameAttribute(NameOID.TITLE, title))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attrs)


def agency_code_of(cert: x509.Certificate) -> str | None:
    values = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER)
    return str(values[0].value) if values else None


def common_name_of(cert: x509.Certificate) -> str:
    values = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(values[0].value) if values else cert.subject.rfc4514_string()
