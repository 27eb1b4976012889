"""Content-addressed attachment store (ARCHITECTURE §4 Files).

A file is streamed to a temporary file while it is hashed, fsynced, scanned, then renamed to
blobs/ab/cd/<sha256> and the directory fsynced, all before the database row that names it is committed: a row
never points at a file that a power cut could lose.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import TooLarge

CHUNK = 256 * 1024


@dataclass
class StagedFile:
    path: Path
    sha256: str
    size: int
    head: bytes  # first bytes, for content sniffing

    def discard(self) -> None:
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class BlobStore:
    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.tmp = self.root.parent / "tmp"
        self.quarantine = self.root.parent / "quarantine"

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).exists()

    def stage(self, stream, max_bytes: int) -> StagedFile:
        """Copy a stream to a private temporary file, hashing as it goes; refuse past max_bytes."""
        self.tmp.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self.tmp, prefix="up-")
        digest, size, head = hashlib.sha256(), 0, b""
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(CHUNK):
                    size += len(chunk)
                    if size > max_bytes:
                        raise TooLarge(f"Tệp vượt quá giới hạn {max_bytes // (1024 * 1024)} MB.",
                                       code="file_too_large")
                    if len(head) < 8192:
                        head += chunk[: 8192 - len(head)]
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
        except BaseException:
            os.unlink(name)
            raise
        return StagedFile(Path(name), digest.hexdigest(), size, head)

    def stage_bytes(self, data: bytes) -> StagedFile:
        import io

        return self.stage(io.BytesIO(data), max_bytes=len(data) + 1)

    def commit(self, staged: StagedFile) -> bool:
        """Move a staged file into place. Returns True when the blob is new (so a failed transaction knows it
        may delete it), False when identical content was already stored (the temp copy is dropped)."""
        target = self.path(staged.sha256)
        if target.exists():
            staged.discard()
            return False
        self._make_dirs(target.parent)
        os.chmod(staged.path, 0o440)
        os.replace(staged.path, target)
        _fsync_dir(target.parent)
        return True

    def _make_dirs(self, directory: Path) -> None:
        """Create blobs/ab/cd and fsync each new directory's parent: a directory entry not yet on disk would
        take the blob with it in a power cut, after its row had committed."""
        missing = []
        d = directory
        while not d.exists():
            missing.append(d)
            d = d.parent
        for d in reversed(missing):
            d.mkdir(exist_ok=True)
            _fsync_dir(d.parent)

    def sweep_tmp(self, max_age_seconds: int = 86400, now: float | None = None) -> int:
        """Remove upload leftovers of crashed requests (never referenced: rows only name blobs/)."""
        import time

        now = now or time.time()
        removed = 0
        if self.tmp.exists():
            for p in self.tmp.iterdir():
                if p.is_file() and now - p.stat().st_mtime > max_age_seconds:
                    p.unlink(missing_ok=True)
                    removed += 1
        return removed

    def remove(self, sha256: str) -> None:
        try:
            self.path(sha256).unlink()
        except FileNotFoundError:
            pass

    def quarantine_file(self, staged: StagedFile, reason: str) -> Path:
        """Infected files never enter the blob store: they are kept aside, unreadable to the app user."""
        self.quarantine.mkdir(parents=True, exist_ok=True, mode=0o700)
        target = self.quarantine / f"{staged.sha256}.bin"
        os.replace(staged.path, target)
        os.chmod(target, 0o400)
        (self.quarantine / f"{staged.sha256}.txt").write_text(reason + "\n", encoding="utf-8")
        return target

    def open(self, sha256: str):
        return open(self.path(sha256), "rb")

    def verify(self, sha256: str) -> bool:
        digest = hashlib.sha256()
        with self.open(sha256) as fh:
            while chunk := fh.read(CHUNK):
                digest.update(chunk)
        return digest.hexdigest() == sha256
