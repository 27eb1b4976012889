"""Full-text search over documents, folded for Vietnamese, with ranking designed for a million rows.

Ranking: SQLite's `ORDER BY rank` scores every match before returning the first row, and bm25 also counts each
term's whole doclist; for the commonest words of a district's million documents that is 30–70 ms a query (and
seconds under load). Here FTS5 walks its index newest-first and stops after a bounded number of matches, the
window (WINDOW × candidates): its newest `candidates` rows, plus the newest rows within it that hold the exact
phrase or all the words in the subject (looked up oldest-first from the window's edge: see
models.fts.matches_since; unbounded, a phrase that occurs nowhere costs a walk through the whole index). Only
those candidates are scored in Python: field weights (subject > notation > issuer > attachment text), an
exact-phrase bonus and a recency bonus. Cost is bounded by the candidate count, not by how common the words are.

Permissions and the count: the window holds the newest matches within the user's agency (scope token ag<id>),
confidential ones included. The confidential rows in its range are the few entries of the sparse cf1..cf3
tokens there; those the user may not see (core.access.visible_ids, one batch) are dropped from the candidates
and from the count. The count is the window's length minus them: exact when the window is not full, a lower
bound ("Hơn …") when it is. A separate "confidential only" FTS pass over the words would intersect a sparse
token with dense word lists and cost 10–60 ms for multi-word queries on 1M rows; a separate count of the public
matches cost as much as the window walk again.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta

from .core.access import visible_ids
from .models import fts
from .models.schema import Assignment, Document
from .text import fold, words

PER_PAGE = 20
COUNT_CAP = 1000
_TOKEN = re.compile(r'"([^"]*)"|(\S+)')
WEIGHTS = {"subject": 3.0, "notation": 2.5, "issuer": 1.5}
WINDOW = 5  # phrase and subject hits are looked for among the newest WINDOW × candidates matches


@dataclass
class Query:
    text: str = ""
    doc_type: str = ""
    register_id: int | None = None
    status: str = ""
    direction: str = ""
    date_from: date | None = None
    date_to: date | None = None
    page: int = 1


@dataclass
class Result:
    documents: list
    total: int
    total_capped: bool
    terms: list = field(default_factory=list)


def parse_terms(text: str) -> list[list[str]]:
    """User text → phrases of folded words. Quoted text and tokens like `125/UBND-VX` stay phrases; nothing the
    user types reaches FTS5 unquoted, so no query can be an FTS5 syntax error."""
    phrases = []
    for quoted, bare in _TOKEN.findall(text or ""):
        ws = words(quoted if quoted else bare)
        if ws:
            phrases.append(ws[:12])
    return phrases[:16]


def _phrase(ws) -> str:
    return '"' + " ".join(ws) + '"'


def _scope(user, q: Query, *, public_only: bool) -> str:
    parts = [f'scope:"ag{user.agency_id}"']
    if public_only:
        parts.append('scope:"cf0"')
    if q.doc_type:
        parts.append(f'scope:"ty{fold(q.doc_type)}"')
    if q.register_id:
        parts.append(f'scope:"rg{int(q.register_id)}"')
    if q.direction in ("in", "out"):
        parts.append(f'scope:"dr{q.direction}"')
    return " AND ".join(parts)


def _join_filters(q: Query) -> tuple[str, tuple]:
    sql, params = [], []
    if q.status:
        sql.append("AND d.status = ?")
        params.append(q.status)
    if q.date_from:
        sql.append("AND COALESCE(d.arrival_at, d.created_at) >= ?")
        params.append(q.date_from.isoformat())
    if q.date_to:
        sql.append("AND COALESCE(d.arrival_at, d.created_at) < ?")
        params.append((q.date_to + timedelta(days=1)).isoformat())
    return " ".join(sql), tuple(params)


def _score(row, padded, joined, all_joined, position, n) -> float:
    """Field weights per word, bonuses for each phrase and for the whole query as a phrase in the subject, and
    a recency edge. `padded`: each phrase's words as " w " (a word test on " subject " is a substring test, with
    no per-row split); `joined`: each phrase as text; `all_joined`: every word as one phrase (None for one word).
    """
    subject, notation, issuer = f" {row[1]} ", f" {row[2]} ", f" {row[3]} "
    subject_w, notation_w, issuer_w = WEIGHTS["subject"], WEIGHTS["notation"], WEIGHTS["issuer"]
    score = 0.0
    for ws, text in zip(padded, joined, strict=True):
        for w in ws:
            if w in subject:
                score += subject_w
            elif w in notation:
                score += notation_w
            elif w in issuer:
                score += issuer_w
            else:
                score += 0.5  # only in the attachment text
        if len(ws) > 1 and text in subject:
            score += 2.0 * len(ws)
    if all_joined and all_joined in subject:
        score += 4.0
    return score + 1.5 * (1 - position / max(n, 1))  # recency: newer candidates edge ahead on ties


def _candidates(expr_words, phrases, scope, filters, limit) -> tuple[dict, list[int]]:
    """The newest `limit` matches of all words, plus the newest `limit` rows that hold the exact phrase or all the
    words in the subject within the newest WINDOW * limit matches (older exact hits can outrank newer loose ones).
    Returns (rows by id, the window: rowids of the newest WINDOW * limit matches, newest first)."""
    join_sql, params = filters
    base = f"({scope}) AND {expr_words}"
    flat = [w for ws in phrases for w in ws]
    # One walk down the index: its first `limit` rowids are the candidates, its length the count of matches
    # (capped), its last the window's lower edge.
    window = fts.newest_rowids(base, WINDOW * limit, join_filters=join_sql, params=params)
    wanted = set(window[:limit])
    if len(flat) > 1 and window:
        edge = window[-1] if len(window) >= WINDOW * limit else 0
        # one walk for both (a third cheaper than two: the scope token and the range are walked once)
        exact = f"{_phrase(flat)} OR subject:({' AND '.join(_phrase(ws) for ws in phrases)})"
        hits = fts.matches_since(f"({scope}) AND ({exact})", edge, WINDOW * limit, join_filters=join_sql,
                                 params=params)
        wanted.update(hits[-limit:])  # the newest
    return {r[0]: r for r in fts.rows_by_id(wanted)}, window


def search(user, q: Query, *, candidates: int = 200) -> Result:
    phrases = parse_terms(q.text)
    if not phrases:
        return _browse(user, q)
    expr = " AND ".join(_phrase(ws) for ws in phrases)
    filters = _join_filters(q)
    rows, window = _candidates(expr, phrases, _scope(user, q, public_only=False), filters, candidates)
    # Every match is in the window unless it is full; the confidential ones among them are the few rows of the
    # sparse cf tokens in its range. Those the user may not see leave both the candidates and the count.
    in_window = set(window)
    secret = fts.confidential_between(window[-1], window[0]) & in_window if window else set()
    # The candidates' own scope too: a document registered between the two walks can be a phrase hit newer
    # than the window, outside the range just read.
    secret.update(doc_id for doc_id, r in rows.items() if not fts.is_public(r[4]))
    hidden = secret - visible_ids(user, secret)
    for doc_id in hidden:
        rows.pop(doc_id, None)
    total = len(window) - len(hidden & in_window)
    ordered = sorted(rows.values(), key=lambda r: r[0], reverse=True)
    joined = [" ".join(ws) for ws in phrases]
    flat = [w for ws in phrases for w in ws]
    all_joined = " ".join(flat) if len(flat) > 1 else None
    padded = [[f" {w} " for w in ws] for ws in phrases]
    scored = sorted(((_score(r, padded, joined, all_joined, i, len(ordered)), r[0]) for i, r in enumerate(ordered)),
                    reverse=True)
    start = (max(q.page, 1) - 1) * PER_PAGE
    if start >= len(scored) and len(window) >= candidates:
        # past the reranked candidates: plain newest-first pages of the public matches
        public_base = f"({_scope(user, q, public_only=True)}) AND {expr}"
        page_ids = [r[0] for r in fts.newest_matches(public_base, start + PER_PAGE, join_filters=filters[0],
                                                     params=filters[1])[start:]]
    else:
        page_ids = [doc_id for _, doc_id in scored[start:start + PER_PAGE]]
    return Result(_documents(page_ids), total, len(window) >= WINDOW * candidates, phrases)


def _documents(ids: list[int]) -> list:
    """The page's documents in the given order (raw SQL: peewee's query builder took longer than the query)."""
    if not ids:
        return []
    marks = ",".join("?" * len(ids))
    docs = {d.id: d for d in Document.raw(f"SELECT * FROM document WHERE id IN ({marks})", *ids)}
    return [docs[i] for i in ids if i in docs]


def _browse(user, q: Query) -> Result:
    """No words typed: filters only, newest first (confidential ones only where the user is involved)."""
    cond = Document.agency == user.agency_id
    mine = Assignment.select(Assignment.document).where(Assignment.assignee == user.id)
    cond &= (Document.confidentiality == 0) | Document.id.in_(mine) | (Document.created_by == user.id)
    if q.doc_type:
        cond &= Document.doc_type == q.doc_type
    if q.register_id:
        cond &= Document.register == q.register_id
    if q.status:
        cond &= Document.status == q.status
    if q.direction in ("in", "out"):
        cond &= Document.direction == q.direction
    if q.date_from:
        cond &= Document.created_at >= q.date_from
    if q.date_to:
        cond &= Document.created_at < q.date_to + timedelta(days=1)
    query = Document.select().where(cond)
    total = Document.select().where(cond).limit(COUNT_CAP).count()
    docs = list(query.order_by(Document.id.desc()).paginate(max(q.page, 1), PER_PAGE))
    return Result(docs, total, total >= COUNT_CAP, [])
