"""Full-text search over documents, folded for Vietnamese, with ranking designed for a million rows.

Ranking: SQLite's `ORDER BY rank` scores every match before returning the first row, and bm25 also counts each
term's whole doclist; for the commonest words of a district's million documents that is 30–70 ms a query. Here
FTS5 walks its index newest-first and stops after a bounded number of candidates (newest matches of all words,
of the exact phrase, and of the subject alone), and only those candidates are scored in Python: field weights
(subject > notation > issuer > attachment text), an exact-phrase bonus and a recency bonus. Cost is bounded by
the candidate count, not by how common the words are.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta

from .models import fts
from .models.schema import Assignment, Document
from .text import fold, words

PER_PAGE = 20
COUNT_CAP = 1000
_TOKEN = re.compile(r'"([^"]*)"|(\S+)')
WEIGHTS = {"subject": 3.0, "notation": 2.5, "issuer": 1.5}


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


def _scope(user, q: Query, confidential: bool) -> str:
    parts = [f'scope:"ag{user.agency_id}"']
    if not confidential:
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


def _score(row, phrases, position, n) -> float:
    _, subject, notation, issuer = row
    fields = {"subject": set(subject.split()), "notation": set(notation.split()), "issuer": set(issuer.split())}
    score = 0.0
    for ws in phrases:
        for w in ws:
            hit = [WEIGHTS[f] for f, vocab in fields.items() if w in vocab]
            score += max(hit) if hit else 0.5  # only in attachment text
        if len(ws) > 1 and " ".join(ws) in subject:
            score += 2.0 * len(ws)
    all_words = [w for ws in phrases for w in ws]
    if len(all_words) > 1 and " ".join(all_words) in subject:
        score += 4.0
    return score + 1.5 * (1 - position / max(n, 1))  # recency: newer candidates edge ahead on ties


def _candidates(expr_words, phrases, scope, filters, limit):
    join_sql, params = filters
    base = f"({scope}) AND {expr_words}"
    rows = {r[0]: r for r in fts.newest_matches(base, limit, join_filters=join_sql, params=params)}
    flat = [w for ws in phrases for w in ws]
    if len(flat) > 1:
        for extra in (f"({scope}) AND {_phrase(flat)}",
                      f"({scope}) AND subject:({' AND '.join(_phrase(ws) for ws in phrases)})"):
            for r in fts.newest_matches(extra, limit // 2, join_filters=join_sql, params=params):
                rows.setdefault(r[0], r)
    return rows, base


def search(user, q: Query, *, candidates: int = 200) -> Result:
    phrases = parse_terms(q.text)
    if not phrases:
        return _browse(user, q)
    expr = " AND ".join(_phrase(ws) for ws in phrases)
    filters = _join_filters(q)
    rows, base = _candidates(expr, phrases, _scope(user, q, confidential=False), filters, candidates)
    total = fts.count_matches(base, COUNT_CAP, join_filters=filters[0], params=filters[1])
    secret_rows, _ = _candidates(expr, phrases, _scope(user, q, True) + ' NOT scope:"cf0"', filters, candidates)
    visible_secret = _visible_confidential(user, list(secret_rows))
    rows.update({k: v for k, v in secret_rows.items() if k in visible_secret})
    total += len(visible_secret)
    ordered = sorted(rows.values(), key=lambda r: r[0], reverse=True)
    scored = sorted(((_score(r, phrases, i, len(ordered)), r[0]) for i, r in enumerate(ordered)), reverse=True)
    start = (max(q.page, 1) - 1) * PER_PAGE
    if start >= len(scored) and len(scored) >= candidates:
        page_ids = [r[0] for r in fts.newest_matches(base, start + PER_PAGE, join_filters=filters[0],
                                                     params=filters[1])[start:]]
    else:
        page_ids = [doc_id for _, doc_id in scored[start:start + PER_PAGE]]
    docs = {d.id: d for d in Document.select().where(Document.id.in_(page_ids))} if page_ids else {}
    return Result([docs[i] for i in page_ids if i in docs], total, total >= COUNT_CAP, phrases)


def _visible_confidential(user, ids) -> set[int]:
    if not ids:
        return set()
    from .core.access import can_view

    return {d.id for d in Document.select().where(Document.id.in_(ids)) if can_view(user, d)}


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
