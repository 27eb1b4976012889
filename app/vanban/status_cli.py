"""`vanban status [--json]`: the state of this server on one screen, for its local admin.

Services, app and schema version, disk, last backup, exchange outbox and antivirus signature age. Each probe
degrades on its own (no systemctl, no metrics file yet, an outbox table a later release adds): it reports
"không rõ" instead of failing the command, because an admin runs this precisely when something is wrong.
Exit code 0 when nothing needs attention, 1 when something does (the `problems` list says what).

The thresholds are those of monitoring/rules/node-alerts.yml, so this screen and the alerts agree.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
from datetime import datetime
from pathlib import Path

from . import __version__
from .host_metrics import signature_time

UNITS = ("vanban-web", "vanban-worker", "nginx", "clamav-daemon", "prometheus", "prometheus-node-exporter")
ENV_BACKUP_METRICS = "VANBAN_STATUS_BACKUP_METRICS"
ENV_CLAMAV_DIR = "VANBAN_STATUS_CLAMAV_DIR"
DEFAULT_BACKUP_METRICS = "/var/lib/prometheus/node-exporter/vanban_backup.prom"
DEFAULT_CLAMAV_DIR = "/var/lib/clamav"

BACKUP_MAX_AGE = 26 * 3600  # VanbanBackupTooOld
AV_MAX_AGE = 3 * 86400  # VanbanAvSignaturesOld
OUTBOX_MAX_AGE = 3600  # VanbanExchangeBacklog
DISK_MIN_FREE = 0.10  # VanbanDiskAlmostFull


def register(subparsers) -> None:
    p = subparsers.add_parser("status", help="tình trạng máy chủ: dịch vụ, phiên bản, đĩa, sao lưu, liên thông, "
                                             "chữ ký virus")
    p.add_argument("--json", action="store_true", help="in JSON (cho công cụ) thay vì một màn hình chữ")
    p.add_argument("--backup-metrics", default=os.environ.get(ENV_BACKUP_METRICS, DEFAULT_BACKUP_METRICS),
                   help=f"tệp số liệu sao lưu của node exporter (mặc định {DEFAULT_BACKUP_METRICS}, "
                        f"hoặc biến {ENV_BACKUP_METRICS})")
    p.add_argument("--clamav-dir", default=os.environ.get(ENV_CLAMAV_DIR, DEFAULT_CLAMAV_DIR),
                   help=f"thư mục cơ sở dữ liệu chữ ký ClamAV (mặc định {DEFAULT_CLAMAV_DIR})")
    p.set_defaults(func=cmd_status)


def cmd_status(args) -> int:
    report = collect(args.settings, backup_metrics=args.backup_metrics, clamav_dir=args.clamav_dir)
    print(json.dumps(report, ensure_ascii=False, indent=1) if args.json else render(report))
    return 1 if report["problems"] else 0


# ---------------------------------------------------------------- probes

def service_states(units=UNITS, *, systemctl: str | None = None) -> dict[str, str]:
    """`systemctl is-active` for every unit in one call; "unknown" for all when systemctl is absent
    (a container without systemd, a developer machine)."""
    systemctl = systemctl or shutil.which("systemctl")
    if not systemctl:
        return {unit: "unknown" for unit in units}
    try:
        # is-active exits non-zero when any unit is not active; its stdout still has one line per unit.
        out = subprocess.run([systemctl, "is-active", *units], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return {unit: "unknown" for unit in units}
    lines = out.split()
    return {unit: (lines[i] if i < len(lines) else "unknown") for i, unit in enumerate(units)}


def disk_facts(path: Path) -> dict:
    probe = path if path.exists() else path.parent
    try:
        usage = shutil.disk_usage(probe)
    except OSError as exc:
        return {"path": str(path), "error": str(exc)}
    return {"path": str(path), "total_bytes": usage.total, "used_bytes": usage.used, "free_bytes": usage.free,
            "free_ratio": round(usage.free / usage.total, 4) if usage.total else None}


def database_facts(settings, now_local: datetime) -> dict:
    """Schema version, database and blob store sizes, and the outbox. Never creates the database: a status
    command that left an empty vanban.db behind would hide a wrong data_dir."""
    db_path = settings.db_path
    if not db_path.exists():
        return {"path": str(db_path), "exists": False}
    from .models import database, init_database, migrations

    facts = {"path": str(db_path), "exists": True,
             "size_bytes": sum(p.stat().st_size for p in (db_path, Path(f"{db_path}-wal")) if p.exists()),
             "latest_schema": migrations.LATEST}
    init_database(db_path, readonly=True)
    try:
        with database.connection_context():
            facts["schema"] = migrations.current_version()
            facts["blobs"] = _blob_totals()
            facts["outbox"] = outbox_facts(now_local)
    except Exception as exc:  # noqa: BLE001 - a locked or damaged database is a fact to show, not a crash
        facts["error"] = f"{type(exc).__name__}: {exc}"
    return facts


def _blob_totals() -> dict:
    from peewee import fn

    from .models.schema import Blob

    count, size = Blob.select(fn.COUNT(Blob.sha256), fn.COALESCE(fn.SUM(Blob.size), 0)).scalar(as_tuple=True)
    return {"count": count, "bytes": size}


def _outbox_sources():
    """(name, model, state field) of each outbox the installed release has; either module may be absent in an
    older release, and its table may not exist before `vanban migrate`."""
    sources = []
    try:
        from .models.outgoing import Outbox
        sources.append(("outgoing", Outbox, "status"))
    except ImportError:
        pass
    try:
        from .models.exchange import ExchangeOutbox
        sources.append(("exchange", ExchangeOutbox, "state"))
    except ImportError:
        pass
    return sources


def outbox_facts(now_local: datetime) -> dict:
    """Undelivered messages (pending) and the age of the oldest, summed over the outboxes that exist."""
    from peewee import fn

    from .models import database

    result = {"depth": 0, "failed": 0, "oldest_age_seconds": None, "sources": []}
    oldest = None
    for name, model, field_name in _outbox_sources():
        if not database.table_exists(model._meta.table_name):
            continue
        state = getattr(model, field_name)
        pending, first = (model.select(fn.COUNT(model.id), fn.MIN(model.created_at))
                          .where(state == "pending").scalar(as_tuple=True))
        failed = model.select().where(state == "failed").count()
        result["depth"] += pending
        result["failed"] += failed
        result["sources"].append(name)
        if isinstance(first, str):  # SQLite hands back text when peewee cannot tell the column type
            first = datetime.fromisoformat(first)
        if first is not None and (oldest is None or first < oldest):
            oldest = first
    if oldest is not None:
        result["oldest_age_seconds"] = max(0, int((now_local - oldest).total_seconds()))
    if not result["sources"]:
        result["depth"] = None
    return result


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{.*\})?)\s+(\S+)")


def read_prom(path: Path) -> dict[str, float]:
    """Samples of a Prometheus text file ({'name{labels}': value}); comments and malformed lines skipped."""
    samples = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        match = _SAMPLE.match(line.strip())
        if not match:
            continue
        try:
            samples[match.group(1)] = float(match.group(2))
        except ValueError:
            continue
    return samples


def backup_facts(path: Path, now: float) -> dict:
    facts = {"metrics_file": str(path), "repos": {}}
    try:
        samples = read_prom(path)
    except OSError:
        facts["error"] = "missing"
        return facts
    prefix = "vanban_backup_last_success_timestamp_seconds"
    for key, value in samples.items():
        if key.startswith(prefix + "{"):
            repo = key.split('repo="', 1)[-1].split('"', 1)[0] if 'repo="' in key else "?"
            facts["repos"][repo] = {"last_success": value, "age_seconds": max(0, int(now - value))}
        elif key == prefix:
            facts["repos"]["?"] = {"last_success": value, "age_seconds": max(0, int(now - value))}
    if "vanban_backup_last_run_timestamp_seconds" in samples:
        facts["last_run"] = samples["vanban_backup_last_run_timestamp_seconds"]
    if "vanban_backup_last_duration_seconds" in samples:
        facts["last_duration_seconds"] = samples["vanban_backup_last_duration_seconds"]
    if "vanban_sqlite_integrity_last_check_ok" in samples:
        facts["integrity_ok"] = samples["vanban_sqlite_integrity_last_check_ok"] == 1
    return facts


def antivirus_facts(directory: Path, now: float) -> dict:
    """The signature age as the textfile metric and its alert see it (host_metrics.signature_time)."""
    newest, names = signature_time(directory)
    facts = {"dir": str(directory), "databases": names}
    if newest is None:
        facts["error"] = "missing"
    else:
        facts["signature_time"] = newest
        facts["age_seconds"] = max(0, int(now - newest))
    return facts


# ---------------------------------------------------------------- report

def collect(settings, *, backup_metrics=DEFAULT_BACKUP_METRICS, clamav_dir=DEFAULT_CLAMAV_DIR, clock=None,
            systemctl: str | None = None) -> dict:
    from .clock import SystemClock  # imported late: the CLI must still load where tzdata is missing

    clock = clock or SystemClock()
    now = clock.now()
    report = {
        "host": socket.gethostname(), "time": now.isoformat(timespec="seconds"),
        "version": __version__, "role": settings.role, "data_dir": str(settings.data_path),
        "services": service_states(systemctl=systemctl),
        "database": database_facts(settings, clock.local()),
        "disk": disk_facts(settings.data_path),
        "backup": backup_facts(Path(backup_metrics), now.timestamp()),
        "antivirus": antivirus_facts(Path(clamav_dir), now.timestamp()),
    }
    report["problems"] = problems(report)
    return report


def problems(report: dict) -> list[dict]:
    """What needs the admin's attention: a stable code for tools and a Vietnamese sentence for people."""
    found = []

    def add(code, message):
        found.append({"code": code, "message": message})

    for unit, state in report["services"].items():
        if state not in ("active", "unknown"):
            add("service_not_active", f"Dịch vụ {unit} đang {state}.")
    db = report["database"]
    if not db.get("exists"):
        add("database_missing", f"Không thấy CSDL {db['path']}.")
    elif "error" in db:
        add("database_error", f"Không đọc được CSDL: {db['error']}.")
    elif db["schema"] < db["latest_schema"]:
        add("schema_behind", f"CSDL ở lược đồ {db['schema']}, phần mềm cần {db['latest_schema']}: chạy vanban migrate.")
    outbox = db.get("outbox") or {}
    if (outbox.get("oldest_age_seconds") or 0) > OUTBOX_MAX_AGE:
        add("outbox_backlog", f"Có văn bản chờ gửi liên thông quá {_age(outbox['oldest_age_seconds'])}.")
    disk = report["disk"]
    if disk.get("free_ratio") is not None and disk["free_ratio"] < DISK_MIN_FREE:
        add("disk_almost_full", f"Ổ đĩa dữ liệu chỉ còn {disk['free_ratio']:.0%} trống.")
    backup = report["backup"]
    if not backup["repos"]:
        add("backup_unknown", "Chưa có bản sao lưu thành công nào được ghi nhận.")
    for repo, info in backup["repos"].items():
        if info["age_seconds"] > BACKUP_MAX_AGE:
            add("backup_too_old", f"Bản sao lưu gần nhất ở kho {repo} đã cũ {_age(info['age_seconds'])}.")
    if backup.get("integrity_ok") is False:
        add("integrity_failed", "Lần kiểm tra toàn vẹn CSDL gần nhất không đạt.")
    av = report["antivirus"]
    if "error" in av:
        add("av_signatures_missing", f"Không thấy cơ sở dữ liệu chữ ký virus trong {av['dir']}.")
    elif av["age_seconds"] > AV_MAX_AGE:
        add("av_signatures_old", f"Chữ ký virus đã cũ {_age(av['age_seconds'])}.")
    return found


def _age(seconds: int | None) -> str:
    if seconds is None:
        return "không rõ"
    if seconds < 3600:
        return f"{seconds // 60} phút"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} giờ {seconds % 3600 // 60} phút"
    return f"{seconds // 86400} ngày {seconds % 86400 // 3600} giờ"


def _size(n: int | None) -> str:
    if n is None:
        return "không rõ"
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _when(ts: float) -> str:
    from .clock import VN

    return datetime.fromtimestamp(ts, VN).strftime("%d/%m/%Y %H:%M")


def render(report: dict) -> str:
    """One screen (under 25 lines) of plain text."""
    lines = [f"Máy chủ {report['host']} — vanban {report['version']} ({report['role']}) — {report['time']}",
             "Dịch vụ:"]
    for unit, state in report["services"].items():
        mark = {"active": "OK ", "unknown": " ? "}.get(state, "LỖI")
        lines.append(f"  [{mark}] {unit:<26} {state}")
    lines += _database_lines(report["database"]) + _disk_lines(report["disk"])
    lines += _backup_lines(report["backup"]) + _av_lines(report["antivirus"])
    if report["problems"]:
        lines.append(f"Cần xử lý ({len(report['problems'])}):")
        lines += [f"  - {p['message']} [{p['code']}]" for p in report["problems"]]
    else:
        lines.append("Không có vấn đề nào cần xử lý.")
    return "\n".join(lines)


def _database_lines(db: dict) -> list[str]:
    if not db.get("exists"):
        return [f"CSDL:        không có ({db['path']})"]
    if "error" in db:
        return [f"CSDL:        {_size(db['size_bytes'])}, lỗi đọc: {db['error']}"]
    blobs = db["blobs"]
    lines = [f"CSDL:        lược đồ {db['schema']}/{db['latest_schema']}, {_size(db['size_bytes'])}; "
             f"tệp đính kèm {blobs['count']} ({_size(blobs['bytes'])})"]
    outbox = db["outbox"]
    if outbox["depth"] is None:
        lines.append("Liên thông:  chưa có hộp thư đi")
    else:
        lines.append(f"Liên thông:  {outbox['depth']} chờ gửi, cũ nhất {_age(outbox['oldest_age_seconds'])}"
                     + (f"; {outbox['failed']} bị từ chối" if outbox["failed"] else ""))
    return lines


def _disk_lines(disk: dict) -> list[str]:
    if "error" in disk:
        return [f"Ổ đĩa:       không đọc được {disk['path']}: {disk['error']}"]
    return [f"Ổ đĩa:       còn trống {_size(disk['free_bytes'])} / {_size(disk['total_bytes'])} "
            f"({disk['free_ratio']:.0%}) tại {disk['path']}"]


def _backup_lines(backup: dict) -> list[str]:
    if "error" in backup:
        return [f"Sao lưu:     không rõ (không có {backup['metrics_file']})"]
    if not backup["repos"]:
        return ["Sao lưu:     chưa có lần nào thành công"]
    parts = [f"kho {repo}: {_when(info['last_success'])} ({_age(info['age_seconds'])} trước)"
             for repo, info in sorted(backup["repos"].items())]
    return ["Sao lưu:     " + "; ".join(parts)]


def _av_lines(av: dict) -> list[str]:
    if "error" in av:
        return [f"Chữ ký virus: không có trong {av['dir']}"]
    return [f"Chữ ký virus: {_when(av['signature_time'])} ({_age(av['age_seconds'])} trước; "
            f"{', '.join(av['databases'])})"]
