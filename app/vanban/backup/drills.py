"""The weekly restore drill: the latest archive restored to scratch space and checked, the app started
read-only on it in a child process (probe_app), document counts compared with the live database."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from ..errors import DomainError
from .backups import MB
from .borg import latest_archive
from .config import BackupConfig, _quiet
from .metrics import DRILL_HELP, write_metrics
from .restores import restore


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

    from ..models import database, init_database
    from ..models.schema import Document
    from ..settings import load_settings
    from ..web.app import create_app

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
