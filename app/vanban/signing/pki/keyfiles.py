"""Private keys at rest: passphrase rules, atomic 0600 writes, PKCS#8 and PKCS#12 encryption, new
RSA keys."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from .. import SigningError

MIN_PASSPHRASE = 8


def _pw(passphrase: str | bytes | None, *, new: bool = False) -> bytes:
    if passphrase is None or passphrase == "" or passphrase == b"":
        raise SigningError("passphrase_missing")
    data = passphrase.encode("utf-8") if isinstance(passphrase, str) else bytes(passphrase)
    if new and len(data) < MIN_PASSPHRASE:
        raise SigningError("weak_passphrase")
    return data


def write_atomic(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write temp file in the same directory, fsync, rename: readers see old or new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        os.fchmod(fd, mode)  # before any byte is written, so a key is never world-readable
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # make the rename itself durable
    finally:
        os.close(dir_fd)


def _p12_bytes(key, cert: x509.Certificate, chain, passphrase: bytes, friendly: str) -> bytes:
    # Explicit modern algorithms (AES-256-CBC, PBKDF2-SHA256, HMAC-SHA256) so NSS, OpenSSL 3 and
    # Windows 10+ all open the file, rather than relying on a library default that may change.
    encryption = (serialization.PrivateFormat.PKCS12.encryption_builder()
                  .kdf_rounds(200_000)
                  .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
                  .hmac_hash(hashes.SHA256())
                  .build(passphrase))
    return pkcs12.serialize_key_and_certificates(friendly.encode("utf-8"), key, cert, list(chain), encryption)


def _encrypt_pkcs8(key, passphrase: bytes) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.BestAvailableEncryption(passphrase))


def _new_key(bits: int):
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)
