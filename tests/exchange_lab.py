"""A province on loopback for the exchange tests: a provincial root CA, a hub and nodes as real gunicorn
processes (the hub with mutual TLS), the `vanban exchange` CLI as the push/poll jobs.

Keys are generated at test time (2048-bit to keep it quick). Every process started here is stopped by
Lab.close(); ports are picked free by the kernel.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = ROOT / ".venv" / "bin"
PASSPHRASE = "root-passphrase-for-tests"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env_for(data_dir: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VANBAN_")}
    env.update({"VANBAN_DATA_DIR": str(data_dir), "VANBAN_COOKIE_SECURE": "false", "VANBAN_WORKERS": "1",
                "VANBAN_THREADS": "4", "VANBAN_JOBS_IMMEDIATE": "true", "PYTHONUNBUFFERED": "1"})
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.update({k: str(v) for k, v in extra.items()})
    return env


def use_db(data_dir: Path):
    """Point the one peewee database at this server's file (tests drive one server at a time in-process)."""
    from vanban.models import database, init_database

    if not database.is_closed():
        database.close()
    init_database(Path(data_dir) / "vanban.db")
    database.connect(reuse_if_open=True)
    return database


class Server:
    def __init__(self, name: str, data_dir: Path, role: str, port: int):
        self.name, self.data_dir, self.role, self.port = name, Path(data_dir), role, port
        self.proc: subprocess.Popen | None = None
        self.log = self.data_dir.parent / f"{name}.log"

    @property
    def url(self) -> str:
        return f"{'https' if self.role == 'hub' else 'http'}://127.0.0.1:{self.port}"

    @property
    def pki(self) -> Path:
        return self.data_dir / "pki" / "exchange"

    def start(self, clamd_socket: str = "") -> Server:
        env = env_for(self.data_dir, VANBAN_BIND=f"127.0.0.1:{self.port}", VANBAN_ROLE=self.role,
                      VANBAN_CLAMD_SOCKET=clamd_socket, VANBAN_ANTIVIRUS_REQUIRED="true" if clamd_socket else "false")
        cmd = [str(VENV_BIN / "gunicorn"), "-c", "python:vanban.gunicorn_conf"]
        if self.role == "hub":
            cmd += ["--certfile", str(self.pki / "tls.crt"), "--keyfile", str(self.pki / "tls.key"),
                    "--ca-certs", str(self.pki / "ca.crt"), "--cert-reqs", "2", "vanban.exchange.api:create_wsgi()"]
        else:
            cmd += ["vanban.wsgi:app"]
        self.proc = subprocess.Popen(cmd, env=env, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log.read_text()[-2000:]}")
            try:
                if self.role == "hub":
                    r = requests.get(f"{self.url}/exchange/v1/directory", verify=str(self.pki / "ca.crt"),
                                     cert=(str(self.pki / "tls.crt"), str(self.pki / "tls.key")), timeout=2)
                else:
                    r = requests.get(f"{self.url}/healthz", timeout=2)
                if r.status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not start")

    def kill(self, sig=signal.SIGKILL, grace: float = 5) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout=grace if sig != signal.SIGKILL else 20)
            except subprocess.TimeoutExpired:
                # A gthread worker holding a client's keep-alive connection waits out gunicorn's
                # graceful_timeout (20 s) after SIGINT: at the end of a test nothing in flight matters.
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=20)
        self.proc = None

    def cli(self, *args, check=True, timeout=120, env_extra=None) -> subprocess.CompletedProcess:
        env = env_for(self.data_dir, VANBAN_ROLE=self.role, **(env_extra or {}))
        r = subprocess.run([str(VENV_BIN / "vanban"), "--data", str(self.data_dir), *args], env=env,
                           capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError(f"vanban {' '.join(args)} -> {r.returncode}\n{r.stdout}\n{r.stderr}")
        return r

    def cli_json(self, *args, **kw) -> dict:
        return json.loads(self.cli(*args, **kw).stdout.strip().splitlines()[-1])


class Lab:
    def __init__(self, root: Path, template_dir: Path | None = None):
        from vanban.signing.pki import Pki

        self.root = Path(root)
        self.template_dir = template_dir
        self.pki = Pki(self.root / "province-pki", ca_key_bits=2048)
        self.pki.init_root("Sở Thông tin và Truyền thông tỉnh thử nghiệm", PASSPHRASE)
        self.servers: list[Server] = []

    def identity(self, server: Server, hosts=("127.0.0.1", "localhost")) -> None:
        from vanban.exchange.tls import issue_identity

        issue_identity(self.pki, server.pki, name=server.name, role=server.role, root_passphrase=PASSPHRASE,
                       hosts=list(hosts))

    def hub(self, name: str, agencies: dict, upstream: str = "", max_package_mb: int = 100,
            hosts=("127.0.0.1", "localhost")) -> Server:
        """agencies: code -> (name, node, level)."""
        from vanban.clock import SystemClock
        from vanban.exchange import hub as hub_mod
        from vanban.exchange.config import write_config
        from vanban.models import migrations

        data = self.root / name
        data.mkdir(parents=True)
        server = Server(name, data, "hub", free_port())
        self.identity(server, hosts)
        write_config(data, node_name=name, hub_url=upstream, max_package_mb=max_package_mb)
        db = use_db(data)
        migrations.migrate(SystemClock().local())
        for code, (agency_name, node, level) in agencies.items():
            hub_mod.add_agency(code, agency_name, node, level=level)
        db.close()
        self.servers.append(server)
        return server

    def node(self, name: str, hub_url: str) -> Server:
        from vanban.exchange.config import write_config

        data = self.root / name
        shutil.copytree(self.template_dir, data)
        server = Server(name, data, "node", free_port())
        self.identity(server)
        write_config(data, node_name=name, hub_url=hub_url, timeout_seconds=20)
        self.servers.append(server)
        return server

    def close(self) -> None:
        for server in self.servers:
            server.kill(signal.SIGINT)  # quick shutdown: nothing in flight matters at the end of a test
        from vanban.models import database

        if not database.is_closed():
            database.close()


# ---------------------------------------------------------------------------------------------- data builders
def node_identities(root: Path, names=("node1", "node2")) -> Path:
    """A provincial root under root/pki and each node's TLS and XML-signing identity under root/<name>, for
    tests that build signed packages without starting servers."""
    from vanban.exchange.tls import issue_identity
    from vanban.signing.pki import Pki

    pki = Pki(root / "pki", ca_key_bits=2048)
    pki.init_root("Tỉnh thử nghiệm", PASSPHRASE)
    for name in names:
        issue_identity(pki, root / name, name=name, role="node", root_passphrase=PASSPHRASE)
    return root


def dsig_signer(keys: Path, name: str) -> tuple:
    """(private key, certificate chain) a node signs its edXML with, from node_identities()."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    d = keys / name
    return (serialization.load_pem_private_key((d / "dsig.key").read_bytes(), None),
            x509.load_pem_x509_certificates((d / "dsig.crt").read_bytes()))


def issue_outgoing(node: Server, *, to: list[str], number: str, subject: str, pdf: bytes,
                   agency_code: str = "H19.42", username: str = "clerk", doc_date=None) -> int:
    """What issuing does to the exchange (core/issuing.py): an issued Document with its sealed file, and one
    outbox row per external recipient, in one transaction. Returns the document id."""
    from vanban.core.blobs import BlobStore
    from vanban.models import write_transaction
    from vanban.models.outgoing import Outbox
    from vanban.models.schema import Agency, Attachment, Blob, Document, Register, User

    db = use_db(node.data_dir)
    now = dt.datetime(2026, 3, 10, 9, 0)
    blobs = BlobStore(node.data_dir / "blobs")
    staged = blobs.stage_bytes(pdf)
    with write_transaction():
        agency = Agency.get(Agency.code == agency_code)
        user = User.get(User.username == username)
        reg = Register.get((Register.agency == agency) & (Register.kind == "outgoing") &
                           (Register.confidential == False))  # noqa: E712
        doc = Document.create(agency=agency, direction="out", register=reg, year=2026, issuer_name=agency.name,
                              issuer_code=agency.code, number=number, notation="UBND-VP",
                              doc_date=doc_date or now.date(), doc_type="CV", subject=subject,
                              medium="electronic", status="issued", created_by=user, created_at=now)
        blobs.commit(staged)
        Blob.insert(sha256=staged.sha256, size=staged.size, created_at=now).on_conflict_ignore().execute()
        Attachment.create(document=doc, blob=staged.sha256, filename=f"{number}-UBND-VP.pdf",
                          content_type="application/pdf", size=staged.size, uploaded_by=user, created_at=now)
        for organ_id in to:
            Outbox.create(agency=agency, document=doc, organ_id=organ_id, kind="issue", status="pending",
                          attempts=0, next_attempt_at=now, created_at=now, last_error="")
    db.close()
    return doc.id


def query(node: Server, sql: str, *params):
    import sqlite3

    con = sqlite3.connect(node.data_dir / "vanban.db", timeout=10)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


class WebUser:
    """A browser session against a node's gunicorn: login form, CSRF token from a page, form posts."""

    def __init__(self, node: Server, username: str, password: str):
        self.base = node.url
        self.s = requests.Session()
        r = self.s.post(f"{self.base}/login", data={"username": username, "password": password},
                        allow_redirects=False, timeout=30)
        assert r.status_code == 303, r.text[:500]
        page = self.s.get(f"{self.base}/inbox", timeout=30).text
        self.csrf = page.split('name="csrf_token" value="')[1].split('"')[0]

    def get(self, path):
        return self.s.get(self.base + path, timeout=30)

    def post(self, path, fields: dict):
        return self.s.post(self.base + path, data={"csrf_token": self.csrf, **fields}, allow_redirects=False,
                           timeout=60)


def python() -> str:
    return sys.executable


class Relay:
    """A TCP relay between a node and the hub: cut (stop) and restore the link, count the bytes that went
    through, throttle, and add a fixed delay to every chunk in each direction (this kernel has no netem)."""

    def __init__(self, target_port: int, *, delay: float = 0.0, rate: float | None = None,
                 host: str = "127.0.0.1", target_host: str = "127.0.0.1"):
        import threading

        self.target = (target_host, target_port)
        self.host, self.delay, self.rate = host, delay, rate
        self.port = free_port() if host == "127.0.0.1" else 0
        self.upstream_bytes = 0
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self._server: socket.socket | None = None

    def start(self) -> Relay:
        import threading

        srv = socket.socket()
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind((self.host, self.port))  # the same port again after stop(): the node's hub_url stays valid
        self.port = srv.getsockname()[1]
        srv.listen(64)
        self._server = srv
        threading.Thread(target=self._accept, args=(srv,), daemon=True).start()
        return self

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"

    def _accept(self, srv) -> None:
        import threading

        while True:
            try:
                client, _ = srv.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=10)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)  # the connect timeout must not become an idle timeout of the link
            with self._lock:
                self._conns += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()

    def _pipe(self, src, dst, counts: bool) -> None:
        # Each chunk leaves `delay` seconds after it arrived. While the relay waits it does not read, so TCP
        # backpressure keeps the order; throughput stays above 1 Mbit/s (64 KB per 300 ms).
        started, total = time.monotonic(), 0
        try:
            while data := src.recv(65536):
                arrived = time.monotonic()
                total += len(data)
                if counts:
                    self.upstream_bytes += len(data)
                if self.rate:
                    ahead = total / self.rate - (arrived - started)
                    if ahead > 0:
                        time.sleep(ahead)
                if self.delay:
                    time.sleep(max(0.0, arrived + self.delay - time.monotonic()))
                dst.sendall(data)
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def stop(self) -> None:
        """Cut the link: refuse new connections and break the open ones."""
        if self._server is not None:
            self._server.close()
            self._server = None
        with self._lock:
            conns, self._conns = self._conns, []
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()
