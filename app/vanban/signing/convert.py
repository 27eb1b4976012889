"""DOCX (or ODT, DOC, RTF) to PDF with LibreOffice headless, before a draft is signed.

Each conversion gets a private temporary directory holding both the input and its own LibreOffice
profile (-env:UserInstallation): two conversions at once never share a profile lock, and a
crashed one never leaves a broken profile behind for the next.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from . import SigningError

ALLOWED_SUFFIXES = {".docx", ".doc", ".odt", ".rtf"}
DEFAULT_TIMEOUT = 120  # a 50-page DOCX takes ~10 s on a district server; 120 s means it hung


def find_soffice() -> str:
    for name in ("libreoffice", "soffice"):
        path = shutil.which(name)
        if path:
            return path
    raise SigningError("convert_missing")


def docx_to_pdf(data: bytes, *, suffix: str = ".docx", timeout: float = DEFAULT_TIMEOUT,
                soffice: str | None = None, tmp_dir: str | Path | None = None) -> bytes:
    """Convert document bytes to PDF bytes; raise SigningError on any failure, leave nothing behind."""
    if suffix.lower() not in ALLOWED_SUFFIXES:
        raise SigningError("convert_failed", f"unsupported type {suffix}")
    soffice = soffice or find_soffice()
    with tempfile.TemporaryDirectory(prefix="vanban-convert-", dir=tmp_dir) as work:
        work_dir = Path(work)
        source = work_dir / f"input{suffix.lower()}"
        source.write_bytes(data)
        out_dir = work_dir / "out"
        cmd = [soffice, f"-env:UserInstallation={(work_dir / 'profile').as_uri()}", "--headless",
               "--norestore", "--nolockcheck", "--convert-to", "pdf", "--outdir", str(out_dir), str(source)]
        _run(cmd, timeout, work_dir)
        result = out_dir / "input.pdf"
        if not result.exists() or result.stat().st_size == 0:
            raise SigningError("convert_failed", "LibreOffice produced no PDF")
        pdf = result.read_bytes()
    if not pdf.startswith(b"%PDF-"):
        raise SigningError("convert_failed", "output is not a PDF")
    return pdf


def _run(cmd: list[str], timeout: float, cwd: Path) -> None:
    env = dict(os.environ, HOME=str(cwd))  # LibreOffice writes caches under $HOME; keep them private
    # Own process group: on timeout we kill soffice.bin too, not just the wrapper script.
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise SigningError("convert_timeout", f"{timeout:g} s") from None
    if proc.returncode != 0:
        raise SigningError("convert_failed", err.decode("utf-8", "replace")[-300:])
