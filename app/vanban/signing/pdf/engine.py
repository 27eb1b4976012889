"""pyHanko glue: open an uploaded PDF for an incremental update, and sign one field with our key, our
clock and an optional TSA, mapping every failure to a SigningError."""

from __future__ import annotations

import functools
import io
from datetime import UTC, datetime

from asn1crypto import keys as asn1_keys
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.sign import fields, signers
from pyhanko.sign.general import get_pyca_cryptography_hash
from pyhanko.sign.timestamps.common_utils import TimestampRequestError
from pyhanko_certvalidator.registry import SimpleCertificateStore

from .. import SigningError
from ..pki import Signer
from ..pki.trust import asn1_cert
from .placement import VN_TZ


def _hostile_input(fn):
    """Public signing calls take uploaded PDFs: any parser failure is 'pdf_corrupt', never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (PdfError, KeyError, TypeError, IndexError, AttributeError, ValueError) as exc:
            raise SigningError("pdf_corrupt", f"{type(exc).__name__}: {str(exc)[:200]}") from None

    return wrapper


def _at(at: datetime | None) -> datetime:
    at = at or datetime.now(UTC)
    if at.tzinfo is None:
        raise SigningError("sign_failed", "signing time must carry a time zone")
    return at.astimezone(VN_TZ)


def _writer(pdf_bytes: bytes) -> IncrementalPdfFileWriter:
    try:
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf_bytes), strict=False)
    except (PdfError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise SigningError("pdf_corrupt", str(exc)[:200]) from None
    if writer.prev.encrypted:
        raise SigningError("pdf_encrypted")
    return writer


class _LoadedKeySigner(signers.SimpleSigner):
    """pyHanko re-parses and re-validates the RSA key for every raw signature (~35 ms, twice per PDF).

    The key is already a validated `cryptography` object, so RSA PKCS#1 v1.5 and ECDSA use it directly.
    """

    def __init__(self, key, **kwargs):
        super().__init__(**kwargs)
        self._key = key

    def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
        try:
            algo = self.get_signature_mechanism_for_digest(digest_algorithm).signature_algo
        except ValueError:
            algo = None
        digest = get_pyca_cryptography_hash(digest_algorithm)
        if algo == "rsassa_pkcs1v15" and isinstance(self._key, rsa.RSAPrivateKey):
            return self._key.sign(data, padding.PKCS1v15(), digest)
        if algo == "ecdsa" and isinstance(self._key, ec.EllipticCurvePrivateKey):
            return self._key.sign(data, ec.ECDSA(digest))
        return super().sign_raw(data, digest_algorithm)


def _pyhanko_signer(signer: Signer) -> signers.SimpleSigner:
    der = signer.key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption())  # stays in memory, handed to pyHanko
    return _LoadedKeySigner(signer.key, signing_cert=asn1_cert(signer.cert),
                            signing_key=asn1_keys.PrivateKeyInfo.load(der),
                            cert_registry=SimpleCertificateStore.from_certs([asn1_cert(c) for c in signer.chain]))


class _ClockedPdfSigner(signers.PdfSigner):
    """pyHanko reads the wall clock for /M and the CMS; the workflow's clock must win (tests, replay)."""

    def __init__(self, *args, signing_time: datetime, **kwargs):
        super().__init__(*args, **kwargs)
        self._signing_time = signing_time

    def init_signing_session(self, pdf_out, existing_fields_only=False):
        session = super().init_signing_session(pdf_out, existing_fields_only=existing_fields_only)
        session.system_time = self._signing_time
        return session


def _timestamper(tsa_url, timestamper):
    if timestamper is not None:
        return timestamper
    if tsa_url:
        from pyhanko.sign.timestamps.requests_client import HTTPTimeStamper

        return HTTPTimeStamper(tsa_url, timeout=15)
    return None


def _sign(writer, signer: Signer, field_name, page_ix, rect, style, at, *, reason, tsa_url=None,
          timestamper=None) -> bytes:
    meta = signers.PdfSignatureMetadata(field_name=field_name, md_algorithm="sha256",
                                        subfilter=fields.SigSeedSubFilter.PADES, reason=reason)
    spec = fields.SigFieldSpec(sig_field_name=field_name, on_page=page_ix, box=tuple(rect))
    pdf_signer = _ClockedPdfSigner(meta, _pyhanko_signer(signer), timestamper=_timestamper(tsa_url, timestamper),
                                   stamp_style=style, new_field_spec=spec, signing_time=at)
    try:
        out = pdf_signer.sign_pdf(writer)
    except TimestampRequestError as exc:
        raise SigningError("tsa_failed", str(exc)[:200]) from None
    except (PdfError, ValueError, OSError, KeyError, TypeError) as exc:
        # pyHanko's own SigningError derives from PdfError: field clashes, DocMDP locks, bad objects
        raise SigningError("sign_failed", str(exc)[:200]) from None
    return out.getvalue()
