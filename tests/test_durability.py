"""Crash durability: nothing acknowledged is ever lost.

Clients register documents with attachments against a real gunicorn (2 gthread workers) while the whole
process group is killed with SIGKILL at a random moment; then the server is restarted on the same data
directory and every request that had been answered 201 must be there, intact: its row, its attachment row and
its blob file with the right SHA-256. The database must pass PRAGMA integrity_check, no row may name a missing
blob and no file in blobs/ may be half written (each file's SHA-256 is its name); leftovers in tmp/ are
allowed, since nothing refers to them.

Antivirus is off here (clamd_socket empty, antivirus_required=false): the scan is not what is being tested and
the real clamd would only slow the cycles. A SIGKILL of the processes does not drop the kernel's page cache,
so this proves the application's commit order (blob fsync + rename before the row commits, synchronous=FULL),
not the disk's; a hard power cut needs a test host that can be reset (tests/hostlab cannot yet).
tests/perf/bench_durability.py runs 100 cycles and prints figures.
"""
from __future__ import annotations

import hashlib
import os
import random
import signal
import socket
import sqlite3
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from conftest import PASSWORD, incoming_fields, multipart
from test_backup import pdf_bytes

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """gunicorn as production runs it (python:vanban.gunicorn_conf), in its own process group."""

    def __init__(self, data_dir: Path, log: Path):
        self.data_dir, self.log, self.port = data_dir, log, free_port()
        self.proc = None

    def start(self) -> "Server":
        env = {**os.environ, "VANBAN_DATA_DIR": str(self.data_dir), "VANBAN_BIND": f"127.0.0.1:{self.port}",
               "VANBAN_CLAMD_SOCKET": "", "VANBAN_ANTIVIRUS_REQUIRED": "false", "VANBAN_COOKIE_SECURE": "false",
               "VANBAN_JOBS_IMMEDIATE": "true", "VANBAN_WORKERS": "2", "VANBAN_THREADS": "4"}
        env.pop("VANBAN_CONFIG", None)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([str(ROOT / ".venv/bin/gunicorn"), "-c", "python:vanban.gunicorn_conf",
                                          "vanban.wsgi:app"], env=env, stdout=log, stderr=log, cwd=ROOT,
                                         start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"gunicorn did not start: {self.log.read_text()[-2000:]}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill(self) -> None:
        """SIGKILL to the whole group: arbiter and workers die at once, mid-request, like a power cut."""
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()


@dataclass
class Acked:
    doc_id: int
    number: str
    sha256: str


@dataclass
class CycleResult:
    acked: list = field(default_factory=list)
    unanswered: int = 0
    refused: int = 0


def login(url: str) -> dict:
    r = requests.post(f"{url}/api/v1/auth/login", json={"username": "clerk", "password": PASSWORD}, timeout=30)
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['token']}"}


def client_loop(url, headers, world, numbers, stop, result, lock, rng):
    session = requests.Session()
    while not stop.is_set():
        with lock:
            n = next(numbers)
        data = pdf_bytes(n, rng.randint(2_000, 300_000))
        body, ctype = multipart(incoming_fields(world, number_notation=f"{n}/UBND-VX"),
                                [("files", f"vb-{n}.pdf", data, "application/pdf")])
        try:
            r = session.post(f"{url}/api/v1/documents", data=body, headers={**headers, "Content-Type": ctype},
                             timeout=30)
        except requests.RequestException:
            with lock:
                result.unanswered += 1  # killed mid-request: may or may not be stored, both are fine
            continue
        with lock:
            if r.status_code == 201:
                doc = r.json()
                result.acked.append(Acked(doc["id"], doc["number"], doc["attachments"][0]["sha256"]))
            else:
                result.refused += 1


def run_cycle(server: Server, world, numbers, rng, clients=3, min_s=0.3, max_s=1.5) -> CycleResult:
    """Start, load with clients, SIGKILL at a random moment. Returns what was acknowledged."""
    server.start()
    headers = login(server.url)
    stop, lock, result = threading.Event(), threading.Lock(), CycleResult()
    threads = [threading.Thread(target=client_loop, args=(server.url, headers, world, numbers, stop, result, lock,
                                                          random.Random(rng.random())))
               for _ in range(clients)]
    for t in threads:
        t.start()
    time.sleep(rng.uniform(min_s, max_s))
    server.kill()
    stop.set()
    for t in threads:
        t.join()
    return result


def check_data(data_dir: Path, acked: list[Acked]) -> list[str]:
    """Every acknowledged registration present and intact; database and blob store consistent."""
    problems = []
    con = sqlite3.connect(data_dir / "vanban.db")
    try:
        integrity = con.execute("PRAGMA integrity_check").fetchone()[0]
        if integrity != "ok":
            problems.append(f"integrity_check: {integrity}")
        for a in acked:
            row = con.execute("SELECT d.number, t.blob_id FROM document d JOIN attachment t ON t.document_id = d.id "
                              "WHERE d.id = ?", (a.doc_id,)).fetchone()
            if row is None:
                problems.append(f"acknowledged document {a.doc_id} is missing")
            elif row != (a.number, a.sha256):
                problems.append(f"document {a.doc_id} differs: {row}")
        referenced = {r[0] for r in con.execute("SELECT sha256 FROM blob UNION SELECT blob_id FROM attachment")}
    finally:
        con.close()
    blobs = data_dir / "blobs"
    for sha in referenced:
        path = blobs / sha[:2] / sha[2:4] / sha
        if not path.is_file():
            problems.append(f"row names missing blob {sha[:12]}")
    for path in blobs.rglob("*"):
        if path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() != path.name:
            problems.append(f"half-written or damaged blob {path.name[:12]}")
    return problems


def run_cycles(data_dir: Path, world, cycles: int, seed: int, log: Path, report=None, final_start=True) -> dict:
    rng = random.Random(seed)
    counter = iter(range(1, 10**9))
    server = Server(data_dir, log)
    all_acked, stats = [], {"cycles": 0, "acked": 0, "unanswered": 0, "refused": 0, "problems": []}
    try:
        for k in range(cycles):
            result = run_cycle(server, world, counter, rng)
            all_acked += result.acked
            problems = check_data(data_dir, all_acked)
            stats["cycles"] += 1
            stats["acked"] += len(result.acked)
            stats["unanswered"] += result.unanswered
            stats["refused"] += result.refused
            stats["problems"] += [f"cycle {k}: {p}" for p in problems]
            if report:
                report(k, result, problems)
            if problems:
                break
        if final_start:  # the app comes back on the data the last kill left (each cycle's start shows it too)
            server.start()
    finally:
        server.kill()
    stats["tmp_leftovers"] = sum(1 for p in (data_dir / "tmp").rglob("*") if p.is_file())
    return stats


@pytest.mark.slow
def test_sigkill_loses_nothing_acknowledged(data_dir, world, tmp_path):
    # about 10 s a cycle, most of it gunicorn importing the app into two workers on this machine
    stats = run_cycles(data_dir, world, cycles=3, seed=int(time.time()), log=tmp_path / "gunicorn.log",
                       final_start=False)
    assert stats["problems"] == [], stats["problems"]
    assert stats["acked"] > 0 and stats["refused"] == 0, stats
