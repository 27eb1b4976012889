"""Enrolment of a new server with the hub: a one-time token and a certificate request, signed by the provincial CA.

The appliance's first boot (appliance/image/firstboot) calls :func:`enrol_node` with the seed's token; the hub
answers at ``POST /exchange/v1/enroll`` (public path: the caller has no certificate yet, the token is the
credential). The result is the same layout :func:`vanban.exchange.tls.issue_identity` writes, in
``<data>/pki/exchange/``: ca.crt, tls.key/tls.crt, dsig.key/dsig.crt; private keys never leave the node.

Hub side, once:  ``vanban enroll setup --passphrase-file F`` (keeps the provincial root's passphrase for the
web process in ``<data>/pki/enroll/ca.pass``, 0600), then per server ``vanban enroll token --name node-x``
(prints a token valid 72 h, kept only as its SHA-256).
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import secrets
import ssl
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .errors import Forbidden, Invalid

DOCUMENT_SIGNING = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36")
MAX_BODY = 64 * 1024


def _dir(data_dir) -> Path:
    return Path(data_dir) / "pki" / "enroll"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@contextmanager
def _tokens(data_dir):
    """The token table (hash -> record) under an exclusive lock; written back on exit."""
    folder = _dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / "tokens.json"
    with open(folder / "tokens.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        table = json.loads(path.read_text()) if path.exists() else {}
        yield table
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(table, indent=1))
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)


def issue_token(data_dir, name: str, *, role: str = "node", hours: int = 72, now: datetime | None = None) -> str:
    if role not in ("node", "hub") or not name or len(name) > 63:
        raise Invalid("Tên máy chủ hoặc vai trò không hợp lệ", code="enroll_bad_request")
    now = now or datetime.now(timezone.utc)
    token = secrets.token_urlsafe(24)
    with _tokens(data_dir) as table:
        table[_hash(token)] = {"name": name, "role": role, "expires": (now + timedelta(hours=hours)).isoformat(),
                               "used": None}
    return token


def _spend(data_dir, token: str, name: str, role: str, now: datetime) -> None:
    with _tokens(data_dir) as table:
        record = table.get(_hash(token))
        if (record is None or record["used"] or datetime.fromisoformat(record["expires"]) < now
                or record["name"] != name or record["role"] != role):
            raise Forbidden("Mã đăng ký không hợp lệ, đã dùng hoặc đã hết hạn", code="enroll_token_refused")
        record["used"] = now.isoformat()


def _load_csr(pem: str, name: str) -> x509.CertificateSigningRequest:
    try:
        csr = x509.load_pem_x509_csr(pem.encode())
    except (ValueError, TypeError):
        raise Invalid("Yêu cầu chứng thư không đọc được", code="enroll_bad_csr") from None
    cn = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not csr.is_signature_valid or not cn or cn[0].value != name:
        raise Invalid("Yêu cầu chứng thư sai chữ ký hoặc sai tên máy chủ", code="enroll_bad_csr")
    key = csr.public_key()
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size < 2048:
        raise Invalid("Khóa phải là RSA từ 2048 bit", code="enroll_bad_csr")
    return csr


def sign_requests(data_dir, pki, passphrase, *, token: str, name: str, role: str, tls_csr: str, dsig_csr: str,
                  hosts=(), now: datetime | None = None) -> dict:
    """Check the token (spent only when both requests are valid) and issue the TLS and signing certificates."""
    from .exchange.tls import DEFAULT_DAYS, _leaf

    now = now or datetime.now(timezone.utc)
    csrs = [_load_csr(tls_csr, name), _load_csr(dsig_csr, name)]
    _spend(data_dir, token, name, role, now)
    ca_cert = pki.ca_cert("root")
    ca_key = pki._ca_key("root", passphrase)
    eku = [ExtendedKeyUsageOID.CLIENT_AUTH] + ([ExtendedKeyUsageOID.SERVER_AUTH] if role == "hub" else [])

    class _Public:  # _leaf takes a key object and uses only its public half
        def __init__(self, csr):
            self._pub = csr.public_key()

        def public_key(self):
            return self._pub

    tls = _leaf(ca_cert, ca_key, _Public(csrs[0]), cn=name, eku=eku, hosts=list(hosts) or [name], now=now,
                days=DEFAULT_DAYS)
    dsig = _leaf(ca_cert, ca_key, _Public(csrs[1]), cn=name, eku=[DOCUMENT_SIGNING], hosts=[name], now=now,
                 days=DEFAULT_DAYS, signing=True)
    pem = lambda c: c.public_bytes(serialization.Encoding.PEM).decode()  # noqa: E731
    return {"ca": pem(ca_cert), "tls": pem(tls), "dsig": pem(dsig)}


# -- hub: HTTP endpoint ---------------------------------------------------------------------------------
class EnrollResource:
    def __init__(self, ctx):
        self.ctx = ctx

    def on_post(self, req, resp):
        import falcon

        from .signing.pki import Pki

        data_dir = self.ctx.settings.data_path
        pass_file = _dir(data_dir) / "ca.pass"
        if not pass_file.exists():
            raise falcon.HTTPServiceUnavailable(title="Máy chủ tỉnh chưa bật đăng ký", description="enroll_not_configured")
        if (req.content_length or 0) > MAX_BODY:
            raise falcon.HTTPPayloadTooLarge(description="enroll_too_large")
        body = req.get_media()
        fields = {k: body.get(k) for k in ("token", "name", "role", "tls_csr", "dsig_csr")} if isinstance(body, dict) else {}
        if not all(isinstance(v, str) and v for v in fields.values()) or not fields:
            raise Invalid("Thiếu trường token, name, role, tls_csr hoặc dsig_csr", code="enroll_bad_request")
        hosts = [h for h in body.get("hosts", []) if isinstance(h, str)][:8]
        resp.media = sign_requests(data_dir, Pki(data_dir / "pki"), pass_file.read_bytes().strip(), hosts=hosts,
                                   **fields)


def add_routes(app, ctx) -> None:
    """Mount ``POST /exchange/v1/enroll`` on the hub (public prefix: the token is the credential)."""
    if ctx.settings.role == "hub":
        app.add_route("/exchange/v1/enroll", EnrollResource(ctx))


# -- node: client ---------------------------------------------------------------------------------------
def _csr(key, name: str) -> str:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    return x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256()) \
        .public_bytes(serialization.Encoding.PEM).decode()


def enrol_node(url: str, token: str, *, name: str, role: str, data_dir, hosts=(), cafile: str | None = None,
               timeout: float = 30) -> dict:
    """Make keys here, send the requests with the token, write the certificates; returns the TLS serial.

    The hub's certificate cannot be checked against a CA the node does not have yet (``cafile`` when it
    does); the token is one-time and the result is checked: the certificates must carry our public keys
    and chain to the returned CA, which later mutual-TLS connections then pin."""
    import urllib.request

    from .exchange.tls import _write_pair
    from .signing.pki import write_atomic

    keys = {stem: rsa.generate_private_key(public_exponent=65537, key_size=2048) for stem in ("tls", "dsig")}
    payload = {"token": token, "name": name, "role": role, "hosts": list(hosts),
               "tls_csr": _csr(keys["tls"], name), "dsig_csr": _csr(keys["dsig"], name)}
    context = ssl.create_default_context(cafile=cafile)
    if cafile is None:
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, context=context, timeout=timeout) as answer:
        body = json.loads(answer.read(MAX_BODY))
    ca = x509.load_pem_x509_certificate(body["ca"].encode())
    out = Path(data_dir) / "pki" / "exchange"
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    serial = ""
    for stem, key in keys.items():
        cert = x509.load_pem_x509_certificate(body[stem].encode())
        if cert.public_key().public_numbers() != key.public_key().public_numbers():
            raise ValueError(f"hub returned a {stem} certificate for another key")
        cert.verify_directly_issued_by(ca)
        _write_pair(out, stem, key, cert)
        serial = serial or f"{cert.serial_number:x}"
    write_atomic(out / "ca.crt", ca.public_bytes(serialization.Encoding.PEM), 0o644)
    return {"tls_serial": serial, "dir": str(out)}


# -- CLI (hub) ------------------------------------------------------------------------------------------
def register(subparsers) -> None:
    p = subparsers.add_parser("enroll", help="enrolment of new servers (hub): setup, token")
    sub = p.add_subparsers(dest="enroll_cmd", required=True)
    s = sub.add_parser("setup", help="keep the provincial root's passphrase for the enrolment endpoint")
    s.add_argument("--passphrase-file", required=True)
    s.set_defaults(func=_cmd_setup)
    t = sub.add_parser("token", help="print a one-time enrolment token for a server")
    t.add_argument("--name", required=True)
    t.add_argument("--role", choices=("node", "hub"), default="node")
    t.add_argument("--hours", type=int, default=72)
    t.set_defaults(func=_cmd_token)


def _cmd_setup(args) -> int:
    from .signing.pki import Pki, write_atomic

    passphrase = Path(args.passphrase_file).read_bytes().strip()
    Pki(args.settings.data_path / "pki")._ca_key("root", passphrase)  # refuses a wrong passphrase
    folder = _dir(args.settings.data_path)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_atomic(folder / "ca.pass", passphrase, 0o600)
    print("enrolment enabled")
    return 0


def _cmd_token(args) -> int:
    print(issue_token(args.settings.data_path, args.name, role=args.role, hours=args.hours))
    return 0
