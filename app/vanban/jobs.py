"""Background jobs on huey with its SQLite storage (no Redis on a node).

The queue object is built by make_jobs(settings) (nothing opens at import). Tests and the demo run it in
immediate mode: the task runs inline, in the request, after the transaction that queued it has committed.
"""
from __future__ import annotations

import logging

from huey import SqliteHuey

log = logging.getLogger(__name__)


class Jobs:
    def __init__(self, huey: SqliteHuey, blobs):
        self.huey = huey
        self.blobs = blobs
        self._extract = huey.task(retries=2, retry_delay=30, name="extract_text")(self._extract_text)

    def _extract_text(self, doc_id: int) -> None:
        from .core.indexing import reindex_attachments
        from .models import database

        opened = database.is_closed()  # the worker opens its own; in immediate mode the request's is reused
        if opened:
            database.connect()
        try:
            reindex_attachments(self.blobs, doc_id)
        finally:
            if opened:
                database.close()

    def extract_text(self, doc_id: int) -> None:
        self._extract(doc_id)


def make_huey(settings) -> SqliteHuey:
    return SqliteHuey("vanban", filename=str(settings.data_path / "huey.db"), immediate=bool(settings.jobs_immediate),
                      # huey's own store is a queue, not records: NORMAL is enough, the document rows are FULL.
                      journal_mode="wal")


def make_jobs(settings, blobs) -> Jobs:
    return Jobs(make_huey(settings), blobs)
