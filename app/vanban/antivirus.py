"""ClamAV scanning over clamd's INSTREAM command (ARCHITECTURE §4: every file is scanned before acceptance)."""
from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

CHUNK = 64 * 1024


@dataclass
class ScanResult:
    clean: bool
    signature: str = ""


class ScannerUnavailable(Exception):
    pass


class ClamdScanner:
    """Talks to clamd on a Unix socket path or host:port (a small node can delegate to the hub's clamd)."""

    def __init__(self, address: str, timeout: float = 60.0):
        self.address = address
        self.timeout = timeout

    def _connect(self) -> socket.socket:
        if self.address.startswith("/"):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            target = self.address
        else:
            host, _, port = self.address.rpartition(":")
            sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
            target = (host.strip("[]"), int(port))
        sock.settimeout(self.timeout)
        try:
            sock.connect(target)
        except OSError as exc:
            sock.close()
            raise ScannerUnavailable(f"clamd at {self.address}: {exc}") from exc
        return sock

    def scan_file(self, path) -> ScanResult:
        with open(path, "rb") as fh:
            return self.scan_stream(fh)

    def scan_stream(self, fh) -> ScanResult:
        sock = self._connect()
        try:
            sock.sendall(b"zINSTREAM\0")
            while chunk := fh.read(CHUNK):
                sock.sendall(struct.pack("!L", len(chunk)) + chunk)
            sock.sendall(struct.pack("!L", 0))
            reply = b""
            while not reply.endswith(b"\0"):
                part = sock.recv(4096)
                if not part:
                    break
                reply += part
        except OSError as exc:
            raise ScannerUnavailable(f"clamd at {self.address}: {exc}") from exc
        finally:
            sock.close()
        return _parse_reply(reply.rstrip(b"\0").decode("utf-8", "replace"))

    def ping(self) -> bool:
        try:
            sock = self._connect()
        except ScannerUnavailable:
            return False
        try:
            sock.sendall(b"zPING\0")
            return sock.recv(16).startswith(b"PONG")
        except OSError:
            return False
        finally:
            sock.close()


def _parse_reply(reply: str) -> ScanResult:
    # "stream: OK" | "stream: Eicar-Signature FOUND" | "INSTREAM size limit exceeded. ERROR"
    if reply.endswith("OK"):
        return ScanResult(True)
    if reply.endswith("FOUND"):
        return ScanResult(False, reply.split(":", 1)[-1].strip()[: -len("FOUND")].strip())
    raise ScannerUnavailable(f"clamd answered: {reply}")


class NullScanner:
    """Used only where scanning is switched off on purpose (the loopback demo); says so on the admin page."""

    enabled = False

    def scan_file(self, path) -> ScanResult:
        return ScanResult(True)

    def ping(self) -> bool:
        return True


ClamdScanner.enabled = True


def make_scanner(settings):
    return ClamdScanner(settings.clamd_socket) if settings.clamd_socket else NullScanner()
