"""apt-cacher-ng for one lab: bound to loopback and the lab bridge, cache reused across runs.

Each running lab gets its own daemon (the bridge address differs per lab) but daemons must not
share a cache directory, so cache directories are slots guarded by a file lock: the first lab
takes slot 0 (warm), a lab running at the same time takes the next slot.
"""

from __future__ import annotations

import fcntl
import socket
import subprocess
import time
from pathlib import Path

from .errors import LabError

PORT_BASE = 13142  # away from the system daemon's 3142, so a running apt-cacher-ng does not collide


class AptCacher:
    def __init__(self, cache_root: Path, run_dir: Path, bind: list[str], slot: int):
        self.port = PORT_BASE + slot
        self.bind = bind
        self.run_dir = run_dir
        self.cache_root = cache_root
        self.proc: subprocess.Popen | None = None
        self._lock = None
        self.cache_dir: Path | None = None

    @property
    def url(self) -> str:
        """Proxy URL as the test hosts see it (the bridge address)."""
        return f"http://{self.bind[-1]}:{self.port}"

    @property
    def local_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.cache_dir = self._take_slot()
        conf = self.run_dir / "acng"
        conf.mkdir(parents=True, exist_ok=True)
        (self.run_dir / "acng-log").mkdir(exist_ok=True)
        # No Remap- lines: requests are cached under their real host names, nothing is redirected.
        (conf / "acng.conf").write_text(
            f"CacheDir: {self.cache_dir}\nLogDir: {self.run_dir / 'acng-log'}\n"
            "SupportDir: /usr/lib/apt-cacher-ng\nExThreshold: 30\n"
        )
        cmd = ["apt-cacher-ng", "-c", str(conf), "ForeGround=1", f"Port={self.port}",
               "BindAddress=" + " ".join(self.bind), f"SocketPath={self.run_dir / 'acng.socket'}",
               f"PidFile={self.run_dir / 'acng.pid'}"]
        log = open(self.run_dir / "acng.out", "wb")
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        log.close()
        self._wait_listening()

    def _take_slot(self) -> Path:
        base = self.cache_root / "apt"
        base.mkdir(parents=True, exist_ok=True)
        for index in range(16):
            lock = open(base / f"slot{index}.lock", "w")
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                lock.close()
                continue
            self._lock = lock
            path = base / f"slot{index}"
            path.mkdir(exist_ok=True)
            return path
        raise LabError("all 16 apt cache slots are busy; too many labs running at once")

    def _wait_listening(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                out = (self.run_dir / "acng.out").read_text(errors="replace")
                raise LabError(f"apt-cacher-ng exited ({self.proc.returncode}): {out[-1000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise LabError(f"apt-cacher-ng did not listen on port {self.port} within {timeout}s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
        if self._lock:
            self._lock.close()
            self._lock = None
