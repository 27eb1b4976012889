"""Append-only audit log chained by hash: each entry stores the hash of the previous one, so editing or deleting
any entry breaks the chain at that point and `vanban audit verify` names it."""
from __future__ import annotations

import hashlib
import json
from typing import NamedTuple

from ..models.schema import AuditEntry

GENESIS = "0" * 64


def _digest(entry_fields: dict, prev_hash: str) -> str:
    canonical = json.dumps({**entry_fields, "prev": prev_hash}, sort_keys=True, ensure_ascii=False,
                           separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _fields(at, agency_code, username, action, object_type, object_id, detail) -> dict:
    return {"at": at, "agency": agency_code, "user": username, "action": action,
            "type": object_type, "id": object_id, "detail": detail}


def record(now, actor, action: str, object_type: str = "", object_id="", detail: dict | None = None,
           agency_code: str | None = None) -> AuditEntry:
    """Append one entry. Call inside the use case's write transaction (BEGIN IMMEDIATE), which serialises
    writers, so two entries never claim the same predecessor."""
    last = AuditEntry.select(AuditEntry.hash).order_by(AuditEntry.id.desc()).first()
    prev = last.hash if last else GENESIS
    at = now.isoformat(timespec="microseconds")  # aware: carries +07:00
    username = getattr(actor, "username", "") or ""
    if agency_code is None:
        agency_code = actor.agency.code if actor is not None and getattr(actor, "agency_id", None) else ""
    detail_json = json.dumps(detail or {}, sort_keys=True, ensure_ascii=False)
    fields = _fields(at, agency_code, username, action, object_type, str(object_id), detail_json)
    return AuditEntry.create(at=at, agency_code=agency_code, username=username, action=action,
                             object_type=object_type, object_id=str(object_id), detail=detail_json,
                             prev_hash=prev, hash=_digest(fields, prev))


def verify() -> list[str]:
    """Walk the chain; return the problems found (empty list: intact)."""
    problems = []
    prev = GENESIS
    expected_id = None
    for e in AuditEntry.select().order_by(AuditEntry.id).iterator():
        if expected_id is not None and e.id != expected_id:
            problems.append(f"entries {expected_id}..{e.id - 1} are missing (deleted)")
        if e.prev_hash != prev:
            problems.append(f"entry {e.id}: does not follow the previous entry (an entry before it was "
                            f"deleted or edited)")
        fields = _fields(e.at, e.agency_code, e.username, e.action, e.object_type, e.object_id, e.detail)
        if _digest(fields, e.prev_hash) != e.hash:
            problems.append(f"entry {e.id}: content changed after it was written")
        prev = e.hash
        expected_id = e.id + 1
    return problems


class Head(NamedTuple):
    """The newest entry of the log and how many entries there are: what the hub witnesses (exchange/witness.py)."""

    entry_id: int
    hash: str
    at: str
    count: int


def head() -> Head | None:
    last = AuditEntry.select(AuditEntry.id, AuditEntry.hash, AuditEntry.at).order_by(AuditEntry.id.desc()).first()
    if last is None:
        return None
    return Head(last.id, last.hash, last.at, AuditEntry.select().count())


def hash_at(entry_id: int) -> str | None:
    """The stored hash of one entry, None when there is no such entry."""
    row = AuditEntry.select(AuditEntry.hash).where(AuditEntry.id == entry_id).first()
    return row.hash if row else None
