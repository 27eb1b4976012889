"""Restoring an archive into a new directory, checking it against its manifest (databases, schema, counts,
blobs) and swapping it in place of the live data directory, which is kept."""

from __future__ import annotations

import concurrent.futures
import json
import os
import shutil
import sqlite3
import time
from pathlib import Path

from .. import __version__
from .backups import _stamp
from .borg import Borg, latest_archive, repo
from .config import DATABASES, SNAPSHOT_DIR, BackupConfig, BackupError, _quiet
from .snapshot import inspect_database, sha256_file


def read_manifest(borg: Borg, archive: str) -> dict:
    result = borg.run("extract", "--stdout", archive=archive, extra=[f"{SNAPSHOT_DIR}/manifest.json"])
    try:
        return json.loads(result.stdout)
    except ValueError:
        raise BackupError(f"Bản sao lưu {archive} không có manifest hợp lệ.", code="restore_no_manifest") from None


def check_schema(manifest: dict) -> None:
    from ..models.migrations import LATEST

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
