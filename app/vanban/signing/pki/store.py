"""The on-disk PKI of one server (:class:`Pki`): issuing CAs, person and seal certificates, revocation,
CRLs, rotation, imports and the trust store built from what is on disk."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from .. import SigningError
from .keyfiles import _encrypt_pkcs8, _new_key, _p12_bytes, _pw, write_atomic
from .names import USERNAME_RE, _name, agency_code_of, check_agency_code, common_name_of, nfc
from .trust import Signer, TrustStore, load_signer

Clock = Callable[[], datetime]

# RFC 9336 id-kp-documentSigning, and Adobe's "Authentic Documents Trust" purpose. emailProtection
# is kept because NSS (poppler's pdfsig) checks signer certs as S/MIME signers.
OID_DOCUMENT_SIGNING = ObjectIdentifier("1.3.6.1.5.5.7.3.36")
OID_ADOBE_AUTHENTIC_DOCUMENTS = ObjectIdentifier("1.2.840.113583.1.1.5")
CRL_VALID_DAYS = 30
REVOCATION_REASONS = {
    "unspecified": x509.ReasonFlags.unspecified,
    "key_compromise": x509.ReasonFlags.key_compromise,
    "ca_compromise": x509.ReasonFlags.ca_compromise,
    "affiliation_changed": x509.ReasonFlags.affiliation_changed,
    "superseded": x509.ReasonFlags.superseded,
    "cessation_of_operation": x509.ReasonFlags.cessation_of_operation,
}


def utc_now() -> datetime:
    return datetime.now(UTC)


class Pki:
    """The on-disk PKI of one server. Every mutating call takes a file lock and writes atomically."""

    def __init__(self, root_dir: str | Path, *, clock: Clock = utc_now, ca_key_bits: int = 3072,
                 leaf_key_bits: int = 2048, crl_url: str | None = None):
        self.dir = Path(root_dir)
        self.clock = clock
        self.ca_key_bits = ca_key_bits
        self.leaf_key_bits = leaf_key_bits
        # Optional CRL distribution point base URL, e.g. "http://pki.tinh.gov.vn/crl"; without one the
        # verifier is handed the CRLs directly (the province network has no public CRL server).
        self.crl_url = crl_url

    # ---- layout -------------------------------------------------------------------------------
    def ca_dir(self, ca: str) -> Path:
        return self.dir / "root" if ca == "root" else self.dir / "agencies" / check_agency_code(ca)

    @property
    def index_path(self) -> Path:
        return self.dir / "index.json"

    def read_index(self) -> dict:
        if not self.index_path.exists():
            return {"version": 1, "cas": {}, "certs": {}}
        return json.loads(self.index_path.read_text("utf-8"))

    def _write_index(self, index: dict) -> None:
        data = json.dumps(index, ensure_ascii=False, indent=2, sort_keys=True).encode("utf-8")
        write_atomic(self.index_path, data, 0o600)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict]:
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.dir, 0o700)
        with open(self.dir / ".lock", "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield self.read_index()
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    # ---- CA material ----------------------------------------------------------------------------
    def ca_cert(self, ca: str) -> x509.Certificate:
        path = self.ca_dir(ca) / "ca.crt"
        if not path.exists():
            raise SigningError("pki_missing" if ca == "root" else "agency_unknown", ca)
        return x509.load_pem_x509_certificate(path.read_bytes())

    def _ca_key(self, ca: str, passphrase):
        data = (self.ca_dir(ca) / "ca.key.pem").read_bytes()
        try:
            return serialization.load_pem_private_key(data, _pw(passphrase))
        except (ValueError, TypeError):
            raise SigningError("wrong_passphrase", f"CA {ca}") from None

    def _builder(self, subject, issuer_cert, public_key, not_before, days):
        builder = (x509.CertificateBuilder().subject_name(subject)
                   .issuer_name(issuer_cert.subject if issuer_cert is not None else subject)
                   .public_key(public_key).serial_number(x509.random_serial_number())
                   .not_valid_before(not_before).not_valid_after(not_before + timedelta(days=days))
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False))
        if issuer_cert is not None:
            ski = issuer_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        return builder

    def _ca_extensions(self, builder, path_length):
        return (builder.add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                             key_encipherment=False, data_encipherment=False,
                                             key_agreement=False, key_cert_sign=True, crl_sign=True,
                                             encipher_only=False, decipher_only=False), critical=True))

    def _leaf_extensions(self, builder, issuer: str, email: str | None):
        builder = (builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True,
                                                key_encipherment=False, data_encipherment=False,
                                                key_agreement=False, key_cert_sign=False, crl_sign=False,
                                                encipher_only=False, decipher_only=False), critical=True)
                   .add_extension(x509.ExtendedKeyUsage([OID_DOCUMENT_SIGNING, ExtendedKeyUsageOID.EMAIL_PROTECTION,
                                                         OID_ADOBE_AUTHENTIC_DOCUMENTS]), critical=False))
        if email:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=False)
        if self.crl_url:
            point = x509.DistributionPoint([x509.UniformResourceIdentifier(f"{self.crl_url}/{issuer}.crl")],
                                           None, None, None)
            builder = builder.add_extension(x509.CRLDistributionPoints([point]), critical=False)
        return builder

    def _record(self, index, cert, *, kind, ca, path, **extra) -> dict:
        rec = {"serial": f"{cert.serial_number:x}", "kind": kind, "ca": ca, "subject": common_name_of(cert),
               "agency": agency_code_of(cert), "not_before": cert.not_valid_before_utc.isoformat(),
               "not_after": cert.not_valid_after_utc.isoformat(), "status": "active",
               "path": str(path.relative_to(self.dir)) if path else None, **extra}
        index["certs"][rec["serial"]] = rec
        return rec

    # ---- public operations ----------------------------------------------------------------------
    def init_root(self, name: str, passphrase, *, years: int = 20) -> x509.Certificate:
        """Create the provincial root CA (once). The root key signs agency CAs and the root CRL only."""
        pw = _pw(passphrase, new=True)
        with self._locked() as index:
            if (self.dir / "root" / "ca.crt").exists():
                raise SigningError("pki_exists")
            key = _new_key(self.ca_key_bits)
            now = self.clock()
            subject = _name(nfc(name), org=nfc(name))
            builder = self._ca_extensions(self._builder(subject, None, key.public_key(), now, 365 * years), 1)
            cert = builder.sign(key, hashes.SHA256())
            self._store_ca("root", key, cert, pw)
            index["cas"]["root"] = {"serial": f"{cert.serial_number:x}", "name": common_name_of(cert), "crl_number": 0}
            self._record(index, cert, kind="root", ca="root", path=self.ca_dir("root") / "ca.crt")
            self._write_crl(index, "root", key)
            self._write_index(index)
        return cert

    def _store_ca(self, ca: str, key, cert, pw: bytes) -> None:
        write_atomic(self.ca_dir(ca) / "ca.key.pem", _encrypt_pkcs8(key, pw), 0o600)
        write_atomic(self.ca_dir(ca) / "ca.crt", cert.public_bytes(serialization.Encoding.PEM), 0o644)

    def issue_agency_ca(self, code: str, name: str, *, root_passphrase, passphrase,
                        years: int = 10) -> x509.Certificate:
        """An issuing CA for one agency (cơ quan), signed by the provincial root."""
        code = check_agency_code(code)
        pw = _pw(passphrase, new=True)
        with self._locked() as index:
            if code in index["cas"]:
                raise SigningError("agency_exists", code)
            root_cert, root_key = self.ca_cert("root"), self._ca_key("root", root_passphrase)
            key, now = _new_key(self.ca_key_bits), self.clock()
            days = min(365 * years, (root_cert.not_valid_after_utc - now).days)
            subject = _name(f"{nfc(name)} CA", org=nfc(name), code=code)
            builder = self._ca_extensions(self._builder(subject, root_cert, key.public_key(), now, days), 0)
            cert = builder.sign(root_key, hashes.SHA256())
            self._store_ca(code, key, cert, pw)
            index["cas"][code] = {"serial": f"{cert.serial_number:x}", "name": nfc(name), "crl_number": 0}
            self._record(index, cert, kind="agency_ca", ca="root", path=self.ca_dir(code) / "ca.crt")
            self._write_crl(index, code, key)
            self._write_index(index)
        return cert

    def issue_person(self, code: str, username: str, full_name: str, title: str, *, ca_passphrase,
                     passphrase, days: int = 3 * 365, unit: str | None = None, email: str | None = None,
                     not_before: datetime | None = None) -> dict:
        """A signer's certificate (lãnh đạo ký văn bản); key saved as PKCS#12 under the signer's passphrase."""
        if not USERNAME_RE.match(username or ""):
            raise SigningError("name_invalid", "username")
        code = check_agency_code(code)
        subject_kw = {"title": nfc(title, "title"), "unit": nfc(unit, "unit") if unit else None}
        folder = Path("agencies") / code / "people" / username
        return self._issue_leaf(code, nfc(full_name), "person", folder, ca_passphrase, passphrase,
                                days=days, email=email, not_before=not_before, username=username, **subject_kw)

    def issue_seal(self, code: str, *, ca_passphrase, passphrase, days: int = 3 * 365,
                   not_before: datetime | None = None) -> dict:
        """The agency certificate used for the seal signature (chữ ký số của cơ quan)."""
        code = check_agency_code(code)
        name = self.read_index()["cas"].get(code, {}).get("name")
        if name is None:
            raise SigningError("agency_unknown", code)
        folder = Path("agencies") / code / "seal"
        return self._issue_leaf(code, name, "seal", folder, ca_passphrase, passphrase, days=days,
                                not_before=not_before)

    def _issue_leaf(self, code, cn, kind, folder, ca_passphrase, passphrase, *, days, email=None,
                    not_before=None, username=None, title=None, unit=None) -> dict:
        pw = _pw(passphrase, new=True)
        with self._locked() as index:
            if code not in index["cas"]:
                raise SigningError("agency_unknown", code)
            ca_cert, ca_key = self.ca_cert(code), self._ca_key(code, ca_passphrase)
            key, start = _new_key(self.leaf_key_bits), not_before or self.clock()
            days = max(1, min(days, (ca_cert.not_valid_after_utc - start).days))
            subject = _name(cn, org=index["cas"][code]["name"], code=code, title=title, unit=unit)
            builder = self._leaf_extensions(self._builder(subject, ca_cert, key.public_key(), start, days),
                                            code, email)
            cert = builder.sign(ca_key, hashes.SHA256())
            path = self.dir / folder / f"{cert.serial_number:x}.p12"
            write_atomic(path, _p12_bytes(key, cert, [ca_cert, self.ca_cert("root")], pw, cn), 0o600)
            # The public certificate also sits in the clear next to the key, so listing, rotating and
            # publishing it never needs the passphrase.
            cert_path = path.with_suffix(".crt")
            write_atomic(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
            rec = self._record(index, cert, kind=kind, ca=code, path=path, username=username,
                               cert_file=str(cert_path.relative_to(self.dir)))
            self._write_index(index)
        return rec

    def revoke(self, serial: str, *, ca_passphrase, reason: str = "unspecified") -> dict:
        """Revoke a certificate and publish a new CRL of its CA at once."""
        if reason not in REVOCATION_REASONS:
            raise SigningError("cert_unknown", f"reason {reason}")
        with self._locked() as index:
            rec = index["certs"].get(serial.lower())
            if rec is None or rec["kind"] in ("root", "imported"):
                raise SigningError("cert_unknown", serial)
            if rec["status"] == "revoked":
                raise SigningError("already_revoked", serial)
            key = self._ca_key(rec["ca"], ca_passphrase)
            rec.update(status="revoked", revoked_at=self.clock().isoformat(), reason=reason)
            self._write_crl(index, rec["ca"], key)
            self._write_index(index)
        return rec

    def make_crl(self, ca: str, *, passphrase) -> x509.CertificateRevocationList:
        """Re-issue the CRL of `ca` ("root" or an agency code), e.g. from a daily timer before nextUpdate."""
        with self._locked() as index:
            if ca not in index["cas"]:
                raise SigningError("pki_missing" if ca == "root" else "agency_unknown", ca)
            crl = self._write_crl(index, ca, self._ca_key(ca, passphrase))
            self._write_index(index)
        return crl

    def _write_crl(self, index, ca, key) -> x509.CertificateRevocationList:
        meta = index["cas"][ca]
        meta["crl_number"] = number = meta.get("crl_number", 0) + 1
        now = self.clock()
        ca_cert = self.ca_cert(ca)
        builder = (x509.CertificateRevocationListBuilder().issuer_name(ca_cert.subject)
                   .last_update(now).next_update(now + timedelta(days=CRL_VALID_DAYS))
                   .add_extension(x509.CRLNumber(number), critical=False))
        for rec in index["certs"].values():
            if rec["ca"] != ca or rec["status"] != "revoked" or rec["kind"] == "root":
                continue
            entry = (x509.RevokedCertificateBuilder().serial_number(int(rec["serial"], 16))
                     .revocation_date(datetime.fromisoformat(rec["revoked_at"]))
                     .add_extension(x509.CRLReason(REVOCATION_REASONS[rec["reason"]]), critical=False))
            builder = builder.add_revoked_certificate(entry.build())
        crl = builder.sign(key, hashes.SHA256())
        write_atomic(self.ca_dir(ca) / "crl.pem", crl.public_bytes(serialization.Encoding.PEM), 0o644)
        return crl

    def rotate(self, serial: str, *, ca_passphrase, passphrase, revoke_old: bool = True,
               days: int = 3 * 365) -> dict:
        """New key and certificate for the same person or seal.

        By default the old certificate is revoked with reason *superseded*, dated now: documents it
        signed before today still verify (the verifier checks revocation at the signing time) while
        a stolen old key can no longer sign. ``revoke_old=False`` leaves it to expire instead.
        """
        rec = self.read_index()["certs"].get(serial.lower())
        if rec is None or rec["kind"] not in ("person", "seal"):
            raise SigningError("cert_unknown", serial)
        old = x509.load_pem_x509_certificate((self.dir / rec["cert_file"]).read_bytes())
        if rec["kind"] == "seal":
            new = self.issue_seal(rec["ca"], ca_passphrase=ca_passphrase, passphrase=passphrase, days=days)
        else:
            title = old.subject.get_attributes_for_oid(NameOID.TITLE)
            unit = old.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
            new = self.issue_person(rec["ca"], rec["username"], rec["subject"],
                                    str(title[0].value) if title else "", ca_passphrase=ca_passphrase,
                                    passphrase=passphrase, days=days,
                                    unit=str(unit[0].value) if unit else None)
        if revoke_old and rec["status"] == "active":
            self.revoke(serial, ca_passphrase=ca_passphrase, reason="superseded")
        with self._locked() as index:
            index["certs"][rec["serial"]]["replaced_by"] = new["serial"]
            self._write_index(index)
        return new

    def import_p12(self, source: str | Path, passphrase, *, label: str | None = None) -> dict:
        """Keep a copy of an existing PKCS#12 (still encrypted under its own passphrase).

        The passphrase is used only to check the file opens and holds a key and certificate.
        """
        data = Path(source).read_bytes()
        signer = load_signer(source, passphrase)
        with self._locked() as index:
            path = self.dir / "imported" / f"{signer.cert.serial_number:x}.p12"
            write_atomic(path, data, 0o600)
            rec = self._record(index, signer.cert, kind="imported", ca=None, path=path,
                               label=label or signer.common_name, issuer=signer.cert.issuer.rfc4514_string())
            self._write_index(index)
        return rec

    def add_trusted_root(self, pem_or_der: bytes) -> x509.Certificate:
        """Trust another root (e.g. Ban Cơ yếu Chính phủ) so imported keys and incoming PDFs verify."""
        try:
            cert = x509.load_pem_x509_certificate(pem_or_der)
        except ValueError:
            cert = x509.load_der_x509_certificate(pem_or_der)
        path = self.dir / "trusted" / f"{cert.fingerprint(hashes.SHA256()).hex()[:16]}.pem"
        write_atomic(path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
        return cert

    def list(self) -> list[dict]:
        return sorted(self.read_index()["certs"].values(), key=lambda r: (r["kind"], r["subject"], r["not_before"]))

    def trust_store(self) -> TrustStore:
        """Our root plus extra trusted roots, every agency CA as intermediate, every CRL on disk."""
        roots = [self.ca_cert("root")] if (self.dir / "root" / "ca.crt").exists() else []
        roots += [x509.load_pem_x509_certificate(p.read_bytes()) for p in sorted((self.dir / "trusted").glob("*.pem"))]
        agency_dirs = sorted((self.dir / "agencies").glob("*/ca.crt"))
        inter = [x509.load_pem_x509_certificate(p.read_bytes()) for p in agency_dirs]
        crl_paths = [self.dir / "root" / "crl.pem"] + [p.parent / "crl.pem" for p in agency_dirs]
        crls = [x509.load_pem_x509_crl(p.read_bytes()) for p in crl_paths if p.exists()]
        return TrustStore(tuple(roots), tuple(inter), tuple(crls))

    def load_signer(self, serial: str, passphrase) -> Signer:
        """Load a person's or seal key by certificate serial, with this PKI's trust for pre-sign checks."""
        rec = self.read_index()["certs"].get(serial.lower())
        if rec is None or rec["kind"] not in ("person", "seal", "imported") or not rec.get("path"):
            raise SigningError("cert_unknown", serial)
        if not (self.dir / rec["path"]).exists():
            raise SigningError("cert_unknown", f"{serial} (key file removed)")
        return load_signer(self.dir / rec["path"], passphrase, trust=self.trust_store())

    def current(self, kind: str, code: str, username: str | None = None) -> dict | None:
        """The newest active certificate of a person or of an agency's seal."""
        recs = [r for r in self.read_index()["certs"].values()
                if r["kind"] == kind and r["ca"] == code and r["status"] == "active"
                and (username is None or r.get("username") == username)]
        return max(recs, key=lambda r: r["not_before"], default=None)
