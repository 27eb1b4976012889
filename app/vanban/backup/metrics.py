"""Backup and drill results for node exporter's textfile collector (metric names from the monitoring
contract)."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from .config import BackupConfig

_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$")


def write_metrics(config: BackupConfig, filename: str, values: dict, help_texts: dict) -> Path | None:
    """Merge `values` ({'name{labels}': number}) into one .prom file and replace it atomically (write, fsync,
    rename), so node exporter never reads half a file. Earlier samples not in `values` are kept, e.g. the
    hub's last success while only the local repository succeeded this time."""
    if not config.textfile_dir:
        return None
    directory = Path(config.textfile_dir)
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / filename
    samples = {}
    if target.exists():
        for line in target.read_text().splitlines():
            m = _LINE.match(line)
            if m:
                samples[m.group(1)] = m.group(2)
    samples.update({k: repr(float(v)) if not isinstance(v, str) else v for k, v in values.items()})
    lines = []
    for name in sorted({k.split("{")[0] for k in samples}):
        lines += [f"# HELP {name} {help_texts.get(name, name)}", f"# TYPE {name} gauge"]
        lines += [f"{k} {v}" for k, v in sorted(samples.items()) if k.split("{")[0] == name]
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{filename}.")
    with os.fdopen(fd, "w") as fh:
        fh.write("\n".join(lines) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(tmp, 0o644)
    os.replace(tmp, target)
    return target


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
