"""A backup run: one at a time on a node (the run lock), snapshot, `borg create` into each repository,
prune the local one, metrics; and the pre-upgrade snapshot `vanban migrate` takes."""

from __future__ import annotations

import json
import re
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path

from .borg import Borg, repo
from .config import (
    ARCHIVE_PREFIX,
    ARCHIVED,
    SNAPSHOT_DIR,
    BackupConfig,
    BackupError,
    _quiet,
    load_backup_config,
)
from .metrics import BACKUP_HELP, write_metrics
from .snapshot import take_snapshot

MB = 1024 * 1024


def _stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H%M%SZ")


class _RunLock:
    """One backup at a time on this node (the timer and an admin's `backup now` may meet)."""

    def __init__(self, path: Path):
        self.path = path

    def __enter__(self):
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fh = open(self.path, "w")
        try:
            fcntl.flock(self.fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.fh.close()
            raise BackupError("Một lần sao lưu khác đang chạy trên máy này.", code="backup_running") from None
        return self

    def __exit__(self, *exc):
        self.fh.close()


def _create(borg: Borg, archive: str, data_dir: Path, manifest: dict, progress) -> dict:
    paths = [p for p in (SNAPSHOT_DIR, *ARCHIVED) if (data_dir / p).exists()]
    total = manifest["blob_bytes"] + sum(f["size"] for f in manifest["databases"].values())
    args = ["create", "--json", "--progress", "--compression", borg.config.compression,
            "--chunker-params", borg.config.chunker_params]
    if borg.name == "hub" and int(borg.config.upload_ratelimit):
        args += ["--upload-ratelimit", str(borg.config.upload_ratelimit)]

    def relay(event):
        progress({**event, "repo": borg.name, "expected_size": total})

    result = borg.run(*args, archive=archive, extra=paths, cwd=data_dir, progress=relay)
    stats = json.loads(result.stdout)["archive"]["stats"]
    return {"archive": archive, "original_size": stats["original_size"], "added_size": stats["deduplicated_size"],
            "files": stats["nfiles"], "warnings": result.warnings}


def _prune(borg: Borg, progress) -> None:
    c = borg.config
    progress({"type": "phase", "message": f"dọn kho {borg.name}: giữ {c.keep_daily} ngày, {c.keep_weekly} tuần, "
                                          f"{c.keep_monthly} tháng"})
    borg.run("prune", "--keep-daily", str(c.keep_daily), "--keep-weekly", str(c.keep_weekly),
             "--keep-monthly", str(c.keep_monthly), "--glob-archives", f"{ARCHIVE_PREFIX}*")
    borg.run("compact")  # borg 1.2 frees the space of pruned archives only on compact


def run_backup(settings, config: BackupConfig, *, repos=None, label=None, break_lock=False, prune=True,
               progress=_quiet) -> dict:
    """Snapshot the data directory and send it to each configured repository. Returns a report; a repository
    that fails does not stop the others (the hub may be unreachable while the local disk works)."""
    data_dir = settings.data_path
    names = list(repos or config.repos())
    if not names:
        raise BackupError("Chưa cấu hình kho sao lưu nào (local_repo, hub_repo).", code="backup_repo_not_configured")
    borgs = [repo(config, n) for n in names]
    if label and not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,30}", label):
        raise BackupError("Nhãn bản sao lưu chỉ gồm chữ thường không dấu, số và '-'.", code="backup_bad_label")
    archive = f"{label or ARCHIVE_PREFIX.rstrip('-')}-{_stamp()}"
    started = time.time()
    report = {"archive": archive, "repos": {}, "failed": []}
    with _RunLock(data_dir / "tmp" / "backup.lock"):
        try:
            manifest = take_snapshot(data_dir, progress)
            ok = manifest["integrity_check"] == "ok"
            write_metrics(config, "vanban_backup.prom", {"vanban_sqlite_integrity_last_check_ok": int(ok)},
                          BACKUP_HELP)
            if not ok:
                raise BackupError(f"CSDL không qua kiểm tra toàn vẹn: {manifest['integrity_check']}. Không sao lưu "
                                  "và không dọn kho để giữ các bản tốt; báo quản trị.", code="backup_db_corrupt")
            report["manifest"] = manifest
            for borg in borgs:
                report["repos"][borg.name] = _backup_one(borg, archive, data_dir, manifest, break_lock,
                                                         prune and borg.name == "local", progress)
                if "error" in report["repos"][borg.name]:
                    report["failed"].append(borg.name)
        finally:
            shutil.rmtree(data_dir / SNAPSHOT_DIR, ignore_errors=True)
            _backup_metrics(config, report, started)
    return report


def snapshot_before_upgrade(settings, config: BackupConfig | None = None, progress=_quiet) -> str:
    """Issue 7 §4: `vanban migrate` calls this when migrations are pending; the archive (pre-upgrade-<time>,
    never pruned by the vanban-* retention) is what `vanban restore <it> --yes` rolls back to."""
    config = config or load_backup_config()
    report = run_backup(settings, config, repos=["local"] if config.local_repo else None, label="pre-upgrade",
                        prune=False, progress=progress)
    if report["failed"]:
        first = report["repos"][report["failed"][0]]
        raise BackupError(f"Không chụp được bản sao lưu trước khi nâng cấp: {first['error']}", code=first["code"])
    return report["archive"]


def _backup_one(borg, archive, data_dir, manifest, break_lock, prune, progress) -> dict:
    progress({"type": "phase", "message": f"ghi vào kho {borg.name} ({borg.url})"})
    try:
        try:
            result = _create(borg, archive, data_dir, manifest, progress)
        except BackupError as exc:
            if exc.code != "backup_repo_locked" or not break_lock:
                raise
            progress({"type": "phase", "message": f"gỡ khóa cũ của kho {borg.name} (--break-lock)"})
            borg.break_lock()
            result = _create(borg, archive, data_dir, manifest, progress)
        result["finished_at"] = time.time()
        if prune:
            _prune(borg, progress)
        return result
    except BackupError as exc:
        return {"error": exc.message, "code": exc.code}


def _backup_metrics(config, report, started) -> None:
    values = {"vanban_backup_last_duration_seconds": time.time() - started,
              "vanban_backup_last_run_timestamp_seconds": started}
    for name, result in report["repos"].items():
        if "finished_at" in result:
            values[f'vanban_backup_last_success_timestamp_seconds{{repo="{name}"}}'] = result["finished_at"]
    write_metrics(config, "vanban_backup.prom", values, BACKUP_HELP)
