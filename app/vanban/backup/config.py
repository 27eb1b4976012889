"""What goes into an archive, the backup settings table (backup.toml, VANBAN_BACKUP_*) and BackupError."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass

from ..errors import DomainError
from ..settings import Setting, Values

SNAPSHOT_DIR = "backup-snapshot"
DATABASES = ("vanban.db", "huey.db")
# Directories and files of the data directory that go into every archive besides the database copies:
# the blob store, the keys and certificates (pki/: the exchange identity, so a rebuilt node keeps its
# name at the hub) and the exchange settings (hub address, node name).
ARCHIVED = ("blobs", "pki", "exchange.toml")
ARCHIVE_PREFIX = "vanban-"

BACKUP_SETTINGS = [
    Setting("local_repo", "/srv/vanban-backup/borg",
            "Local borg repository, on a second disk where there is one; empty disables it."),
    Setting("hub_repo", "", "Off-site repository at the hub, e.g. ssh://borg@hub.example/./H19.42 (append-only)."),
    Setting("passphrase_file", "/etc/vanban/backup.passphrase",
            "Root-only file (mode 0600) holding the repository passphrase; keep a sealed copy at the IT centre."),
    Setting("ssh_key", "/etc/vanban/backup_ed25519", "SSH key the node uses to reach the hub repository."),
    Setting("rsh", "", "Full BORG_RSH command; overrides ssh_key (tests point it at a local borg serve)."),
    Setting("borg_base_dir", "/var/lib/vanban-backup",
            "BORG_BASE_DIR: borg cache and security dir, shared by the timers and an admin's commands."),
    Setting("textfile_dir", "/var/lib/prometheus/node-exporter",
            "node exporter textfile collector directory for the backup and drill metrics."),
    Setting("keep_daily", 7, "Daily archives kept in the local repository."),
    Setting("keep_weekly", 4, "Weekly archives kept in the local repository."),
    Setting("keep_monthly", 12, "Monthly archives kept in the local repository (the hub prunes its own copy)."),
    Setting("compression", "auto,zstd,3", "borg compression; `auto` skips data that does not compress (PDFs)."),
    # SQLite writes whole 4 KiB pages in place: fixed 64 KiB chunks stay page-aligned, so a changed page costs
    # one small chunk instead of a ~2 MiB content-defined one. Measured on a 400 MB database after 1,000
    # registrations: 19 MB stored instead of 48 MB. Blobs are immutable, so they dedup whole either way.
    Setting("chunker_params", "fixed,65536", "borg --chunker-params (changing it re-stores everything once)."),
    Setting("lock_wait", 300, "Seconds to wait for a repository lock held by another borg process (a drill)."),
    Setting("upload_ratelimit", 0, "Upload limit to the hub in kiB/s (0: none); provincial links are thin."),
    Setting("drill_dir", "", "Scratch space for restore drills; empty: <data_dir>.drill next to the data."),
    Setting("drill_sample_mb", 2048,
            "A drill hashes every blob up to this many MB, else a weekly rotating slice of that size."),
]
_DEFAULTS = {s.name: s.default for s in BACKUP_SETTINGS}


@dataclass(frozen=True)
class BackupConfig(Values):

    def repos(self) -> dict[str, str]:
        return {name: url for name, url in (("local", self.local_repo), ("hub", self.hub_repo)) if url}


def load_backup_config(environ=None, **overrides) -> BackupConfig:
    environ = os.environ if environ is None else environ
    values = dict(_DEFAULTS)
    path = environ.get("VANBAN_BACKUP_CONFIG") or "/etc/vanban/backup.toml"
    if os.path.exists(path):
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
        unknown = set(data) - set(_DEFAULTS)
        if unknown:
            raise ValueError(f"{path}: unknown backup settings {', '.join(sorted(unknown))}")
        values.update(data)
    for name, default in _DEFAULTS.items():
        raw = environ.get(f"VANBAN_BACKUP_{name.upper()}")
        if raw is not None:
            values[name] = int(raw) if isinstance(default, int) else raw
    values.update({k: v for k, v in overrides.items() if v is not None})
    return BackupConfig(values)


class BackupError(DomainError):
    status = 500
    code = "backup_failed"


def _quiet(_event):
    pass
