"""Raw SQL of the full-text index (FTS5 has no peewee query builder worth its weight here)."""
from __future__ import annotations

import json

from .db import database


def upsert(doc_id: int, *, subject: str, notation: str, issuer: str, body: str, scope: str) -> None:
    database.execute_sql("DELETE FROM document_fts WHERE rowid = ?", (doc_id,))
    database.execute_sql(
        "INSERT INTO document_fts(rowid, subject, notation, issuer, body, scope) VALUES (?, ?, ?, ?, ?, ?)",
        (doc_id, subject, notation, issuer, body, scope))


def set_body(doc_id: int, body: str) -> None:
    database.execute_sql("UPDATE document_fts SET body = ? WHERE rowid = ?", (body, doc_id))


def newest_matches(match: str, limit: int, *, join_filters: str = "", params: tuple = ()) -> list[tuple]:
    """(rowid, subject, notation, issuer, scope) of the newest `limit` rows matching an FTS5 expression.

    Walking the index in descending rowid order stops after `limit` rows; `ORDER BY rank` would have to score
    every match first, which for the commonest words of a million documents is tens of milliseconds."""
    sql = ("SELECT f.rowid, f.subject, f.notation, f.issuer, f.scope FROM document_fts f "
           + ("JOIN document d ON d.id = f.rowid " if join_filters else "")
           + "WHERE document_fts MATCH ? " + join_filters + " ORDER BY f.rowid DESC LIMIT ?")
    return database.execute_sql(sql, (match, *params, limit)).fetchall()


# The walks below return one row: every row a query hands back to Python is a trip through the GIL, and with a
# gunicorn worker's threads all searching, a thousand of those per query cost a third more CPU than the walk.
def _rowid_list(sql: str, params: tuple) -> list[int]:
    text = database.execute_sql(f"SELECT group_concat(rowid) FROM ({sql})", params).fetchone()[0]
    return [int(x) for x in text.split(",")] if text else []


def newest_rowids(match: str, limit: int, *, join_filters: str = "", params: tuple = ()) -> list[int]:
    """Rowids of the newest `limit` matches, newest first: one walk gives a search both its candidates (the
    first ones) and the lower edge of its window (the last one). Rowids only: reading the stored columns of
    every row in the window would cost more than the walk."""
    sql = ("SELECT f.rowid AS rowid FROM document_fts f "
           + ("JOIN document d ON d.id = f.rowid " if join_filters else "")
           + "WHERE document_fts MATCH ? " + join_filters + " ORDER BY f.rowid DESC LIMIT ?")
    return sorted(_rowid_list(sql, (match, *params, limit)), reverse=True)


def matches_since(match: str, min_rowid: int, limit: int, *, join_filters: str = "", params: tuple = ()) -> list[int]:
    """Rowids >= min_rowid matching an expression, oldest first.

    Ascending on purpose: FTS5 seeks to min_rowid and walks up, so the cost is bounded by the window even when
    the expression (an exact phrase, a column filter) matches nothing there. Walking down instead, FTS5 looks
    for the first match below the window's edge too, through the whole index: 90 ms for `subject:("uy" "ban")`
    on a million rows where no subject has those words."""
    sql = ("SELECT f.rowid AS rowid FROM document_fts f "
           + ("JOIN document d ON d.id = f.rowid " if join_filters else "")
           + "WHERE document_fts MATCH ? AND f.rowid >= ? " + join_filters + " ORDER BY f.rowid ASC LIMIT ?")
    return sorted(_rowid_list(sql, (match, min_rowid, *params, limit)))


def confidential_between(low: int, high: int) -> set[int]:
    """Rowids in [low, high] of confidential rows (scope token cf1..cf3) of every agency, ascending walk of the
    sparse cf tokens: ~0.5% of a district's documents, so a window of a thousand matches holds a handful.
    A search intersects them with its window to count and hide what the user may not see."""
    sql = ("SELECT rowid FROM document_fts WHERE document_fts MATCH 'scope:(\"cf1\" OR \"cf2\" OR \"cf3\")' "
           "AND rowid >= ? AND rowid <= ? ORDER BY rowid ASC")
    return set(_rowid_list(sql, (low, high)))


def rows_by_id(ids) -> list[tuple]:
    """(rowid, subject, notation, issuer, scope) of the given rows (the same shape as newest_matches), read as
    one JSON value for the same reason as above."""
    ids = [int(i) for i in ids]
    if not ids:
        return []
    sql = ("SELECT json_group_array(json_array(rowid, subject, notation, issuer, scope)) FROM document_fts "
           "WHERE rowid IN (" + ",".join("?" * len(ids)) + ")")
    return [tuple(r) for r in json.loads(database.execute_sql(sql, ids).fetchone()[0])]


def is_public(scope: str) -> bool:
    """Whether a row's scope tokens (core.indexing.scope_tokens) mark it not confidential (cf0)."""
    return " cf0 " in f" {scope} "


def optimize() -> None:
    database.execute_sql("INSERT INTO document_fts(document_fts) VALUES ('optimize')")
