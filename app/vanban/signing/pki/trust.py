"""Trust and signing keys: the TrustStore a verifier uses, a loaded Signer and its pre-sign checks, path
building to a trusted root, and loading a PKCS#12."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from .. import SigningError
from .keyfiles import _pw
from .names import agency_code_of, common_name_of


@dataclass(frozen=True)
class TrustStore:
    """What a verifier trusts: root certificates, known intermediates and current CRLs."""

    roots: tuple[x509.Certificate, ...]
    intermediates: tuple[x509.Certificate, ...] = ()
    crls: tuple[x509.CertificateRevocationList, ...] = ()

    def revocation_of(self, cert: x509.Certificate) -> x509.RevokedCertificate | None:
        """The CRL entry for cert, only from a CRL whose signature checks against a known CA."""
        issuers = [c for c in self.roots + self.intermediates if c.subject == cert.issuer]
        for crl in self.crls:
            if crl.issuer != cert.issuer:
                continue
            if not any(_crl_signed_by(crl, issuer) for issuer in issuers):
                continue  # a forged CRL must neither revoke nor clear anything
            entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
            if entry is not None:
                return entry
        return None


def _crl_signed_by(crl: x509.CertificateRevocationList, issuer: x509.Certificate) -> bool:
    try:
        return crl.is_signature_valid(issuer.public_key())
    except (TypeError, ValueError):
        return False


@dataclass(frozen=True)
class Signer:
    """A loaded signing key with its certificate chain; pdf/engine.py turns it into a pyHanko signer."""

    key: object = field(repr=False)
    cert: x509.Certificate
    chain: tuple[x509.Certificate, ...] = ()
    trust: TrustStore | None = field(default=None, repr=False)

    @property
    def common_name(self) -> str:
        return common_name_of(self.cert)

    @property
    def agency_code(self) -> str | None:
        return agency_code_of(self.cert)

    def check_usable(self, at: datetime) -> None:
        """Refuse to sign with an expired, revoked, untrusted or unsuitable certificate."""
        if not (self.cert.not_valid_before_utc <= at <= self.cert.not_valid_after_utc):
            raise SigningError("cert_expired", f"serial {self.cert.serial_number:x}")
        try:
            ku = self.cert.extensions.get_extension_for_class(x509.KeyUsage).value
            if not (ku.content_commitment or ku.digital_signature):
                raise SigningError("cert_unsuitable")
        except x509.ExtensionNotFound:
            pass
        if self.trust is None:
            return
        if self.trust.revocation_of(self.cert) is not None:
            raise SigningError("cert_revoked", f"serial {self.cert.serial_number:x}")
        chain_to_root(self.cert, self.chain + self.trust.intermediates, self.trust.roots, at)


def asn1_cert(cert: x509.Certificate):
    """The certificate as asn1crypto reads it, the form pyHanko and its path validator take."""
    from asn1crypto import x509 as asn1_x509  # on first use: issuing and revoking certificates never need it

    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def validation_context(roots, others, at: datetime):
    """Path validation as both signing and verifying do it: at `at`, nothing fetched from the network, and
    revocation left to the CRLs we hold (TrustStore.revocation_of), not to URLs in the certificates."""
    from pyhanko_certvalidator import ValidationContext

    return ValidationContext(trust_roots=[asn1_cert(r) for r in roots], other_certs=[asn1_cert(c) for c in others],
                             moment=at, allow_fetching=False, revocation_mode="soft-fail")


def chain_to_root(cert: x509.Certificate, others, roots, at: datetime) -> list[x509.Certificate]:
    """Build and check the path cert -> ... -> trusted root at `at`; raise cert_untrusted otherwise."""
    from pyhanko_certvalidator import CertificateValidator
    from pyhanko_certvalidator.errors import PathBuildingError, PathValidationError

    validator = CertificateValidator(asn1_cert(cert), validation_context=validation_context(roots, others, at))
    try:
        path = asyncio.run(validator.async_validate_usage(set()))
    except (PathBuildingError, PathValidationError) as exc:
        raise SigningError("cert_untrusted", str(exc)) from None
    return [x509.load_der_x509_certificate(c.dump()) for c in path]


def load_signer(path: str | Path, passphrase: str | bytes, *, trust: TrustStore | None = None) -> Signer:
    """Load a PKCS#12 file (ours or one exported from a Ban Cơ yếu token)."""
    data = Path(path).read_bytes()
    try:
        p12 = pkcs12.load_pkcs12(data, _pw(passphrase))
    except ValueError:
        raise SigningError("wrong_passphrase", Path(path).name) from None
    if p12.key is None or p12.cert is None:
        raise SigningError("p12_invalid", Path(path).name)
    chain = tuple(c.certificate for c in p12.additional_certs)
    return Signer(key=p12.key, cert=p12.cert.certificate, chain=chain, trust=trust)
