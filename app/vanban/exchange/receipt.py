"""The hub's receipt for a node's audit-log head: what is signed, how, and how a node checks it.

The signed bytes are a canonical JSON object (sorted keys, no spaces, UTF-8)::

    {"count":812,"entry_id":815,"hash":"<64 hex>","hub":"hub","line":0,"node":"nhontrach",
     "v":"vanban-audit-receipt/1","witnessed_at":"2026-03-10T09:00:00+07:00"}

signed with the hub's exchange signing key (dsig.key, issued by the provincial root: exchange/tls.py), RSA
PKCS#1 v1.5 with SHA-256 (ECDSA with SHA-256 for an EC key). ``v`` keeps these signatures apart from anything
else the key signs. A receipt is valid when its certificate was issued by a root in the node's ca.crt, was
valid when the receipt was made, is a document-signing certificate, names the hub in ``hub`` and is not the
node's own: a node holds its own signing key, so it could otherwise countersign a log it had cut itself.
cryptography is imported on first use, so a server without a hub never loads it.
"""
from __future__ import annotations

import base64
import json
from datetime import datetime

KIND = "vanban-audit-receipt/1"
FIELDS = ("count", "entry_id", "hash", "hub", "line", "node", "v", "witnessed_at")
DOCUMENT_SIGNING = "1.3.6.1.5.5.7.3.36"  # id-kp-documentSigning (RFC 9336), as exchange/tls.py issues it


class ReceiptInvalid(Exception):
    """The receipt cannot be believed; ``reason`` says why (English, for `vanban audit verify`)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def payload(*, hub: str, node: str, line: int, entry_id: int, hash: str, count: int,  # noqa: A002
            witnessed_at: str) -> dict:
    return {"v": KIND, "hub": hub, "node": node, "line": line, "entry_id": entry_id, "hash": hash,
            "count": count, "witnessed_at": witnessed_at}


def canonical(fields: dict) -> bytes:
    return json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def sign(fields: dict, key) -> str:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

    data = canonical(fields)
    if isinstance(key, rsa.RSAPrivateKey):
        raw = key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        raw = key.sign(data, ec.ECDSA(hashes.SHA256()))
    else:
        raise TypeError("the hub's signing key must be RSA or EC")
    return base64.b64encode(raw).decode("ascii")


def fingerprint(cert) -> str:
    from cryptography.hazmat.primitives import hashes

    return cert.fingerprint(hashes.SHA256()).hex()


def pem(cert) -> str:
    from cryptography.hazmat.primitives import serialization

    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def check(fields: dict, signature: str, certificate: str, trusted, *, node: str) -> None:
    """Raise ReceiptInvalid unless ``fields`` were signed by the hub for ``node`` (see the module docstring)."""
    if not isinstance(fields, dict) or sorted(fields) != list(FIELDS) or fields.get("v") != KIND:
        raise ReceiptInvalid("not a receipt of this format")
    if fields["node"] != node:
        raise ReceiptInvalid(f"made for another server ({fields['node']!r}, this one is {node!r})")
    cert = _certificate(certificate)
    _check_issuer(cert, trusted)
    _check_signer(cert, fields, node)
    _check_signature(cert, fields, signature)


def _certificate(text: str):
    from cryptography import x509

    try:
        return x509.load_pem_x509_certificate(str(text).encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise ReceiptInvalid("its certificate cannot be read") from None


def _check_issuer(cert, trusted) -> None:
    from cryptography.exceptions import InvalidSignature

    for ca in trusted:
        if ca.subject != cert.issuer:
            continue
        try:
            cert.verify_directly_issued_by(ca)
            return
        except (ValueError, TypeError, InvalidSignature):  # another root with the same name: try the next
            continue
    raise ReceiptInvalid("its certificate was not issued by the provincial CA")


def common_name(cert) -> str:
    """CN of a certificate (as exchange/tls.py, without loading the PKI module that issues them)."""
    from cryptography.x509.oid import NameOID

    values = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(values[0].value) if values else ""


def _check_signer(cert, fields: dict, node: str) -> None:
    from cryptography import x509

    name = common_name(cert)
    if name == node:
        raise ReceiptInvalid("signed by this server itself, not by the hub")
    if name != fields["hub"]:
        raise ReceiptInvalid(f"signed by {name!r}, not by the hub it names ({fields['hub']!r})")
    try:
        usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        usages = []
    if DOCUMENT_SIGNING not in {u.dotted_string for u in usages}:
        raise ReceiptInvalid("its certificate is not a signing certificate of the exchange")
    try:
        at = datetime.fromisoformat(fields["witnessed_at"])
    except (TypeError, ValueError):
        raise ReceiptInvalid("its time cannot be read") from None
    if at.tzinfo is None or not cert.not_valid_before_utc <= at <= cert.not_valid_after_utc:
        raise ReceiptInvalid("its certificate was not valid at the time it names")


def _check_signature(cert, fields: dict, signature: str) -> None:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

    try:
        raw = base64.b64decode(signature, validate=True)
    except (ValueError, TypeError):
        raise ReceiptInvalid("its signature is not base64") from None
    key = cert.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(raw, canonical(fields), padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(raw, canonical(fields), ec.ECDSA(hashes.SHA256()))
        else:
            raise ReceiptInvalid("its certificate has a key of an unknown type")
    except InvalidSignature:
        raise ReceiptInvalid("signature not valid") from None
