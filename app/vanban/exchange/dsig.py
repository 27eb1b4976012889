"""XML-DSig for edXML envelopes (signxml + cryptography).

What is signed: the whole ``edXMLEnvelope`` element (MessageHeader or Status, TraceHeaderList with Bussiness,
and the manifest), as an enveloped signature placed inside ``edXMLHeader`` (DOMAIN.md §11). The Reference has
``URI=""`` with the envelope treated as the signed document, and exclusive c14n, so the signature does not
depend on namespace declarations of the outer ``edXML`` wrapper. Attachments live outside the envelope and are
bound to it by the SHA-256 digests in the signed manifest (see edxml/build.py), which lets a receiver refuse a forged
package before decoding any attachment and tell "attachment tampered" apart from "signature invalid".

We always emit RSA-SHA256; RSA-SHA1 (and SHA-1 digests) are accepted on input because older systems on the
national axis still send them (QCVN 102 was written in 2016).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509 import verification
from lxml import etree
from signxml import (
    CanonicalizationMethod,
    DigestAlgorithm,
    SignatureConfiguration,
    SignatureMethod,
    XMLSigner,
    XMLVerifier,
)
from signxml.exceptions import InvalidCertificate

from .codes import EdxmlError

DS_NS = "http://www.w3.org/2000/09/xmldsig#"
_DS_SIGNATURE = f"{{{DS_NS}}}Signature"
_EXC_C14N = CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0

_ACCEPTED_SIGNATURE_METHODS = frozenset({
    SignatureMethod.RSA_SHA256, SignatureMethod.RSA_SHA384, SignatureMethod.RSA_SHA512, SignatureMethod.RSA_SHA1,
})
_ACCEPTED_DIGESTS = frozenset({
    DigestAlgorithm.SHA256, DigestAlgorithm.SHA384, DigestAlgorithm.SHA512, DigestAlgorithm.SHA1,
})


@dataclass(frozen=True)
class SignatureInfo:
    """Who signed a verified package and how (for the clerk's screen and the logs)."""

    signer_subject: str  # RFC 4514 subject of the signing certificate
    cert_sha256: str  # hex fingerprint of the signing certificate
    signature_method: str  # e.g. "rsa-sha256", "rsa-sha1"
    digest_method: str  # e.g. "sha256"
    attachments_verified: bool = True  # False only when undigested attachments were explicitly allowed
    certificate: x509.Certificate | None = field(default=None, repr=False, compare=False)


def load_pem_certs(data: bytes) -> list[x509.Certificate]:
    """All certificates in a PEM bundle (convenience for callers building ``trusted_certs``)."""
    return x509.load_pem_x509_certificates(data)


def sign_envelope(envelope: etree._Element, signer_key: rsa.RSAPrivateKey,
                  cert_chain: Sequence[x509.Certificate]) -> etree._Element:
    """Sign ``envelope`` (root of its own tree, containing exactly one placeholder
    ``<ds:Signature Id="placeholder"/>`` where the signature must go). Returns the signed envelope element."""
    if not isinstance(signer_key, rsa.RSAPrivateKey):
        raise EdxmlError("signing_key", "Khóa ký phải là khóa RSA", type(signer_key).__name__)
    if not cert_chain:
        raise EdxmlError("signing_key", "Thiếu chứng thư số của hệ thống gửi")
    signer = XMLSigner(signature_algorithm=SignatureMethod.RSA_SHA256, digest_algorithm=DigestAlgorithm.SHA256,
                       c14n_algorithm=_EXC_C14N)
    return signer.sign(envelope, key=signer_key, cert=list(cert_chain))


def _refuse(code: str, reason: str, exc: BaseException | str = "") -> EdxmlError:
    return EdxmlError(code, reason, str(exc)[:300])


def _only_signature(envelope: etree._Element, header_tag_ok) -> etree._Element:
    """Exactly one ds:Signature, a direct child of edXMLHeader: a second one is a signature-wrapping attempt."""
    signatures = list(envelope.iter(_DS_SIGNATURE))
    if not signatures:
        raise EdxmlError("signature_missing", "Gói tin không có chữ ký số của hệ thống gửi")
    if len(signatures) > 1:
        raise EdxmlError("signature_invalid", "Gói tin có nhiều hơn một chữ ký ở phong bì")
    signature = signatures[0]
    parent = signature.getparent()
    if parent is None or not header_tag_ok(parent) or parent.getparent() is not envelope:
        raise EdxmlError("signature_invalid", "Chữ ký không nằm trong edXMLHeader")
    return signature


def _embedded_certs(signature: etree._Element) -> list[x509.Certificate]:
    texts = [el.text or "" for el in signature.iterfind(f"{{{DS_NS}}}KeyInfo/{{{DS_NS}}}X509Data/"
                                                         f"{{{DS_NS}}}X509Certificate")]
    if not texts:
        raise EdxmlError("signature_invalid", "Chữ ký không kèm chứng thư số (X509Certificate)")
    try:
        return [x509.load_der_x509_certificate(_b64(t)) for t in texts[:10]]
    except Exception as exc:  # any malformed certificate is a refusal, whatever the library raises
        raise _refuse("signature_invalid", "Chứng thư số trong chữ ký bị hỏng", exc) from None


def _b64(text: str) -> bytes:
    return base64.b64decode("".join(text.split()), validate=True)


def _check_reference_shape(signature: etree._Element) -> None:
    """Only one Reference, to the whole envelope: a reference to a fragment would leave the rest unsigned."""
    refs = signature.findall(f"{{{DS_NS}}}SignedInfo/{{{DS_NS}}}Reference")
    if len(refs) != 1 or refs[0].get("URI") != "":
        raise EdxmlError("signature_invalid", "Chữ ký không bao trùm toàn bộ phong bì edXML")


def _verify_with(envelope, cert: x509.Certificate, at: datetime):
    config = SignatureConfiguration(signature_methods=_ACCEPTED_SIGNATURE_METHODS,
                                    digest_algorithms=_ACCEPTED_DIGESTS, verification_time=at,
                                    expect_references=1)
    return XMLVerifier().verify(envelope, x509_cert=cert, expect_config=config)


def _verify_signature(envelope, certs, at):
    """Try the first embedded certificate as the signer's, then the last (chains come in either order)."""
    candidates = [certs[0]] if len(certs) == 1 else [certs[0], certs[-1]]
    last_exc: BaseException | None = None
    for cert in candidates:
        try:
            return _verify_with(envelope, cert, at), cert
        except InvalidCertificate as exc:
            raise _refuse("signer_untrusted", "Chứng thư số của hệ thống gửi hết hạn hoặc chưa có hiệu lực",
                          exc) from None
        except Exception as exc:  # signxml raises many types on hostile input; all mean "not valid"
            last_exc = exc
    raise _refuse("signature_invalid", "Chữ ký số không hợp lệ: nội dung đã bị thay đổi hoặc chữ ký hỏng",
                  last_exc or "")


def _check_trust(leaf: x509.Certificate, chain: Sequence[x509.Certificate],
                 trusted: Sequence[x509.Certificate], at: datetime) -> None:
    """Trusted if the signer's certificate is pinned in ``trusted`` or chains up to a CA in it."""
    leaf_der = leaf.public_bytes(serialization.Encoding.DER)
    if any(t.public_bytes(serialization.Encoding.DER) == leaf_der for t in trusted):
        return
    cas = [t for t in trusted if _is_ca(t)]
    if not cas:
        raise EdxmlError("signer_untrusted", "Hệ thống gửi không thuộc danh sách tin cậy")
    intermediates = [c for c in chain if c is not leaf]
    # The provincial CA issues system certificates without TLS EKUs: accept any end-entity extensions,
    # but hold the CAs to the usual rules (basicConstraints, keyCertSign).
    builder = (verification.PolicyBuilder().store(verification.Store(cas)).time(at)
               .extension_policies(ee_policy=verification.ExtensionPolicy.permit_all(),
                                   ca_policy=verification.ExtensionPolicy.webpki_defaults_ca()))
    try:
        builder.build_client_verifier().verify(leaf, intermediates)
    except Exception as exc:  # VerificationError, or ValueError on certificates webpki cannot handle
        raise _refuse("signer_untrusted", "Chứng thư số của hệ thống gửi không do CA tin cậy cấp", exc) from None


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def verify_envelope(envelope: etree._Element, trusted_certs: Sequence[x509.Certificate], *,
                    header_tag_ok, at: datetime | None = None) -> tuple[etree._Element, SignatureInfo]:
    """Verify the enveloped signature of ``envelope`` (root of its own tree).

    Returns the signed envelope *as signxml re-read it from the canonical signed bytes, signature removed*:
    callers must read fields from that element only, never from the input tree (signature wrapping).
    ``header_tag_ok(element) -> bool`` says whether an element is the edXMLHeader (namespace rules live in edxml).
    """
    at = at or datetime.now(timezone.utc)
    signature = _only_signature(envelope, header_tag_ok)
    _check_reference_shape(signature)
    certs = _embedded_certs(signature)
    result, leaf = _verify_signature(envelope, certs, at)
    _check_trust(leaf, certs, trusted_certs, at)
    if result.signed_xml is None:
        raise EdxmlError("signature_invalid", "Không đọc được nội dung đã ký")
    info = SignatureInfo(
        signer_subject=leaf.subject.rfc4514_string(),
        cert_sha256=hashlib.sha256(leaf.public_bytes(serialization.Encoding.DER)).hexdigest(),
        signature_method=_fragment(signature, "SignedInfo/{%s}SignatureMethod" % DS_NS),
        digest_method=_fragment(signature, "SignedInfo/{%s}Reference/{%s}DigestMethod" % (DS_NS, DS_NS)),
        certificate=leaf,
    )
    return result.signed_xml, info


def _fragment(signature: etree._Element, path: str) -> str:
    el = signature.find("{%s}%s" % (DS_NS, path))
    uri = el.get("Algorithm", "") if el is not None else ""
    return uri.rsplit("#", 1)[-1]
