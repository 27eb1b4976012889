"""Enrolment of a new server with the hub: a one-time token and a certificate request, signed by the provincial CA.

The appliance's first boot (appliance/image/firstboot) calls :func:`enrol_node` with the seed's token; the hub
answers at ``POST /exchange/v1/enroll`` (public path: the caller has no certificate yet, the token is the
credential). The result is the same layout :func:`vanban.exchange.tls.issue_identity` writes, in
``<data>/pki/exchange/``: ca.crt, tls.key/tls.crt, dsig.key/dsig.crt; private keys never leave the node.

Hub side, once:  ``vanban enroll setup --passphrase-file F`` (keeps the provincial root's passphrase for the
web process in ``<data>/pki/enroll/ca.pass``, 0600), then per server ``vanban enroll token --name node-x``
(prints a token valid 72 h, kept only as its SHA-256).

The playbooks enrol the same way with their SSH connections as the transport instead of HTTPS (no port of
the hub needs to be open for it, and the root key stays readable by root alone, in a directory of its own
that ``vanban --data DIR`` names): ``vanban enroll request`` on the server makes the keys (kept in
``pki/exchange/pending/``) and prints the request, ``vanban --data DIR enroll sign`` on the hub answers it
with a token issued there, ``vanban enroll install`` on the server checks and installs the answer, and
``vanban enroll status`` tells whether the installed identity is still good (issued by the given root, for
this name, role and addresses, not about to expire).
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
from cryptography.exceptions import InvalidSignature
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


# -- hub: HTTP endpoint and `vanban enroll sign` ---------------------------------------------------------
def answer_request(data_dir, body, passphrase) -> dict:
    """Check one enrolment request (token, name, role, two CSRs, optional hosts) and issue its certificates."""
    from .signing.pki import Pki

    fields = {k: body.get(k) for k in ("token", "name", "role", "tls_csr", "dsig_csr")} if isinstance(body, dict) else {}
    if not all(isinstance(v, str) and v for v in fields.values()) or not fields:
        raise Invalid("Thiếu trường token, name, role, tls_csr hoặc dsig_csr", code="enroll_bad_request")
    hosts = [h for h in body.get("hosts", []) if isinstance(h, str)][:8]
    return sign_requests(data_dir, Pki(Path(data_dir) / "pki"), passphrase, hosts=hosts, **fields)


class EnrollResource:
    def __init__(self, ctx):
        self.ctx = ctx

    def on_post(self, req, resp):
        import falcon

        data_dir = self.ctx.settings.data_path
        pass_file = _dir(data_dir) / "ca.pass"
        if not pass_file.exists():
            raise falcon.HTTPServiceUnavailable(title="Máy chủ tỉnh chưa bật đăng ký", description="enroll_not_configured")
        if (req.content_length or 0) > MAX_BODY:
            raise falcon.HTTPPayloadTooLarge(description="enroll_too_large")
        resp.media = answer_request(data_dir, req.get_media(), pass_file.read_bytes().strip())


def add_routes(app, ctx) -> None:
    """Mount ``POST /exchange/v1/enroll`` on the hub (public prefix: the token is the credential)."""
    if ctx.settings.role == "hub":
        app.add_route("/exchange/v1/enroll", EnrollResource(ctx))


# -- node: client ---------------------------------------------------------------------------------------
def _csr(key, name: str) -> str:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    return x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256()) \
        .public_bytes(serialization.Encoding.PEM).decode()


def _new_keys() -> dict:
    return {stem: rsa.generate_private_key(public_exponent=65537, key_size=2048) for stem in ("tls", "dsig")}


def make_request(keys: dict, *, name: str, role: str, hosts=()) -> dict:
    """The request body without its token: name, role, hosts and one CSR per key."""
    return {"name": name, "role": role, "hosts": list(hosts),
            "tls_csr": _csr(keys["tls"], name), "dsig_csr": _csr(keys["dsig"], name)}


def install_identity(data_dir, keys: dict, answer: dict) -> dict:
    """Check the hub's answer against our keys (each certificate carries our public key and was issued by the
    returned CA, which later mutual-TLS connections then pin) and write the identity; nothing is written
    unless both certificates pass."""
    from .exchange.tls import _write_pair
    from .signing.pki import write_atomic

    ca = x509.load_pem_x509_certificate(answer["ca"].encode())
    certs = {}
    for stem, key in keys.items():
        cert = x509.load_pem_x509_certificate(answer[stem].encode())
        if cert.public_key().public_numbers() != key.public_key().public_numbers():
            raise ValueError(f"hub returned a {stem} certificate for another key")
        try:
            cert.verify_directly_issued_by(ca)
        except (ValueError, TypeError, InvalidSignature):
            raise ValueError(f"hub returned a {stem} certificate the returned CA did not issue") from None
        certs[stem] = cert
    out = Path(data_dir) / "pki" / "exchange"
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    for stem, key in keys.items():
        _write_pair(out, stem, key, certs[stem])
    write_atomic(out / "ca.crt", ca.public_bytes(serialization.Encoding.PEM), 0o644)
    return {"tls_serial": f"{certs['tls'].serial_number:x}", "dir": str(out)}


def enrol_node(url: str, token: str, *, name: str, role: str, data_dir, hosts=(), cafile: str | None = None,
               timeout: float = 30) -> dict:
    """Make keys here, send the requests with the token, write the certificates; returns the TLS serial.

    The hub's certificate cannot be checked against a CA the node does not have yet (``cafile`` when it
    does); the token is one-time and the result is checked (:func:`install_identity`)."""
    import urllib.request

    keys = _new_keys()
    payload = {"token": token, **make_request(keys, name=name, role=role, hosts=hosts)}
    context = ssl.create_default_context(cafile=cafile)
    if cafile is None:
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, context=context, timeout=timeout) as answer:
        body = json.loads(answer.read(MAX_BODY))
    return install_identity(data_dir, keys, body)


def identity_status(data_dir, *, name: str, role: str, hosts=(), ca_pem: bytes, renew_days: int = 30,
                    now: datetime | None = None) -> dict:
    """Whether the installed identity is still the right one: both certificates present, matching their keys,
    issued by ``ca_pem`` (the hub's root) for ``name``, the TLS one for ``role`` (a hub's also for every name in
    ``hosts``), and valid for more than ``renew_days``. ``reasons`` says what is wrong (empty when valid)."""
    from .exchange.tls import _san, common_name

    now = now or datetime.now(timezone.utc)
    pki = Path(data_dir) / "pki" / "exchange"
    root = x509.load_pem_x509_certificate(ca_pem)
    try:
        installed = x509.load_pem_x509_certificates((pki / "ca.crt").read_bytes())
        pairs = {stem: (x509.load_pem_x509_certificate((pki / f"{stem}.crt").read_bytes()),
                        serialization.load_pem_private_key((pki / f"{stem}.key").read_bytes(), None))
                 for stem in ("tls", "dsig")}
    except (OSError, ValueError) as exc:
        return {"valid": False, "reasons": [f"no usable identity: {exc.__class__.__name__}"], "not_after": None}
    reasons = [] if root in installed else ["ca.crt is not the hub's root"]
    for stem, (cert, key) in pairs.items():
        if cert.public_key().public_numbers() != key.public_key().public_numbers():
            reasons.append(f"{stem}.crt does not match {stem}.key")
        try:
            cert.verify_directly_issued_by(root)
        except (ValueError, TypeError, InvalidSignature):
            reasons.append(f"{stem}.crt is not issued by the hub's root")
        if common_name(cert) != name:
            reasons.append(f"{stem}.crt is for {common_name(cert)!r}, not {name!r}")
        if cert.not_valid_after_utc - now < timedelta(days=renew_days):
            reasons.append(f"{stem}.crt expires {cert.not_valid_after_utc:%Y-%m-%d} (renewed {renew_days} days before)")
    tls = pairs["tls"][0]
    if role == "hub" and ExtendedKeyUsageOID.SERVER_AUTH not in _ext(tls, x509.ExtendedKeyUsage, []):
        reasons.append("tls.crt cannot serve TLS (issued for a node, this is the hub)")
    # Nodes check the hub's names against its certificate; a node's is a client certificate whose names no one
    # checks, so a node whose address changed keeps it.
    present = set(_ext(tls, x509.SubjectAlternativeName, []))
    missing = [h for h in hosts if not set(_san([h])) <= present] if role == "hub" else []
    if missing:
        reasons.append(f"tls.crt does not name {', '.join(missing)}")
    return {"valid": not reasons, "reasons": reasons, "tls_serial": f"{tls.serial_number:x}",
            "not_after": min(c.not_valid_after_utc for c, _ in pairs.values()).isoformat()}


def _ext(cert, kind, default):
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return default


# -- CLI --------------------------------------------------------------------------------------------------
def register(subparsers) -> None:
    p = subparsers.add_parser("enroll", help="enrolment of servers with the provincial CA: setup, token, sign "
                                             "(hub); request, install, status (the server)")
    sub = p.add_subparsers(dest="enroll_cmd", required=True)
    s = sub.add_parser("setup", help="keep the provincial root's passphrase for the enrolment endpoint")
    s.add_argument("--passphrase-file", required=True)
    s.set_defaults(func=_cmd_setup)
    t = sub.add_parser("token", help="print a one-time enrolment token for a server")
    t.add_argument("--name", required=True)
    t.add_argument("--role", choices=("node", "hub"), default="node")
    t.add_argument("--hours", type=int, default=72)
    t.set_defaults(func=_cmd_token)
    g = sub.add_parser("sign", help="answer a request read as JSON on stdin (with its token), as the endpoint "
                                    "does; prints the certificates (JSON)")
    g.add_argument("--issue-token", action="store_true",
                   help="issue the request's one-time token here and spend it at once (root at the hub, e.g. the "
                        "playbooks: no token travels)")
    g.set_defaults(func=_cmd_sign)
    r = sub.add_parser("request", help="make this server's keys (pending until install) and print the request")
    r.add_argument("--name", required=True, help="this server's name at the hub (certificate CN)")
    r.add_argument("--role", choices=("node", "hub"), default="node")
    r.add_argument("--host", action="append", default=[], help="DNS name or IP for the certificate (repeatable)")
    r.set_defaults(func=_cmd_request)
    sub.add_parser("install", help="check the hub's answer (JSON on stdin) against the pending keys and install "
                                   "the identity").set_defaults(func=_cmd_install)
    st = sub.add_parser("status", help="is the installed identity good? (JSON; the hub's root PEM on stdin)")
    st.add_argument("--name", required=True)
    st.add_argument("--role", choices=("node", "hub"), default="node")
    st.add_argument("--host", action="append", default=[])
    st.add_argument("--renew-days", type=int, default=30, help="report a certificate this close to expiry")
    st.set_defaults(func=_cmd_status)


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


def _stdin_json():
    import sys

    try:
        return json.load(sys.stdin)
    except json.JSONDecodeError as exc:
        raise Invalid(f"Dữ liệu vào không phải JSON: {exc}", code="enroll_bad_request") from None


def _cmd_sign(args) -> int:
    pass_file = _dir(args.settings.data_path) / "ca.pass"
    if not pass_file.exists():
        raise Invalid(f"Chưa bật đăng ký: thiếu {pass_file} (vanban enroll setup)", code="enroll_not_configured")
    body = _stdin_json()
    if args.issue_token and isinstance(body, dict):
        body["token"] = issue_token(args.settings.data_path, str(body.get("name", "")), role=str(body.get("role", "")),
                                    hours=1)
    print(json.dumps(answer_request(args.settings.data_path, body, pass_file.read_bytes().strip())))
    return 0


def _pending(data_dir) -> Path:
    return Path(data_dir) / "pki" / "exchange" / "pending"


def _cmd_request(args) -> int:
    from .signing.pki import write_atomic

    keys = _new_keys()
    (Path(args.settings.data_path) / "pki" / "exchange").mkdir(parents=True, exist_ok=True, mode=0o700)
    for stem, key in keys.items():  # kept here until `install`: the current identity stays in use meanwhile
        write_atomic(_pending(args.settings.data_path) / f"{stem}.key",
                     key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()), 0o600)
    print(json.dumps(make_request(keys, name=args.name, role=args.role, hosts=args.host)))
    return 0


def _cmd_install(args) -> int:
    import shutil

    pending = _pending(args.settings.data_path)
    try:
        keys = {stem: serialization.load_pem_private_key((pending / f"{stem}.key").read_bytes(), None)
                for stem in ("tls", "dsig")}
    except FileNotFoundError:
        raise Invalid("Không có khóa chờ cấp chứng thư (chạy vanban enroll request trước)",
                      code="enroll_no_request") from None
    answer = _stdin_json()
    if not isinstance(answer, dict) or not all(isinstance(answer.get(k), str) for k in ("ca", "tls", "dsig")):
        raise Invalid("Trả lời của máy chủ tỉnh thiếu ca, tls hoặc dsig", code="enroll_bad_answer")
    print(json.dumps(install_identity(args.settings.data_path, keys, answer)))
    shutil.rmtree(pending)
    return 0


def _cmd_status(args) -> int:
    import sys

    ca_pem = sys.stdin.buffer.read()
    print(json.dumps(identity_status(args.settings.data_path, name=args.name, role=args.role, hosts=args.host,
                                     ca_pem=ca_pem, renew_days=args.renew_days)))
    return 0
