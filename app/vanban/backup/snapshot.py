"""The online snapshot: each SQLite database copied with the backup API into <data>/backup-snapshot/, with
manifest.json (versions, counts, SHA-256 of each copy)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

from .. import __version__
from .config import DATABASES, SNAPSHOT_DIR, BackupError, _quiet


def sha256_file(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def copy_database(source: Path, target: Path) -> None:
    """Online copy through the SQLite backup API in a single step: one read transaction, so the copy is a
    consistent state even while gunicorn writes (WAL readers do not block the writer)."""
    src = sqlite3.connect(source, timeout=60)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")  # a self-contained file: no -wal beside it in the archive
    finally:
        dst.close()
        src.close()
    fd = os.open(target, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def inspect_database(path: Path) -> dict:
    """Facts the manifest records and a restore compares: integrity, schema version, counts.
    Read with sqlite3 directly, not models.migrations.current_version(): that one uses the process-wide peewee
    database, which may be serving the app in this same process."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        integrity = "; ".join(r[0] for r in con.execute("PRAGMA integrity_check").fetchall()[:5])
        has = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        schema = con.execute("SELECT max(version) FROM schema_version").fetchone()[0] \
            if "schema_version" in has else 0
        counts = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # noqa: S608 - fixed names
                  for t in ("document", "attachment", "blob", "audit_entry") if t in has}
        blob_bytes = con.execute("SELECT coalesce(sum(size), 0) FROM blob").fetchone()[0] if "blob" in has else 0
    finally:
        con.close()
    return {"integrity_check": integrity, "schema_version": schema or 0, "counts": counts,
            "blob_bytes": blob_bytes}


def take_snapshot(data_dir: Path, progress=_quiet) -> dict:
    """Copy the databases into <data>/backup-snapshot/ and write its manifest; returns the manifest."""
    staging = data_dir / SNAPSHOT_DIR
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(mode=0o700)
    files = {}
    for name in DATABASES:
        if (data_dir / name).exists():
            progress({"type": "phase", "message": f"chụp CSDL {name} (SQLite backup API)"})
            copy_database(data_dir / name, staging / name)
            files[name] = {"sha256": sha256_file(staging / name), "size": (staging / name).stat().st_size}
    if "vanban.db" not in files:
        raise BackupError(f"Không thấy CSDL {data_dir / 'vanban.db'}.", code="backup_no_database")
    progress({"type": "phase", "message": "kiểm tra toàn vẹn bản chụp (PRAGMA integrity_check)"})
    facts = inspect_database(staging / "vanban.db")
    manifest = {"format": 1, "app_version": __version__, "created_at": datetime.now(timezone.utc).isoformat(),
                "host": socket.gethostname(), "databases": files, **facts}
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return manifest
