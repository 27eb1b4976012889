"""Backups, restores and restore drills (ARCHITECTURE §6 Backups; issue 7).

Tool: BorgBackup 1.2 (Debian package `borgbackup`), not restic, because
- it is packaged in Debian stable (bookworm ships 1.2.4), so the appliance needs no binary from outside the
  archive and unattended security upgrades cover it;
- `borg serve --append-only --restrict-to-repository DIR`, set as the forced command of the node's key in the
  hub's authorized_keys, gives an off-site copy the node can add to but not rewrite: a delete or prune sent
  with the node's credentials only appends a new transaction; no segment is ever removed, and the hub admin
  can roll the repository back to the last good transaction (`rollback_append_only`). restic needs a separate
  rest-server in --append-only mode for the same guarantee, which Debian packages but adds a daemon and TLS;
- repokey encryption (AES-CTR + HMAC, key in the repository, passphrase in a root-only file), dedup and
  zstd compression: an hourly backup of a node whose attachments never change costs seconds and megabytes.

A snapshot is taken online: every SQLite database is copied with the backup API (`sqlite3.Connection.backup`,
one step, so the copy is one consistent read transaction; a raw copy of a live WAL database can be torn) into
<data>/backup-snapshot/, with manifest.json (app and schema version, counts, SHA-256 of each database copy).
Blobs are stored by their live paths: they are immutable, content-addressed, written and fsynced before the row
naming them commits, and only ever removed when no committed row names them, so every blob the database copy
refers to exists when borg reads the blob store afterwards. (A future blob garbage collector must keep that
promise, e.g. by taking the backup lock.) The archive therefore holds backup-snapshot/, blobs/, pki/ and
exchange.toml (ARCHIVED).

Configuration is its own small table (BACKUP_SETTINGS) read from /etc/vanban/backup.toml (or
$VANBAN_BACKUP_CONFIG) and VANBAN_BACKUP_<NAME> variables, because vanban.toml refuses unknown keys.
Results are written for node exporter's textfile collector (metric names from the monitoring contract).

Modules: ``config`` (the settings table, BackupConfig, BackupError, what an archive holds), ``borg`` (running
borg, repository operations), ``snapshot`` (online database copies and the manifest), ``metrics`` (textfile
metrics), ``backups`` (a backup run, the pre-upgrade snapshot), ``restores`` (restore, checks, swap-in),
``drills`` (the restore drill and probe_app), ``hub`` (append-only transactions and rollback). Callers import
from ``vanban.backup``; the drill's child process too (``from vanban.backup import probe_app``).
"""

from __future__ import annotations

from .backups import MB, run_backup, snapshot_before_upgrade
from .borg import Borg, BorgResult, init_repo, latest_archive, list_archives, repo, verify_repo
from .config import (
    ARCHIVE_PREFIX,
    ARCHIVED,
    BACKUP_SETTINGS,
    DATABASES,
    SNAPSHOT_DIR,
    BackupConfig,
    BackupError,
    load_backup_config,
)
from .drills import drill, probe_app
from .hub import rollback_append_only, transactions
from .metrics import BACKUP_HELP, DRILL_HELP, write_metrics
from .restores import check_restored, check_schema, read_manifest, restore, swap_in
from .snapshot import copy_database, inspect_database, sha256_file, take_snapshot

__all__ = [
    "ARCHIVED", "ARCHIVE_PREFIX", "BACKUP_HELP", "BACKUP_SETTINGS", "DATABASES", "DRILL_HELP", "MB", "SNAPSHOT_DIR",
    "BackupConfig", "BackupError", "Borg", "BorgResult", "check_restored", "check_schema", "copy_database", "drill",
    "init_repo", "inspect_database", "latest_archive", "list_archives", "load_backup_config", "probe_app",
    "read_manifest", "repo", "restore", "rollback_append_only", "run_backup", "sha256_file", "snapshot_before_upgrade",
    "swap_in", "take_snapshot", "transactions", "verify_repo", "write_metrics",
]
