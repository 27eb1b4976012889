"""The agency PKI: a provincial root CA, an issuing CA per agency, person and seal certificates, CRLs.

Layout under the PKI directory (default ``<data>/pki``, mode 0700)::

    index.json                      every certificate we issued or imported, with status
    root/ca.crt  root/ca.key.pem    provincial root (key: PKCS#8, AES-256, passphrase)
    root/crl.pem                    CRL of the root (revoked agency CAs)
    agencies/<CODE>/ca.crt  ca.key.pem  crl.pem
    agencies/<CODE>/seal/<serial>.p12               the agency seal key (held by the văn thư)
    agencies/<CODE>/people/<username>/<serial>.p12  one per signer
    imported/<serial>.p12           keys imported from an existing PKCS#12 (e.g. Ban Cơ yếu)
    trusted/*.pem                   extra trusted roots (e.g. the Ban Cơ yếu root for imported keys)

Private keys only ever reach the disk encrypted (PKCS#8 or PKCS#12 with AES-256 + PBKDF2), through
:func:`write_atomic` with mode 0600. Passphrases are parameters, never stored, never logged.

Modules: ``store`` (the :class:`Pki` on disk), ``trust`` (TrustStore, Signer, load_signer), ``names``
(agency codes, subject names), ``keyfiles`` (passphrases, encrypted keys, atomic writes). Callers import from
``vanban.signing.pki`` only.
"""

from __future__ import annotations

from .keyfiles import MIN_PASSPHRASE, write_atomic
from .names import AGENCY_CODE_RE, USERNAME_RE, agency_code_of, check_agency_code, common_name_of, nfc
from .store import (
    CRL_VALID_DAYS,
    OID_ADOBE_AUTHENTIC_DOCUMENTS,
    OID_DOCUMENT_SIGNING,
    REVOCATION_REASONS,
    Clock,
    Pki,
    utc_now,
)
from .trust import Signer, TrustStore, chain_to_root, load_signer

__all__ = [
    "AGENCY_CODE_RE", "CRL_VALID_DAYS", "MIN_PASSPHRASE", "OID_ADOBE_AUTHENTIC_DOCUMENTS", "OID_DOCUMENT_SIGNING",
    "REVOCATION_REASONS", "USERNAME_RE", "Clock", "Pki", "Signer", "TrustStore", "agency_code_of", "chain_to_root",
    "check_agency_code", "common_name_of", "load_signer", "nfc", "utc_now", "write_atomic",
]
