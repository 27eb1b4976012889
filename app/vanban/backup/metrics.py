"""Backup and drill results for node exporter's textfile collector (metric names from the monitoring
contract); the atomic writer itself is vanban.textfile, shared with the certificate and antivirus metrics."""

from __future__ import annotations

from pathlib import Path

from ..textfile import write_textfile
from .config import BackupConfig


def write_metrics(config: BackupConfig, filename: str, values: dict, help_texts: dict) -> Path | None:
    """Merge `values` ({'name{labels}': number}) into one .prom file and replace it atomically (write, fsync,
    rename), so node exporter never reads half a file. Earlier samples not in `values` are kept, e.g. the
    hub's last success while only the local repository succeeded this time."""
    if not config.textfile_dir:
        return None
    return write_textfile(config.textfile_dir, filename, values, help_texts, merge=True)


BACKUP_HELP = {
    "vanban_backup_last_success_timestamp_seconds": "Unix time of the last successful backup, per repository.",
    "vanban_backup_last_duration_seconds": "Duration of the last backup run.",
    "vanban_backup_last_run_timestamp_seconds": "Unix time of the last backup run, successful or not.",
    "vanban_sqlite_integrity_last_check_ok": "1 when the last PRAGMA integrity_check of the database passed.",
}
DRILL_HELP = {
    "vanban_restore_drill_last_run_timestamp_seconds": "Unix time of the last restore drill.",
    "vanban_restore_drill_success": "1 when the last restore drill passed.",
    "vanban_restore_drill_last_success_timestamp_seconds": "Unix time of the last passing restore drill.",
    "vanban_restore_drill_duration_seconds": "Duration of the last restore drill (restore + checks).",
}
