"""A real clamd for tests: foreground process, private Unix socket, a one-line signature database for the
EICAR test string (no signature download exists here; TESTHOSTS.md)."""
from __future__ import annotations

import hashlib
import shutil
import socket
import subprocess
import time
from pathlib import Path

# The standard antivirus test string, assembled so this file itself is not flagged by scanners.
EICAR = (b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*")


class Clamd:
    def __init__(self, root: Path):
        self.root = root
        self.socket = root / "clamd.sock"
        self.proc = None

    def start(self) -> Clamd:
        binary = shutil.which("clamd") or "/usr/sbin/clamd"
        db = self.root / "db"
        db.mkdir(parents=True)
        # whole-file hash (as on the test hosts) plus a body signature, so EICAR inside a PDF is found too
        (db / "test.hdb").write_text(f"{hashlib.md5(EICAR).hexdigest()}:{len(EICAR)}:Eicar-Test-Signature\n")
        (db / "test.ndb").write_text(f"Eicar-Test-Body:0:*:{EICAR.hex()}\n")
        conf = self.root / "clamd.conf"
        conf.write_text("\n".join([
            "Foreground yes", f"LocalSocket {self.socket}", f"DatabaseDirectory {db}",
            f"LogFile {self.root / 'clamd.log'}", f"PidFile {self.root / 'clamd.pid'}",
            "StreamMaxLength 60M", "MaxFileSize 60M", "MaxScanSize 100M", "User root", ""]))
        self.proc = subprocess.Popen([binary, "--config-file", str(conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"clamd exited: {self.proc.stderr.read().decode()}")
            if self.socket.exists() and self._ping():
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("clamd did not start in 30 s")

    def _ping(self) -> bool:
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(str(self.socket))
                s.sendall(b"zPING\0")
                return s.recv(8).startswith(b"PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
