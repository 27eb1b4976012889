"""Background jobs on huey with its SQLite storage (no Redis on a node).

The queue object is built by make_jobs(settings) (nothing opens at import). Tests and the demo run it in
immediate mode: the task runs inline, in the request, after the transaction that queued it has committed.

Subsystems add their own tasks (periodic ones too) through a module listed in JOB_MODULES exposing
`register(jobs)`; it receives this Jobs object (.huey, .settings, .blobs, .run_in_db) and decorates its
functions with jobs.huey.task() / jobs.huey.periodic_task().
"""
from __future__ import annotations

import importlib
import logging

from huey import SqliteHuey, crontab

log = logging.getLogger(__name__)
JOB_MODULES = ["vanban.work_jobs", "vanban.exchange.jobs"]


class Jobs:
    def __init__(self, huey: SqliteHuey, settings, blobs):
        self.huey = huey
        self.settings = settings
        self.blobs = blobs
        self._extract = huey.task(retries=2, retry_delay=30, name="extract_text")(self._extract_text)
        # Upload leftovers of crashed requests sit in tmp/; rows only ever name files in blobs/.
        huey.periodic_task(crontab(minute="7"), name="sweep_tmp")(lambda: self.blobs.sweep_tmp())
        for name in JOB_MODULES:
            importlib.import_module(name).register(self)

    def run_in_db(self, fn, *args, **kwargs):
        """Run fn with a database connection: the worker opens its own per task; in immediate mode the
        request's connection is reused."""
        from .models import database

        opened = database.is_closed()
        if opened:
            database.connect()
        try:
            return fn(*args, **kwargs)
        finally:
            if opened:
                database.close()

    def _extract_text(self, doc_id: int) -> None:
        from .core.indexing import reindex_attachments

        self.run_in_db(reindex_attachments, self.blobs, doc_id)

    def extract_text(self, doc_id: int) -> None:
        self._extract(doc_id)


def make_huey(settings) -> SqliteHuey:
    return SqliteHuey("vanban", filename=str(settings.data_path / "huey.db"), immediate=bool(settings.jobs_immediate),
                      # huey's own store is a queue, not records: NORMAL is enough, the document rows are FULL.
                      journal_mode="wal", cache_mb=1)  # a small queue: 8 MB of cache per process was waste


def make_jobs(settings, blobs) -> Jobs:
    return Jobs(make_huey(settings), settings, blobs)
