"""The one database object, configured late (nothing opens at import)."""
from __future__ import annotations

from pathlib import Path

from peewee import SqliteDatabase

# WAL lets readers run beside the single writer; synchronous=FULL makes an acknowledged commit survive a
# power cut (NORMAL in WAL mode may lose the last transactions). busy_timeout queues writers instead of
# failing them; foreign keys are off by default in SQLite and must be switched on per connection.
PRAGMAS = {
    "journal_mode": "wal",
    "synchronous": "full",
    "foreign_keys": 1,
    "busy_timeout": 10000,
    # 1 MB page cache per connection (× threads × workers): old servers have little RAM, and the kernel's page
    # cache, shared by every process, holds the hot pages anyway (1, 4 or 32 MB gave the same search CPU on 1M rows).
    "cache_size": -1000,
    "temp_store": "memory",
}

database = SqliteDatabase(None)


def init_database(path: str | Path, *, readonly: bool = False) -> SqliteDatabase:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pragmas = dict(PRAGMAS)
    if readonly:
        pragmas["query_only"] = 1
    # check_same_thread=False: gthread workers hand a connection to one thread at a time (peewee keeps one
    # connection per thread), never to two at once.
    database.init(str(path), pragmas=pragmas, timeout=10, check_same_thread=False)
    return database


def write_transaction():
    """A write transaction that takes the write lock first (BEGIN IMMEDIATE), so a read-then-write use case
    never fails halfway with SQLITE_BUSY when another writer got there between the read and the write."""
    return database.atomic("IMMEDIATE")


def generation() -> tuple[int, int]:
    """A value that changes whenever the database may have changed: SQLite's data_version moves when another
    connection commits, total_changes when this one writes. Per-thread caches keyed on it (sessions, rendered
    inboxes) can never serve something older than the last commit anywhere."""
    conn = database.connection()
    return conn.execute("PRAGMA data_version").fetchone()[0], conn.total_changes
