"""Hub side of the audit-head witness (ARCHITECTURE §4: every action lands in a hash-chained audit log whose
head the hub countersigns).

The hash chain (core/audit.py) shows an entry edited or deleted inside the log, but not the newest entries
deleted: the shortened log is still a valid chain. So every hour each node sends its head (newest entry id,
its hash, the entry count) over the mutual-TLS exchange, and the hub keeps what it saw, append-only, and
answers with a receipt signed by its exchange signing key (exchange/receipt.py). Later, a node whose log no
longer reaches a witnessed head has been cut, and the receipt (or the hub's own record) says what was there.

The hub also checks each new head against the last one it witnessed for the node (its *line*):

- ``rollback``: the new head is older (lower id): the log was cut, or the node restored from a backup;
- ``hash_mismatch``: the witnessed entry id comes back with another hash: edited, or cut and written again;
- ``diverged``: the head is newer but the node's log no longer holds the witnessed entry as witnessed (the
  node sends its hash of that entry as ``previous``): cut and written past the old head;
- ``count_mismatch``: fewer entries than witnessed, or more than the new ids allow: entries removed or
  slipped in below the head.

A contradiction is recorded as a conflict and answered 409 (code ``audit_head_conflict``); until the IT
centre acknowledges it (`vanban hub audit-ack`, after checking it is a restore it knows of: docs/rebuild.md)
the node's heads are refused (``audit_conflict_open``) and counted on the conflict. The acknowledgement
starts a new line: the node's next head is accepted as its first. Conflicts show in `vanban hub audit-heads`
and as vanban_audit_head_conflicts_open{exchange_node}; they never touch the relay of documents.
"""
from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime

from peewee import fn

from ..clock import VN
from ..errors import DomainError, Invalid, NotFound
from ..models import write_transaction
from ..models.witness import HubAuditConflict, HubAuditHead, HubAuditSigner
from . import receipt

log = logging.getLogger(__name__)
HASH = re.compile(r"^[0-9a-f]{64}$")
MAX_BODY = 4096  # a head is ~250 bytes of JSON
MAX_ID = 2 ** 62  # SQLite integers are 64-bit; anything near that is not an audit log
CONFLICT_KINDS = ("rollback", "hash_mismatch", "diverged", "count_mismatch")


class NotReady(DomainError):
    """The hub has no signing key yet: the node retries later (5xx), nothing was recorded."""

    status = 503
    code = "witness_not_configured"


class LengthRequired(DomainError):
    """A head is a few hundred bytes: the body must say its length (a chunked body is not read at all)."""

    status = 411
    code = "length_required"


class HeadRefused(DomainError):
    """409 with the facts a node's log line needs (``details`` go into the JSON error)."""

    status = 409

    def __init__(self, message: str, *, code: str, details: dict):
        super().__init__(message, code=code)
        self.details = details


@dataclass(frozen=True)
class OfferedHead:
    entry_id: int
    hash: str
    count: int
    at: str = ""  # time of the head entry as the node recorded it
    previous_id: int | None = None  # the head the hub last witnessed, as the node knows it
    previous_hash: str | None = None  # the node's hash of that entry now (None: no such entry)


# ---------------------------------------------------------------------------------------------- input
def parse_head(data: bytes) -> OfferedHead:
    """The JSON body of POST /exchange/v1/audit-heads, checked field by field (400/422 with a stable code)."""
    try:
        body = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise DomainError("Nội dung không phải JSON hợp lệ (UTF-8).", code="json_invalid") from None
    if not isinstance(body, dict):
        raise DomainError("Nội dung phải là một đối tượng JSON.", code="json_invalid")
    entry_id = _positive(body.get("entry_id"), "entry_id", "Mã mục nhật ký (entry_id)")
    count = _positive(body.get("count"), "count", "Số mục nhật ký (count)")
    if count > entry_id:
        raise Invalid("Số mục nhật ký (count) không thể lớn hơn mã mục cuối (entry_id).", code="count_invalid")
    digest = _hash(body.get("hash"), "hash", "Mã băm (hash)")
    at = body.get("at", "")
    if not isinstance(at, str) or len(at) > 40 or (at and not _is_time(at)):
        raise Invalid("Thời điểm của mục nhật ký (at) phải theo ISO 8601.", code="at_invalid")
    previous = body.get("previous")
    if previous is None:
        return OfferedHead(entry_id, digest, count, at)
    if not isinstance(previous, dict):
        raise Invalid("previous phải là {\"entry_id\": …, \"hash\": …} hoặc null.", code="previous_invalid")
    previous_id = _positive(previous.get("entry_id"), "previous", "previous.entry_id")
    previous_hash = previous.get("hash")
    if previous_hash is not None:
        previous_hash = _hash(previous_hash, "previous", "previous.hash")
    return OfferedHead(entry_id, digest, count, at, previous_id, previous_hash)


def _positive(value, field: str, label: str) -> int:
    if type(value) is not int or not 1 <= value <= MAX_ID:  # bool is an int subclass: refused too
        raise Invalid(f"{label} phải là số nguyên dương.", code=f"{field}_invalid", field=field)
    return value


def _hash(value, field: str, label: str) -> str:
    if not isinstance(value, str) or not HASH.match(value):
        raise Invalid(f"{label} phải là SHA-256 dạng 64 ký tự hex thường.", code=f"{field}_invalid", field=field)
    return value


def _is_time(text: str) -> bool:
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


# ---------------------------------------------------------------------------------------------- witness
def accept_head(now, node: str, head: OfferedHead, config) -> dict:
    """Witness ``head`` for ``node``: {"duplicate", "receipt", "signature", "certificate"}, or HeadRefused."""
    key, cert = _signer(config)
    with write_transaction():
        outcome, row = _witness(node, head, now, key, cert)
    if outcome == "new":
        log.info("audit head of %s witnessed: entry %s (line %s)", node, row.entry_id, row.line)
    if outcome in ("new", "duplicate"):
        return {"duplicate": outcome == "duplicate", **signed(row)}
    if outcome == "outdated":
        raise HeadRefused(f"Hub đã xác nhận mục {row.entry_id} của nhật ký kiểm tra; hãy gửi lại đầu nhật ký "
                          "kèm mã băm của mục đó (previous).", code="audit_previous_outdated",
                          details={"witnessed": head_json(row)})
    details = {"kind": row.kind, "conflict_id": row.id,
               "witnessed": head_json(HubAuditHead.get_by_id(row.witnessed_head))}
    if outcome == "open":
        raise HeadRefused(f"Hub đang giữ xung đột nhật ký kiểm tra #{row.id} ({row.kind}) của máy chủ {node}, chờ "
                          f"Trung tâm CNTT xác nhận; đầu nhật ký mới chưa được ký xác nhận. {row.message}",
                          code="audit_conflict_open", details=details)
    log.error("audit head conflict #%s (%s) for node %s: %s", row.id, row.kind, node, row.message)
    raise HeadRefused(row.message, code="audit_head_conflict", details=details)


def _signer(config):
    from .codes import EdxmlError

    try:
        key, certs = config.signer
    except (EdxmlError, OSError, ValueError) as exc:
        raise NotReady(f"Hub chưa có khóa ký của hệ thống để ký xác nhận: {exc}") from None
    return key, certs[0]


def _witness(node, head: OfferedHead, now, key, cert):
    local = now.replace(tzinfo=None)
    open_ = open_conflict(node)
    if open_ is not None:
        HubAuditConflict.update(repeats=HubAuditConflict.repeats + 1, last_seen_at=local).where(
            HubAuditConflict.id == open_.id).execute()
        return "open", open_
    line = current_line(node)
    last = last_head(node, line)
    verdict = _judge(last, head)
    if verdict in ("duplicate", "outdated"):
        return verdict, last
    if verdict != "new":
        return "conflict", HubAuditConflict.create(
            node=node, line=line, kind=verdict, message=_message(verdict, node, last, head), witnessed_head=last.id,
            entry_id=head.entry_id, hash=head.hash, count=head.count, entry_at=head.at,
            previous_hash=head.previous_hash or "", detected_at=local, last_seen_at=local)
    fields = receipt.payload(hub=receipt.common_name(cert), node=node, line=line, entry_id=head.entry_id, hash=head.hash,
                             count=head.count, witnessed_at=now.isoformat(timespec="seconds"))
    fp = receipt.fingerprint(cert)
    HubAuditSigner.insert(fingerprint=fp, pem=receipt.pem(cert)).on_conflict_ignore().execute()
    return "new", HubAuditHead.create(node=node, hub=fields["hub"], line=line, entry_id=head.entry_id,
                                      hash=head.hash, count=head.count, entry_at=head.at,
                                      witnessed_at=fields["witnessed_at"], signer=fp,
                                      signature=receipt.sign(fields, key))


def _judge(last: HubAuditHead | None, head: OfferedHead) -> str:
    """new | duplicate | outdated (the node's view of the last head is stale: nothing recorded) | a conflict kind."""
    if last is None:
        return "new"
    if head.entry_id < last.entry_id:
        return "rollback"
    if head.entry_id == last.entry_id:
        if head.hash != last.hash:
            return "hash_mismatch"
        return "duplicate" if head.count == last.count else "count_mismatch"
    if head.previous_id != last.entry_id:
        return "outdated"
    if head.previous_hash != last.hash:
        return "diverged"
    # Entries are only appended (ids max+1), so the new ones number at least one and at most the new ids.
    if not last.count < head.count <= last.count + (head.entry_id - last.entry_id):
        return "count_mismatch"
    return "new"


def _message(kind: str, node: str, last: HubAuditHead, head: OfferedHead) -> str:
    seen = f"hub đã xác nhận mục {last.entry_id} (mã băm {last.hash[:16]}…, {last.count} mục) lúc {last.witnessed_at}"
    return {
        "rollback": f"Nhật ký kiểm tra của {node} ngắn hơn lần trước: {seen}, nay mục cuối là {head.entry_id}. "
                    "Nhật ký đã bị cắt bớt, hoặc máy chủ được khôi phục từ bản sao lưu.",
        "hash_mismatch": f"Mục {head.entry_id} của nhật ký kiểm tra của {node} đã đổi: {seen}, nay mã băm là "
                         f"{head.hash[:16]}…. Nhật ký đã bị sửa, hoặc bị cắt rồi ghi tiếp.",
        "diverged": f"Nhật ký kiểm tra của {node} không còn chứa mục {last.entry_id} như đã xác nhận: {seen}. "
                    "Nhật ký đã bị cắt rồi ghi tiếp, hoặc bị sửa.",
        "count_mismatch": f"Số mục nhật ký kiểm tra của {node} không khớp: {seen}, nay là {head.count} mục đến mục "
                          f"{head.entry_id}. Có mục đã bị xóa hoặc chèn thêm.",
    }[kind]


# ---------------------------------------------------------------------------------------------- reading
def current_line(node: str) -> int:
    """0, then one more after each acknowledged conflict."""
    latest = (HubAuditConflict.select(fn.MAX(HubAuditConflict.line))
              .where((HubAuditConflict.node == node) & HubAuditConflict.acknowledged_at.is_null(False)).scalar())
    return 0 if latest is None else latest + 1


def last_head(node: str, line: int) -> HubAuditHead | None:
    return (HubAuditHead.select().where((HubAuditHead.node == node) & (HubAuditHead.line == line))
            .order_by(HubAuditHead.entry_id.desc()).first())


def open_conflict(node: str) -> HubAuditConflict | None:
    return HubAuditConflict.get_or_none((HubAuditConflict.node == node) & HubAuditConflict.acknowledged_at.is_null())


def signed(row: HubAuditHead) -> dict:
    fields = receipt.payload(hub=row.hub, node=row.node, line=row.line, entry_id=row.entry_id, hash=row.hash,
                             count=row.count, witnessed_at=row.witnessed_at)
    return {"receipt": fields, "signature": row.signature, "certificate": HubAuditSigner.get_by_id(row.signer).pem}


def head_json(row: HubAuditHead) -> dict:
    return {"line": row.line, "entry_id": row.entry_id, "hash": row.hash, "count": row.count,
            "witnessed_at": row.witnessed_at}


def conflict_json(c: HubAuditConflict) -> dict:
    def when(value):  # stored as naive Vietnam time (models/schema.py)
        return value.replace(tzinfo=VN).isoformat(timespec="seconds") if value else None

    return {"id": c.id, "node": c.node, "line": c.line, "kind": c.kind, "message": c.message,
            "witnessed": head_json(HubAuditHead.get_by_id(c.witnessed_head)),
            "offered": {"entry_id": c.entry_id, "hash": c.hash, "count": c.count, "at": c.entry_at,
                        "previous_hash": c.previous_hash or None},
            "detected_at": when(c.detected_at), "repeats": c.repeats, "last_seen_at": when(c.last_seen_at),
            "acknowledged_at": when(c.acknowledged_at), "acknowledged_by": c.acknowledged_by, "note": c.note}


def latest_for(node: str) -> dict:
    """GET /exchange/v1/audit-heads/latest: what the hub holds for the calling node (for `audit verify --hub`)."""
    line = current_line(node)
    last = last_head(node, line)
    open_ = open_conflict(node)
    acknowledged = (HubAuditConflict.select().where((HubAuditConflict.node == node) &
                                                    HubAuditConflict.acknowledged_at.is_null(False))
                    .order_by(HubAuditConflict.id.desc()).limit(5))
    return {"node": node, "line": line, "head": signed(last) if last else None,
            "open_conflict": conflict_json(open_) if open_ else None,
            "acknowledged": [conflict_json(c) for c in acknowledged]}


def overview(node: str | None = None, heads: int = 10) -> list[dict]:
    """Per node: its line, newest witnessed head, open conflict and acknowledged ones (`vanban hub audit-heads`);
    with ``node``, also its newest ``heads`` witnessed heads."""
    names = {r.node for r in HubAuditHead.select(HubAuditHead.node).distinct()}
    names |= {r.node for r in HubAuditConflict.select(HubAuditConflict.node).distinct()}
    out = []
    for name in sorted(n for n in names if node in (None, n)):
        line = current_line(name)
        last = last_head(name, line)
        open_ = open_conflict(name)
        item = {"node": name, "line": line, "head": head_json(last) if last else None,
                "open_conflict": conflict_json(open_) if open_ else None,
                "acknowledged": [conflict_json(c) for c in HubAuditConflict.select().where(
                    (HubAuditConflict.node == name) & HubAuditConflict.acknowledged_at.is_null(False))
                    .order_by(HubAuditConflict.id)]}
        if node is not None:
            item["recent"] = [head_json(h) for h in HubAuditHead.select().where(HubAuditHead.node == name)
                              .order_by(HubAuditHead.id.desc()).limit(heads)]
        out.append(item)
    return out


def acknowledge(now, node: str, *, note: str, by: str, conflict_id: int | None = None) -> dict:
    """The IT centre accepts the node's open conflict (a restore it knows of, or a cut it has dealt with): the
    node's next head starts a new line. Who and why are kept on the conflict."""
    note = (note or "").strip()
    if not note:
        raise Invalid("Cần ghi lý do xác nhận (--note), ví dụ: khôi phục từ bản sao lưu theo docs/rebuild.md.",
                      code="note_required")
    with write_transaction():
        open_ = open_conflict(node)
        if open_ is None or (conflict_id is not None and open_.id != conflict_id):
            raise NotFound(f"Máy chủ {node} không có xung đột nhật ký kiểm tra đang chờ xác nhận"
                           + (f" với mã #{conflict_id}." if conflict_id is not None else "."),
                           code="audit_conflict_not_found")
        HubAuditConflict.update(acknowledged_at=now.replace(tzinfo=None), acknowledged_by=(by or "")[:64],
                                note=note[:2000]).where(HubAuditConflict.id == open_.id).execute()
    log.info("audit conflict #%s (%s) of %s acknowledged by %s: %s", open_.id, open_.kind, node, by, note)
    return {"conflict": open_.id, "node": node, "kind": open_.kind, "new_line": open_.line + 1}


class AuditHeadCollector:
    """vanban_audit_head_conflicts_open{exchange_node} and vanban_audit_head_witnessed_timestamp_seconds
    {exchange_node}, read at scrape time (the exchange port's workers and the web workers share nothing else).
    Not `node`: that label is each appliance's own identity (monitoring/prometheus/node.yml external_labels)."""

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        open_ = GaugeMetricFamily("vanban_audit_head_conflicts_open", "Audit-log conflicts (cut, rewritten or "
                                  "restored log) per node waiting for the IT centre's acknowledgement",
                                  labels=["exchange_node"])
        seen = GaugeMetricFamily("vanban_audit_head_witnessed_timestamp_seconds", "When the hub last witnessed "
                                 "the node's audit-log head", labels=["exchange_node"])
        try:
            rows = _gauges()
        except Exception:  # a scrape must not fail because the tables are not migrated yet
            rows = []
        for name, n_open, last_at in rows:
            open_.add_metric([name], n_open)
            if last_at is not None:
                seen.add_metric([name], last_at)
        yield open_
        yield seen


def _gauges() -> list[tuple[str, int, float | None]]:
    newest = dict(HubAuditHead.select(HubAuditHead.node, fn.MAX(HubAuditHead.id)).group_by(HubAuditHead.node).tuples())
    at = {r.node: datetime.fromisoformat(r.witnessed_at).timestamp()
          for r in HubAuditHead.select(HubAuditHead.node, HubAuditHead.witnessed_at)
          .where(HubAuditHead.id.in_(list(newest.values())))}
    opened = dict(HubAuditConflict.select(HubAuditConflict.node, fn.COUNT(HubAuditConflict.id))
                  .where(HubAuditConflict.acknowledged_at.is_null()).group_by(HubAuditConflict.node).tuples())
    names = sorted(set(newest) | set(opened))
    return [(name, opened.get(name, 0), at.get(name)) for name in names]
