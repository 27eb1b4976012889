"""Certificates of the exchange: mutual TLS between nodes and the hub, and each system's package-signing key.

The provincial root CA of vanban.signing.pki issues them (the pki module issues person and seal certificates
only). Layout written by :func:`issue_identity` into ``<data>/pki/exchange/`` (see exchange/config.py)::

    ca.crt              the provincial root: trusted for TLS peers and package signatures
    tls.crt tls.key     hub: serverAuth + clientAuth (a hub is the client of its upstream); node: clientAuth
    dsig.crt dsig.key   the system's XML-DSig key (digitalSignature, nonRepudiation)

The CN is the server's name in the hub directory (`node` column): the hub identifies a caller by it.
"""
from __future__ import annotations

import ipaddress
from datetime import timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ..signing.pki import Pki, write_atomic

DEFAULT_DAYS = 825  # the usual ceiling for TLS server certificates; rotation is a Fabric task


def _san(hosts) -> x509.SubjectAlternativeName:
    names = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(names)


def _leaf(ca_cert, ca_key, key, *, cn: str, eku, hosts, now, days, signing=False) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "vanban exchange"),
                         x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    usage = x509.KeyUsage(digital_signature=True, content_commitment=signing, key_encipherment=not signing,
                          data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                          encipher_only=False, decipher_only=False)
    days = max(1, min(days, (ca_cert.not_valid_after_utc - now).days))
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(ca_cert.subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(usage, critical=True)
               .add_extension(x509.ExtendedKeyUsage(eku), critical=False)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
               .add_extension(_san(hosts or [cn]), critical=False))
    return builder.sign(ca_key, hashes.SHA256())


def _write_pair(out: Path, stem: str, key, cert) -> None:
    write_atomic(out / f"{stem}.key", key.private_bytes(serialization.Encoding.PEM,
                                                       serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()), 0o600)
    write_atomic(out / f"{stem}.crt", cert.public_bytes(serialization.Encoding.PEM), 0o644)


def issue_identity(pki: Pki, out_dir: str | Path, *, name: str, role: str, root_passphrase,
                   hosts=(), days: int = DEFAULT_DAYS, key_bits: int = 2048) -> dict:
    """Issue the TLS and signing certificates of one server (node or hub) from the provincial root and write
    them, with the root certificate, to ``out_dir``. Returns the certificates' serial numbers."""
    if role not in ("node", "hub"):
        raise ValueError("role must be node or hub")
    out = Path(out_dir)
    ca_cert = pki.ca_cert("root")
    ca_key = pki._ca_key("root", root_passphrase)  # the pki's own loader: checks the passphrase, one message
    now = pki.clock()
    eku = [ExtendedKeyUsageOID.CLIENT_AUTH] + ([ExtendedKeyUsageOID.SERVER_AUTH] if role == "hub" else [])
    tls_key = rsa.generate_private_key(public_exponent=65537, key_size=key_bits)
    tls_cert = _leaf(ca_cert, ca_key, tls_key, cn=name, eku=eku, hosts=list(hosts) or [name], now=now, days=days)
    sig_key = rsa.generate_private_key(public_exponent=65537, key_size=key_bits)
    # id-kp-documentSigning (RFC 9336): this key signs edXML envelopes, never TLS handshakes.
    sig_cert = _leaf(ca_cert, ca_key, sig_key, cn=name, eku=[x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36")],
                     hosts=[name], now=now, days=days, signing=True)
    write_atomic(out / "ca.crt", ca_cert.public_bytes(serialization.Encoding.PEM), 0o644)
    _write_pair(out, "tls", tls_key, tls_cert)
    _write_pair(out, "dsig", sig_key, sig_cert)
    return {"tls": f"{tls_cert.serial_number:x}", "dsig": f"{sig_cert.serial_number:x}", "dir": str(out)}


def common_name(cert: x509.Certificate) -> str:
    values = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(values[0].value) if values else ""
