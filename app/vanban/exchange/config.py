"""Where the exchange finds its hub, its TLS material and the key it signs packages with.

The main settings table (vanban.settings) has no exchange keys yet, so the exchange reads its own small TOML
file, ``<data>/exchange.toml`` (every key optional)::

    node_name = "nhontrach"                 # CN of this server's TLS client certificate (hub directory `node`)
    hub_url = "https://hub.tinh.vn:8443"    # nodes: the provincial hub; hubs: the upstream hub, or ""
    max_package_mb = 100                    # largest package accepted (node) or relayed (hub)
    timeout_seconds = 30                    # connect/read timeout of one HTTPS call
    proxy_client_header = false             # hub behind nginx: trust X-SSL-Client-S-DN from loopback

TLS and signing files default to ``<data>/pki/exchange/``: ``ca.crt`` (provincial root: trusted for TLS peers
and for package signatures), ``tls.crt``/``tls.key`` (server certificate on the hub, client certificate on a
node), ``dsig.crt``/``dsig.key`` (the system key that signs outgoing packages and statuses). The keys are
unencrypted PEM, mode 0600, like any service key that must load unattended after a reboot.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from .codes import EdxmlError

if TYPE_CHECKING:
    from cryptography import x509

CONFIG_NAME = "exchange.toml"
_KEYS = {"node_name", "hub_url", "max_package_mb", "timeout_seconds", "proxy_client_header", "pki_dir"}


@dataclass(frozen=True)
class ExchangeConfig:
    data_dir: Path
    node_name: str = ""
    hub_url: str = ""
    max_package_mb: int = 100
    timeout_seconds: float = 30.0
    proxy_client_header: bool = False
    pki_dir: str = "pki/exchange"

    @property
    def pki(self) -> Path:
        return self.data_dir / self.pki_dir

    @property
    def ca_path(self) -> Path:
        return self.pki / "ca.crt"

    @property
    def tls_cert_path(self) -> Path:
        return self.pki / "tls.crt"

    @property
    def tls_key_path(self) -> Path:
        return self.pki / "tls.key"

    @property
    def max_bytes(self) -> int:
        return int(self.max_package_mb) * 1024 * 1024

    @cached_property
    def trusted_certs(self) -> list[x509.Certificate]:
        """Certificates a package signature may chain to (the provincial root, plus any extra in ca.crt)."""
        if not self.ca_path.exists():
            raise EdxmlError("exchange_not_configured", "Chưa cài chứng thư CA cho liên thông (ca.crt)")
        from cryptography import x509  # here, not at import: a job worker without a hub never needs it

        return x509.load_pem_x509_certificates(self.ca_path.read_bytes())

    @cached_property
    def signer(self):
        """(private key, [certificate, issuers...]) of this system, for XML-DSig."""
        cert_path, key_path = self.pki / "dsig.crt", self.pki / "dsig.key"
        if not key_path.exists():
            raise EdxmlError("exchange_not_configured", "Chưa có khóa ký gói tin của hệ thống (dsig.key)")
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization

        key = serialization.load_pem_private_key(key_path.read_bytes(), None)
        return key, x509.load_pem_x509_certificates(cert_path.read_bytes())


def load_config(data_dir: str | Path) -> ExchangeConfig:
    data_dir = Path(data_dir)
    path = data_dir / CONFIG_NAME
    values = {}
    if path.exists():
        with open(path, "rb") as fh:
            values = tomllib.load(fh)
        unknown = set(values) - _KEYS
        if unknown:
            raise ValueError(f"{path}: unknown keys {', '.join(sorted(unknown))}")
    return ExchangeConfig(data_dir=data_dir, **values)


def write_config(data_dir: str | Path, **values) -> Path:
    """Write exchange.toml (used by `vanban exchange setup` and the tests)."""
    unknown = set(values) - _KEYS
    if unknown:
        raise ValueError(f"unknown keys {', '.join(sorted(unknown))}")
    lines = []
    for key, value in values.items():
        if isinstance(value, bool):
            lines.append(f"{key} = {'true' if value else 'false'}")
        elif isinstance(value, (int, float)):
            lines.append(f"{key} = {value}")
        else:
            lines.append(f'{key} = "{value}"')
    path = Path(data_dir) / CONFIG_NAME
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
