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
"""
from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import re
import shlex
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from . import __version__
from .errors import DomainError
from .settings import Setting, Values

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


# ---------------------------------------------------------------- borg

# borg --log-json error ids -> (stable code, Vietnamese message template)
_BORG_ERRORS = {
    "PassphraseWrong": ("backup_bad_passphrase",
                        "Mật khẩu kho sao lưu {repo} không đúng (tệp {passphrase_file})."),
    "LockTimeout": ("backup_repo_locked",
                    "Kho sao lưu {repo} đang bị khóa bởi một lần chạy khác{holder}. Nếu chắc chắn không còn "
                    "tiến trình borg nào dùng kho này (lần chạy trước bị ngắt), chạy lại với --break-lock."),
    "LockFailed": ("backup_repo_locked", "Không khóa được kho sao lưu {repo}: {detail}"),
    "Repository.DoesNotExist": ("backup_repo_missing",
                                "Kho sao lưu {repo} chưa được khởi tạo; chạy `vanban backup init`."),
    "Repository.InvalidRepository": ("backup_repo_missing", "{repo} không phải là kho borg: {detail}"),
    "Repository.InsufficientFreeSpaceError": ("backup_disk_full", "Đĩa chứa kho sao lưu {repo} đã đầy: {detail}"),
    "ConnectionClosed": ("backup_repo_unreachable", "Không kết nối được kho sao lưu {repo}: {detail}"),
    "ConnectionClosedWithHint": ("backup_repo_unreachable", "Không kết nối được kho sao lưu {repo}: {detail}"),
    "PathNotAllowed": ("backup_repo_unreachable", "Máy chủ từ chối đường dẫn kho {repo}: {detail}"),
    "Archive.DoesNotExist": ("backup_snapshot_missing", "Không có bản sao lưu này trong kho {repo}."),
    "IntegrityError": ("backup_repo_corrupt", "Kho sao lưu {repo} bị hỏng dữ liệu: {detail}"),
    "Repository.ObjectNotFound": ("backup_repo_corrupt", "Kho sao lưu {repo} thiếu dữ liệu: {detail}"),
}


@dataclass
class BorgResult:
    rc: int
    stdout: str
    warnings: list


class Borg:
    """Runs borg for one repository with the node's passphrase and SSH settings; maps failures to BackupError."""

    def __init__(self, config: BackupConfig, name: str, url: str):
        self.config, self.name, self.url = config, name, url

    def env(self) -> dict:
        pf = self.config.passphrase_file
        if not os.path.isfile(pf):
            raise BackupError(f"Không có tệp mật khẩu sao lưu {pf}.", code="backup_passphrase_missing")
        if os.stat(pf).st_mode & 0o077:
            raise BackupError(f"Tệp mật khẩu {pf} không được để người khác đọc (chmod 600).",
                              code="backup_passphrase_insecure")
        env = {k: v for k, v in os.environ.items() if not k.startswith("BORG_")}
        env.update(BORG_PASSCOMMAND=f"cat {shlex.quote(pf)}", LANG="C.UTF-8",
                   # never answer borg's safety prompts with yes behind the admin's back
                   BORG_RELOCATED_REPO_ACCESS_IS_OK="no", BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK="no",
                   BORG_DELETE_I_KNOW_WHAT_I_AM_DOING="NO", BORG_CHECK_I_KNOW_WHAT_I_AM_DOING="NO")
        if self.config.borg_base_dir:
            env["BORG_BASE_DIR"] = self.config.borg_base_dir
        if self.config.rsh:
            env["BORG_RSH"] = self.config.rsh
        elif self.config.ssh_key:
            env["BORG_RSH"] = (f"ssh -i {shlex.quote(self.config.ssh_key)} -o BatchMode=yes "
                               "-o ConnectTimeout=20 -o ServerAliveInterval=30")
        return env

    def run(self, *args, archive: str | None = None, extra=(), progress=_quiet, cwd=None, lock=True) -> BorgResult:
        location = f"{self.url}::{archive}" if archive else self.url
        cmd = ["borg", "--log-json", *((["--lock-wait", str(self.config.lock_wait)]) if lock else []),
               *args, location, *extra]
        with tempfile.TemporaryFile() as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                    env=self.env(), cwd=cwd)
            errors, warnings = [], []
            for raw in proc.stderr:
                event = _parse_event(raw)
                if event.get("type") == "log_message":
                    level = event.get("levelname")
                    (errors if level in ("ERROR", "CRITICAL") else warnings if level == "WARNING" else [])\
                        .append(event)
                else:
                    progress(event)
            rc = proc.wait()
            out.seek(0)
            stdout = out.read().decode("utf-8", "replace")
        if rc >= 2 or errors and rc != 0:
            raise self._error(errors or warnings, rc)
        return BorgResult(rc, stdout, [w.get("message", "") for w in warnings])

    def _error(self, events, rc) -> BackupError:
        detail = " ".join(e.get("message", "") for e in events[-3:]).strip() or f"borg exit code {rc}"
        msgid = next((e["msgid"] for e in reversed(events) if e.get("msgid") in _BORG_ERRORS), "")
        if not msgid and ("No space left" in detail or "Errno 28" in detail):
            msgid = "Repository.InsufficientFreeSpaceError"
        if not msgid and ("Data integrity error" in detail or "IntegrityError" in detail):
            msgid = "IntegrityError"
        if not msgid:
            return BackupError(f"borg thất bại với kho {self.name} ({self.url}): {detail}")
        code, template = _BORG_ERRORS[msgid]
        message = template.format(repo=f"{self.name} ({self.url})", detail=detail, holder=self._holder(),
                                  passphrase_file=self.config.passphrase_file)
        return BackupError(message, code=code)

    def _holder(self) -> str:
        """Who holds a local repository's lock (host id, pid), so the admin can tell a crash from a live run."""
        roster = Path(self.url) / "lock.roster"
        try:
            exclusive = json.loads(roster.read_text()).get("exclusive") or []
        except (OSError, ValueError):
            return ""
        return "".join(f" ({host}, tiến trình {pid})" for host, pid, _ in exclusive[:1])

    def break_lock(self) -> None:
        self.run("break-lock", lock=False)


def _parse_event(raw: bytes) -> dict:
    try:
        return json.loads(raw)
    except ValueError:  # borg prints tracebacks and remote output as plain text
        return {"type": "log_message", "levelname": "WARNING", "message": raw.decode("utf-8", "replace").strip()}


def repo(config: BackupConfig, name: str) -> Borg:
    repos = config.repos()
    if name not in repos:
        raise BackupError(f"Chưa cấu hình kho sao lưu '{name}' (backup.toml: {name}_repo).",
                          code="backup_repo_not_configured")
    return Borg(config, name, repos[name])


def init_repo(config: BackupConfig, name: str) -> str:
    borg = repo(config, name)
    if not borg.url.startswith("ssh://"):
        Path(borg.url).parent.mkdir(parents=True, exist_ok=True)
    borg.run("init", "--encryption", "repokey-blake2", lock=False)
    return borg.url


def list_archives(config: BackupConfig, name: str) -> list[dict]:
    data = json.loads(repo(config, name).run("list", "--json").stdout)
    return data.get("archives", [])


def latest_archive(config: BackupConfig, name: str) -> str:
    archives = list_archives(config, name)
    if not archives:
        raise BackupError(f"Kho {name} chưa có bản sao lưu nào.", code="backup_snapshot_missing")
    return archives[-1]["name"]


def verify_repo(config: BackupConfig, name: str, *, verify_data=False, progress=_quiet) -> BorgResult:
    """`borg check`: repository segments (CRC) and archive metadata; --verify-data also decrypts and
    authenticates every chunk (slow: reads the whole repository)."""
    args = ["check", "--progress"] + (["--verify-data"] if verify_data else [])
    return repo(config, name).run(*args, progress=progress)


# ---------------------------------------------------------------- snapshot

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


# ---------------------------------------------------------------- metrics (node exporter textfile)

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


# ---------------------------------------------------------------- backup

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


# ---------------------------------------------------------------- restore

def read_manifest(borg: Borg, archive: str) -> dict:
    result = borg.run("extract", "--stdout", archive=archive, extra=[f"{SNAPSHOT_DIR}/manifest.json"])
    try:
        return json.loads(result.stdout)
    except ValueError:
        raise BackupError(f"Bản sao lưu {archive} không có manifest hợp lệ.", code="restore_no_manifest") from None


def check_schema(manifest: dict) -> None:
    from .models.migrations import LATEST

    if manifest.get("schema_version", 0) > LATEST:
        raise BackupError(
            f"Bản sao lưu có lược đồ CSDL phiên bản {manifest['schema_version']} (vanban "
            f"{manifest.get('app_version')}), mới hơn phiên bản {LATEST} của phần mềm đang cài ({__version__}). "
            "Hãy nâng cấp vanban trước khi khôi phục; dữ liệu hiện tại không bị thay đổi.",
            code="restore_newer_schema")


def restore(settings, config: BackupConfig, archive: str, *, repo_name="local", target=None, swap=False,
            sample_bytes=None, progress=_quiet) -> dict:
    """Extract an archive into a new directory, check it, and only when `swap` put it in place of the live
    data directory (which is kept, renamed). Nothing live changes unless every check passed."""
    borg = repo(config, repo_name)
    if archive == "latest":
        archive = latest_archive(config, repo_name)
    live = settings.data_path
    progress({"type": "phase", "message": f"đọc manifest của {archive}"})
    manifest = read_manifest(borg, archive)
    check_schema(manifest)
    target = Path(target) if target else live.with_name(f"{live.name}.restore-{_stamp()}")
    if target.exists() and any(target.iterdir()):
        raise BackupError(f"Thư mục {target} đã có dữ liệu; chọn thư mục mới.", code="restore_target_not_empty")
    if swap:
        _check_swappable(target, live)
    target.mkdir(parents=True, exist_ok=True, mode=0o750)
    progress({"type": "phase", "message": f"giải nén {archive} vào {target}"})
    borg.run("extract", "--progress", archive=archive, cwd=target, progress=progress)
    _arrange(target)
    progress({"type": "phase", "message": "kiểm tra bản khôi phục"})
    report = check_restored(target, manifest, sample_bytes=sample_bytes, progress=progress)
    report.update(archive=archive, target=str(target), manifest=manifest)
    if report["problems"]:
        raise BackupError(f"Bản khôi phục {target} không đạt: " + "; ".join(report["problems"][:5]) +
                          ". Dữ liệu đang chạy không bị thay đổi.", code="restore_check_failed")
    if swap:
        report["previous"] = str(swap_in(target, live))
        report["target"] = str(live)
    return report


def _arrange(target: Path) -> None:
    """Put the database copies where the app expects them and keep the manifest as restored-from.json."""
    snap = target / SNAPSHOT_DIR
    if not snap.is_dir():
        raise BackupError("Bản sao lưu thiếu thư mục backup-snapshot/.", code="restore_check_failed")
    for name in DATABASES:
        if (snap / name).exists():
            os.replace(snap / name, target / name)
    os.replace(snap / "manifest.json", target / "restored-from.json")
    shutil.rmtree(snap)
    for sub in ("blobs", "tmp", "pki"):
        (target / sub).mkdir(exist_ok=True)


def _sample_prefixes(total_bytes: int, budget: int | None) -> set[str] | None:
    """All blobs when they fit the budget, else a slice of the 256 first-byte prefixes that moves every week,
    so successive drills cover the whole store."""
    if not budget or total_bytes <= budget:
        return None
    width = max(1, 256 * budget // total_bytes)
    start = (int(time.time() // (7 * 86400)) * width) % 256
    return {f"{(start + i) % 256:02x}" for i in range(width)}


def check_restored(target: Path, manifest: dict, *, sample_bytes=None, progress=_quiet) -> dict:
    problems = []
    for name, expected in manifest["databases"].items():
        if not (target / name).exists() or sha256_file(target / name) != expected["sha256"]:
            problems.append(f"{name} khác bản đã chụp (SHA-256)")
    facts = inspect_database(target / "vanban.db")
    if facts["integrity_check"] != "ok":
        problems.append(f"integrity_check: {facts['integrity_check']}")
    for key in ("schema_version", "counts"):
        if facts[key] != manifest[key]:
            problems.append(f"{key} {facts[key]} khác manifest {manifest[key]}")
    con = sqlite3.connect(f"file:{target / 'vanban.db'}?mode=ro", uri=True)
    try:
        dangling = con.execute("SELECT count(*) FROM attachment WHERE blob_id NOT IN (SELECT sha256 FROM blob)")\
            .fetchone()[0]
        rows = con.execute("SELECT sha256, size FROM blob ORDER BY sha256").fetchall()
    finally:
        con.close()
    if dangling:
        problems.append(f"{dangling} tệp đính kèm trỏ tới blob không có trong CSDL")
    prefixes = _sample_prefixes(facts["blob_bytes"], sample_bytes)
    chosen = [r for r in rows if prefixes is None or r[0][:2] in prefixes]
    bad = _check_blobs(target / "blobs", chosen, progress)
    problems += [f"blob {sha[:16]}…: {why}" for sha, why in bad[:20]]
    if len(bad) > 20:
        problems.append(f"... và {len(bad) - 20} blob hỏng khác")
    return {"problems": problems, "counts": facts["counts"], "blobs_total": len(rows), "blobs_checked": len(chosen),
            "bytes_checked": sum(r[1] for r in chosen), "sampled": prefixes is not None}


def _check_blobs(root: Path, rows, progress) -> list[tuple[str, str]]:
    def check(row):
        sha, size = row
        path = root / sha[:2] / sha[2:4] / sha
        if not path.is_file():
            return sha, "thiếu tệp"
        if path.stat().st_size != size:
            return sha, "sai kích thước"
        return (sha, "sai SHA-256") if sha256_file(path) != sha else None

    bad, done = [], 0
    # hashlib releases the GIL on large buffers: a few threads keep both disk and CPUs busy
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        for result in pool.map(check, rows, chunksize=64):
            done += 1
            if result:
                bad.append(result)
            if done % 2000 == 0 or done == len(rows):
                progress({"type": "progress_percent", "message": f"kiểm tra blob {done}/{len(rows)}",
                          "current": done, "total": len(rows)})
    return bad


def _open_by_others(paths) -> list[int]:
    """Processes (other than us) holding one of these files open: a live gunicorn would keep writing into the
    old directory after the swap, and those writes would be lost."""
    wanted = {str(p) for p in paths}
    holders = set()
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        pid = int(fd_dir.parent.name)
        if pid == os.getpid():
            continue
        try:
            if any(os.readlink(fd) in wanted for fd in fd_dir.iterdir()):
                holders.add(pid)
        except OSError:
            continue
    return sorted(holders)


def _check_swappable(target: Path, live: Path) -> None:
    db = live.resolve() / "vanban.db"
    holders = _open_by_others([db, Path(f"{db}-wal")])
    if holders:
        raise BackupError(f"CSDL {db} đang được tiến trình {', '.join(map(str, holders[:5]))} dùng. Dừng "
                          "vanban-web và vanban-worker trước khi thay dữ liệu.", code="restore_live_in_use")
    probe = target if target.exists() else target.parent
    if probe.exists() and live.exists() and probe.stat().st_dev != live.parent.stat().st_dev:
        raise BackupError(f"{target} phải nằm cùng ổ đĩa với {live} để đổi chỗ an toàn.",
                          code="restore_cross_device")


def swap_in(restored: Path, live: Path) -> Path:
    """Rename the live directory aside (kept, time-stamped) and the restored one into its place."""
    _check_swappable(restored, live)
    previous = live.with_name(f"{live.name}.before-restore-{_stamp()}")
    if live.exists():
        st = live.stat()
        # The whole tree, not just its top: a restore runs as root, and a root-owned vanban.db would leave the
        # service user with "attempt to write a readonly database".
        for path in [restored, *restored.rglob("*")]:
            os.lchown(path, st.st_uid, st.st_gid)
        os.chmod(restored, st.st_mode & 0o7777)
        os.rename(live, previous)
    try:
        os.rename(restored, live)
    except OSError:
        if previous.exists():
            os.rename(previous, live)
        raise
    fd = os.open(live.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return previous


# ---------------------------------------------------------------- restore drill

def drill(settings, config: BackupConfig, *, repo_name="local", progress=_quiet) -> dict:
    """Weekly proof that the backups restore: latest archive -> scratch, checks, the app started read-only on
    it, document counts compared with the live database. Always writes its metrics, pass or fail."""
    started = time.time()
    live = settings.data_path
    scratch = Path(config.drill_dir) if config.drill_dir else live.with_name(f"{live.name}.drill")
    report = {"ok": False, "problems": [], "repo": repo_name}
    try:
        shutil.rmtree(scratch, ignore_errors=True)
        archive = latest_archive(config, repo_name)
        report.update(restore(settings, config, archive, repo_name=repo_name, target=scratch / "data",
                              sample_bytes=int(config.drill_sample_mb) * MB, progress=progress))
        progress({"type": "phase", "message": "chạy ứng dụng chỉ-đọc trên bản khôi phục"})
        report["probe"] = probe = _run_probe(scratch / "data")
        report["problems"] += probe.get("problems", [])
        report["live_documents"] = _count_documents(live / "vanban.db")
        snap_docs = report["counts"].get("document", 0)
        if report["live_documents"] is not None and snap_docs > report["live_documents"]:
            report["problems"].append(f"bản sao lưu có {snap_docs} văn bản, nhiều hơn CSDL đang chạy "
                                      f"({report['live_documents']}): sao lưu nhầm máy?")
    except DomainError as exc:
        report["problems"].append(exc.message)
        report["code"] = exc.code
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    report["ok"] = not report["problems"]
    report["duration"] = time.time() - started
    values = {"vanban_restore_drill_last_run_timestamp_seconds": started,
              "vanban_restore_drill_success": int(report["ok"]),
              "vanban_restore_drill_duration_seconds": report["duration"]}
    if report["ok"]:
        values["vanban_restore_drill_last_success_timestamp_seconds"] = time.time()
    write_metrics(config, "vanban_restore_drill.prom", values, DRILL_HELP)
    return report


def _count_documents(db: Path) -> int | None:
    if not db.exists():
        return None
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return con.execute("SELECT count(*) FROM document").fetchone()[0]
    finally:
        con.close()


def _run_probe(data_dir: Path) -> dict:
    """The app in a child process: the peewee database is process-wide, and this process may hold the live one."""
    code = "import json, sys; from vanban.backup import probe_app; print(json.dumps(probe_app(sys.argv[1])))"
    env = {k: v for k, v in os.environ.items() if not k.startswith("VANBAN_")}
    proc = subprocess.run([sys.executable, "-c", code, str(data_dir)], capture_output=True, text=True,
                          timeout=300, env=env)
    try:
        return json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"problems": [f"ứng dụng không chạy được trên bản khôi phục: {proc.stderr.strip()[-300:]}"]}


def probe_app(data_dir: str) -> dict:
    """Start the real app on a restored copy with a read-only database and load pages through falcon's test
    client. /healthz queries the database; /login renders a template; the newest documents, their attachments
    and a full-text query are read through the models. A write must fail (query_only)."""
    from falcon import testing

    from .models import database, init_database
    from .models.schema import Document
    from .settings import load_settings
    from .web.app import create_app

    settings = load_settings(environ={}, data_dir=data_dir, clamd_socket="", antivirus_required=False,
                             jobs_immediate=True)
    app = create_app(settings)
    init_database(settings.db_path, readonly=True)  # reopen with query_only before the first request
    client = testing.TestClient(app)
    problems, result = [], {}
    for path in ("/healthz", "/login"):
        r = client.simulate_get(path)
        result[path] = r.status_code
        if r.status_code != 200:
            problems.append(f"GET {path} trả {r.status_code}")
    try:
        docs = list(Document.select().order_by(Document.id.desc()).limit(20))
        result["documents_read"] = len(docs)
        result["attachments_read"] = sum(len(list(d.attachments)) for d in docs)
        database.execute_sql("SELECT count(*) FROM document_fts WHERE document_fts MATCH 'van'").fetchone()
        try:
            database.execute_sql("CREATE TABLE drill_probe(x)")
            problems.append("CSDL của bản diễn tập không ở chế độ chỉ đọc")
        except Exception:  # noqa: BLE001 - the write is expected to fail
            result["readonly"] = True
    except Exception as exc:  # noqa: BLE001 - report, do not crash the drill
        problems.append(f"đọc văn bản lỗi: {exc}")
    finally:
        database.close()
    result["problems"] = problems
    return result


# ---------------------------------------------------------------- hub side: append-only repositories
# The hub keeps each node's repository under a key whose authorized_keys line is
#   command="borg serve --append-only --restrict-to-repository /srv/borg/<agency>",restrict ssh-ed25519 ...
# Pruning the hub copy is the IT centre's job, with its own non-append-only access and the escrowed
# passphrase: first compare the archive list with the previous one (a node that "deleted" archives shows up
# as a shorter list and extra transactions), roll back if needed, and only then prune and compact, because
# compaction makes every earlier delete permanent.

def transactions(repo_dir: str | Path) -> list[tuple[int, str]]:
    """The `transactions` log borg keeps in an append-only repository: (transaction id, UTC time). A
    transaction id is the number of the last segment file it wrote."""
    out = []
    for line in (Path(repo_dir) / "transactions").read_text().splitlines():
        m = re.match(r"transaction (\d+), UTC time (\S+)", line)
        if m:
            out.append((int(m.group(1)), m.group(2)))
    return out


def rollback_append_only(repo_dir: str | Path, to_transaction: int) -> list[Path]:
    """Hub admin: undo what a (compromised) node did after `to_transaction` — deletes and prunes sent in
    append-only mode only appended segments, so moving those segments aside and dropping the expendable index
    files brings back the earlier state (borg documents this procedure). Segments are moved to
    rolled-back-<time>/ rather than deleted, to keep evidence. Run with the node's access stopped; clients
    that saw the newer state need `borg delete --cache-only` (a fresh recovery host does not)."""
    repo_dir = Path(repo_dir)
    ids = [t for t, _ in transactions(repo_dir)]
    if to_transaction not in ids:
        raise BackupError(f"Không có giao dịch {to_transaction} trong {repo_dir}/transactions.",
                          code="rollback_unknown_transaction")
    aside = repo_dir / f"rolled-back-{_stamp()}"
    aside.mkdir()
    moved = []
    for pattern in ("index.*", "hints.*", "integrity.*"):
        for f in repo_dir.glob(pattern):
            f.unlink()
    for segment in (repo_dir / "data").glob("*/*"):
        if segment.name.isdigit() and int(segment.name) > to_transaction:
            os.replace(segment, aside / segment.name)
            moved.append(aside / segment.name)
    return moved
