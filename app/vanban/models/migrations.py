"""Versioned schema migrations, run by `vanban migrate` (one transaction each)."""
from __future__ import annotations

from .db import database, write_transaction
from .schema import ALL_MODELS, SchemaVersion

# One row per document; the columns hold folded text (text.fold), so FTS5 never sees a diacritic or đ.
# `scope` holds filter tokens (agency, type, register, confidentiality) that FTS5 intersects cheaply.
FTS_DDL = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS document_fts USING fts5("
    "subject, notation, issuer, body, scope, tokenize = 'unicode61', detail = 'full')"
)


def _v1():
    database.create_tables(ALL_MODELS)
    database.execute_sql(FTS_DDL)
    database.execute_sql(
        "CREATE INDEX IF NOT EXISTS assignment_open_deadline ON assignment(deadline) WHERE status != 'done'"
    )


def _v2():
    # Outgoing documents, signing, delivery and the exchange outbox (issue 3).
    from .outgoing import OUTGOING_MODELS

    database.create_tables(OUTGOING_MODELS)


def _v3():
    # Work management: tasks, dossiers, calendar, staff records, notifications (issue 9).
    from .work import create_work_tables

    create_work_tables()


def _v4():
    # Exchange (liên thông) tables: outbox of status messages, inbox, receipts, hub directory and queue (issue 4).
    from .exchange import create_exchange_tables

    create_exchange_tables()


def _v10():
    # Inbox at scale (issue 2 benchmark, 1M documents): open and done assignments per person and per unit, in
    # the order the inbox lists them. Counters and pages then read the few open entries, or the newest done ones,
    # instead of someone's whole history (a leader's is hundreds of thousands of rows). Partial: each row sits
    # in one of the open/done pair, so writes pay little.
    for sql in (
        "CREATE INDEX IF NOT EXISTS assignment_open_assignee ON assignment(assignee_id, role, deadline) "
        "WHERE status != 'done'",
        "CREATE INDEX IF NOT EXISTS assignment_open_unit ON assignment(department_id, role, deadline) "
        "WHERE status != 'done' AND assignee_id IS NULL",
        "CREATE INDEX IF NOT EXISTS assignment_done_assignee ON assignment(assignee_id, done_at) "
        "WHERE status = 'done'",
        "CREATE INDEX IF NOT EXISTS assignment_done_unit ON assignment(department_id, done_at) "
        "WHERE status = 'done' AND assignee_id IS NULL",
    ):
        database.execute_sql(sql)


def _v11():
    # Exchange, second round: daily statistics reports node -> hub (DOMAIN §12) and tasks received from
    # agencies on other servers (issue 9).
    from .exchange import create_daily_tables
    from .work import create_received_task_tables

    create_daily_tables()
    create_received_task_tables()


def _v12():
    # The hub countersigns each node's audit-log head: the node's receipts, the hub's witnessed heads (append-only)
    # and conflicts (exchange/witness.py).
    from .witness import create_witness_tables

    create_witness_tables()


MIGRATIONS = [(1, _v1), (2, _v2), (3, _v3), (4, _v4), (10, _v10), (11, _v11), (12, _v12)]
LATEST = max(number for number, _ in MIGRATIONS)


def applied_versions() -> set[int]:
    if not database.table_exists("schema_version"):
        return set()
    return {row.version for row in SchemaVersion.select(SchemaVersion.version)}


def current_version() -> int:
    return max(applied_versions(), default=0)


def migrate(now) -> list[int]:
    """Apply every migration not yet recorded (not only those above the highest: steps developed in parallel
    may land out of order); refuse a database from a newer release."""
    applied = []
    done = applied_versions()
    if max(done, default=0) > LATEST:
        raise RuntimeError(f"database schema {max(done)} is newer than this release ({LATEST}); upgrade vanban")
    for number, step in MIGRATIONS:
        if number in done:
            continue
        with write_transaction():
            step()
            SchemaVersion.create(version=number, applied_at=now)
        applied.append(number)
    return applied
