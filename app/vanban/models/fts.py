"""Raw SQL of the full-text index (FTS5 has no peewee query builder worth its weight here)."""
from __future__ import annotations

from .db import database


def upsert(doc_id: int, *, subject: str, notation: str, issuer: str, body: str, scope: str) -> None:
    database.execute_sql("DELETE FROM document_fts WHERE rowid = ?", (doc_id,))
    database.execute_sql(
        "INSERT INTO document_fts(rowid, subject, notation, issuer, body, scope) VALUES (?, ?, ?, ?, ?, ?)",
        (doc_id, subject, notation, issuer, body, scope))


def set_body(doc_id: int, body: str) -> None:
    database.execute_sql("UPDATE document_fts SET body = ? WHERE rowid = ?", (body, doc_id))


def newest_matches(match: str, limit: int, *, join_filters: str = "", params: tuple = ()) -> list[tuple]:
    """(rowid, subject, notation, issuer) of the newest `limit` rows matching an FTS5 expression.

    Walking the index in descending rowid order stops after `limit` rows; `ORDER BY rank` would have to score
    every match first, which for the commonest words of a million documents is tens of milliseconds."""
    sql = ("SELECT f.rowid, f.subject, f.notation, f.issuer FROM document_fts f "
           + ("JOIN document d ON d.id = f.rowid " if join_filters else "")
           + "WHERE document_fts MATCH ? " + join_filters + " ORDER BY f.rowid DESC LIMIT ?")
    return database.execute_sql(sql, (match, *params, limit)).fetchall()


def count_matches(match: str, cap: int, *, join_filters: str = "", params: tuple = ()) -> int:
    sql = ("SELECT count(*) FROM (SELECT f.rowid FROM document_fts f "
           + ("JOIN document d ON d.id = f.rowid " if join_filters else "")
           + "WHERE document_fts MATCH ? " + join_filters + " LIMIT ?)")
    return database.execute_sql(sql, (match, *params, cap)).fetchone()[0]


def optimize() -> None:
    database.execute_sql("INSERT INTO document_fts(document_fts) VALUES ('optimize')")
