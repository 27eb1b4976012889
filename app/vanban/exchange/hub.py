"""The hub role: the province's agency directory and the store-and-forward relay (ARCHITECTURE §2, §5).

A message is stored (file fsynced, row committed) before the sender gets its 201, and is delivered until the
receiving node acknowledges it; its bytes stay ``hub_keep_acknowledged_days`` longer, so a node rebuilt from
a backup older than the acknowledgement can have it again (`vanban hub redeliver`, docs/rebuild.md).
Messages for agencies outside the directory go to the upstream hub (``hub_url`` in the hub's exchange.toml)
with the same protocol; the upstream lists the agencies of this province as hosted by this hub, so answers
come back when this hub polls it like a node would.
"""
from __future__ import annotations

import logging
import random
import re
from datetime import timedelta

from peewee import fn

from ..errors import Forbidden, Invalid, NotFound, TooLarge
from ..models import write_transaction
from ..models.exchange import HubAgency, HubDailyFigure, HubMessage, HubReport
from . import codes, daily_xml, edxml
from .codes import EdxmlError
from .transport import Refused, TransportError

log = logging.getLogger(__name__)
MESSAGE_ID = re.compile(r"^[A-Za-z0-9._-]{8,40}$")
LEVELS = {"province": "Cấp tỉnh", "district": "Cấp huyện", "commune": "Cấp xã"}
UPSTREAM = "upstream"  # sender_node of messages fetched from the upstream hub


def backoff(attempts: int, base: int = 30, cap: int = 3600) -> timedelta:
    """30 s, 60 s, 2 min ... capped at an hour, with ±20% jitter so a whole district does not retry at once."""
    seconds = min(cap, base * 2 ** max(0, attempts - 1))
    return timedelta(seconds=seconds * random.uniform(0.8, 1.2))


# ---------------------------------------------------------------------------------------------- directory
def _agency_fields(code: str, name: str, node: str, *, parent_code=None, old_code=None,
                   level: str = "district") -> tuple[str, dict]:
    """One directory entry checked and normalised: (code, the row's other fields)."""
    code = (code or "").strip().upper()
    if not codes.is_new_organ_id(code):
        raise Invalid("Mã định danh cơ quan không hợp lệ (ví dụ H37.02.02).", code="agency_code_invalid")
    if old_code and not codes.is_old_organ_id(old_code.strip().upper()):
        raise Invalid("Mã cũ phải có dạng 000.00.00.H41.", code="old_code_invalid")
    if level not in LEVELS:
        raise Invalid("Cấp hành chính: province, district hoặc commune.", code="level_invalid")
    if not name or not node:
        raise Invalid("Cần tên cơ quan và máy chủ (node) quản lý.", code="agency_incomplete")
    return code, {"old_code": (old_code or "").strip().upper() or None, "name": name.strip()[:200],
                  "parent_code": (parent_code or "").strip().upper() or None, "level": level,
                  "node": node.strip(), "active": True}


def add_agency(code: str, name: str, node: str, *, parent_code=None, old_code=None,
               level: str = "district") -> HubAgency:
    """Add or update one agency of the directory."""
    code, fields = _agency_fields(code, name, node, parent_code=parent_code, old_code=old_code, level=level)
    with write_transaction():
        HubAgency.insert(code=code, **fields).on_conflict(conflict_target=[HubAgency.code],
                                                          update=fields).execute()
    return HubAgency.get_by_id(code)


def sync_directory(entries) -> dict:
    """Add or update the agencies of a list (the playbooks send every agency of the inventory's nodes) and say
    which changed. All entries are checked before anything is written. The list is the whole truth for the
    servers it names: an agency of one of those servers that it no longer lists is deactivated (kept, with its
    history, but no longer in the directory the nodes fetch nor a destination; listing it again brings it
    back). Agencies of other servers stay as they are: the directory also holds agencies added by hand or
    hosted beyond this province's nodes."""
    wanted = {}
    for entry in entries:
        entry = entry if isinstance(entry, dict) else {}
        code, fields = _agency_fields(entry.get("code"), entry.get("name"), entry.get("node"),
                                      parent_code=entry.get("parent_code"), old_code=entry.get("old_code"),
                                      level=entry.get("level") or "district")
        if code in wanted:
            raise Invalid(f"Mã định danh {code} xuất hiện hai lần trong danh sách.", code="agency_code_duplicate")
        wanted[code] = fields
    out = {"added": [], "updated": [], "unchanged": [], "deactivated": []}
    nodes = {fields["node"] for fields in wanted.values()}
    with write_transaction():
        for code, fields in wanted.items():
            row = HubAgency.get_or_none(HubAgency.code == code)
            if row is None:
                HubAgency.insert(code=code, **fields).execute()
                out["added"].append(code)
            elif any(getattr(row, name) != value for name, value in fields.items()):
                HubAgency.update(**fields).where(HubAgency.code == code).execute()
                out["updated"].append(code)
            else:
                out["unchanged"].append(code)
        gone = HubAgency.select(HubAgency.code).where(
            HubAgency.node.in_(nodes) & HubAgency.code.not_in(list(wanted)) & (HubAgency.active == True))  # noqa: E712
        out["deactivated"] = sorted(a.code for a in gone)
        if out["deactivated"]:
            HubAgency.update(active=False).where(HubAgency.code.in_(out["deactivated"])).execute()
    return out


def list_agencies(*, active_only: bool = True) -> list[HubAgency]:
    query = HubAgency.select().order_by(HubAgency.code)
    return list(query.where(HubAgency.active == True) if active_only else query)  # noqa: E712


def find_agency(code: str, *, include_inactive: bool = False) -> HubAgency | None:
    """By new code, or by the old 13-character code (mapped through the directory, then by rule). A deactivated
    agency is found only with include_inactive: what was queued for it before, and its past daily figures,
    still reach its server; nothing new is addressed to it or sent in its name."""
    code = (code or "").strip().upper()

    def get(cond):
        return HubAgency.get_or_none(cond if include_inactive else cond & (HubAgency.active == True))  # noqa: E712

    agency = get(HubAgency.code == code)
    if agency is None and codes.is_old_organ_id(code):
        agency = get(HubAgency.old_code == code) or get(HubAgency.code == codes.old_to_new(code))
    return agency


# ---------------------------------------------------------------------------------------------- relay
def _describe(path, trusted, max_bytes) -> dict:
    """Addressing (unverified, to route) plus what the provincial figures need (verified when possible)."""
    with open(path, "rb") as fh:
        head = edxml.peek(fh, max_bytes=max_bytes)
    facts = {"kind": head.kind, "from_organ": head.from_organ_id, "to": head.to_organ_ids,
             "document_id": head.document_id[:300], "signed": False, "paper": 0, "business_type": 0,
             "status_code": "", "task": False}
    try:
        with open(path, "rb") as fh:
            parsed = edxml.parse(fh, trusted_certs=trusted, max_bytes=max_bytes,
                                 max_attachment_bytes=max_bytes)
    except EdxmlError as exc:
        log.info("relaying an unverifiable %s from %s: %s", head.kind, head.from_organ_id, exc.code)
        return facts
    facts["signed"] = True
    if isinstance(parsed, edxml.Package):
        from .tasks import is_task_notice

        facts.update(paper=int(parsed.business.paper), business_type=int(parsed.business.doc_type),
                     task=is_task_notice(parsed))
    else:
        facts["status_code"] = parsed.status_code[:4]
    return facts


def _check_sender(sender_node: str, from_organ: str) -> None:
    if sender_node == UPSTREAM:
        return
    agency = find_agency(from_organ)
    if agency is None or agency.node != sender_node:
        raise Forbidden(f"Máy chủ {sender_node} không quản lý cơ quan gửi {from_organ or '(trống)'}.",
                        code="sender_not_hosted")


def store(blobs, now, *, sender_node: str, message_id: str, recipient: str, stream, max_bytes: int,
          trusted, has_upstream: bool) -> tuple[HubMessage, bool]:
    """Store one incoming message for one recipient. Returns (row, duplicate). Raises domain errors
    (Invalid, Forbidden, TooLarge) that the API maps to 4xx: the sender must not retry those."""
    if not MESSAGE_ID.match(message_id or ""):
        raise Invalid("Thiếu hoặc sai X-Message-Id.", code="message_id_invalid")
    recipient = (recipient or "").strip().upper()
    existing = HubMessage.get_or_none((HubMessage.message_id == message_id) & (HubMessage.recipient == recipient))
    if existing is not None:
        while stream.read(1 << 20):  # drain: the client is waiting for its answer after the body
            pass
        return existing, True
    staged = blobs.stage(stream, max_bytes)
    try:
        try:
            facts = _describe(staged.path, trusted, max_bytes)
        except EdxmlError as exc:
            raise Invalid(f"Gói tin không đọc được: {exc.reason}", code=f"edxml_{exc.code}") from None
        if recipient not in facts["to"]:
            raise Invalid("Nơi nhận không có trong gói tin.", code="recipient_mismatch")
        _check_sender(sender_node, facts["from_organ"])
        target = find_agency(recipient)
        if target is None and not has_upstream:
            raise Invalid(f"Không có cơ quan {recipient} trong danh bạ liên thông.", code="unknown_recipient")
        state = "queued" if target is not None else "upstream"
        with write_transaction():
            existing = HubMessage.get_or_none((HubMessage.message_id == message_id) &
                                              (HubMessage.recipient == recipient))
            if existing is not None:
                staged.discard()
                return existing, True
            blobs.commit(staged)
            row = HubMessage.create(
                message_id=message_id, recipient=target.code if target else recipient, sender_node=sender_node,
                from_organ=facts["from_organ"], kind=facts["kind"], document_id=facts["document_id"],
                status_code=facts["status_code"], business_type=facts["business_type"], paper=facts["paper"],
                signed=facts["signed"], task=facts["task"], blob_sha=staged.sha256, size=staged.size, state=state,
                next_attempt_at=now.replace(tzinfo=None) if state == "upstream" else None,
                received_at=now.replace(tzinfo=None))
        return row, False
    finally:
        staged.discard()


def waiting_for(node: str, limit: int = 100) -> list[HubMessage]:
    hosted = HubAgency.select(HubAgency.code).where(HubAgency.node == node)
    return list(HubMessage.select().where((HubMessage.state == "queued") & HubMessage.recipient.in_(hosted))
                .order_by(HubMessage.id).limit(max(1, min(int(limit), 500))))


def message_for(node: str, hub_id) -> HubMessage:
    """A queued message whose recipient this node hosts (404 otherwise: ids reveal nothing)."""
    try:
        row = HubMessage.get_or_none(HubMessage.id == int(hub_id))
    except (TypeError, ValueError):
        row = None
    agency = find_agency(row.recipient, include_inactive=True) if row is not None else None
    if row is None or agency is None or agency.node != node:
        raise NotFound("Không có gói tin này.", code="message_not_found")
    return row


def acknowledge(blobs, now, node: str, hub_id, state: str = "done") -> HubMessage:
    """The node has stored the message. The hub keeps the bytes for ``hub_keep_acknowledged_days`` (a node
    rebuilt from an older backup gets them again through `vanban hub redeliver`); sweep_acknowledged()
    removes them later. ``blobs`` stays in the signature for the API's callers."""
    if state not in ("done", "fail"):
        raise Invalid("Trạng thái xác nhận: done hoặc fail.", code="ack_state_invalid")
    with write_transaction():
        row = message_for(node, hub_id)
        if row.state != "queued":
            return row  # a second ack (the first answer was lost) changes nothing
        HubMessage.update(state="acked", ack_state=state, done_at=now.replace(tzinfo=None)).where(
            HubMessage.id == row.id).execute()
    return row


# Rows whose bytes the sweep may remove once done_at is older than the retention period.
FINISHED = ("acked", "forwarded")
SWEEP_LOOKBACK_DAYS = 30  # rows finished this long before the cutoff were swept by earlier runs


def sweep_acknowledged(blobs, now, keep_days: int, lookback_days: int = SWEEP_LOOKBACK_DAYS) -> dict:
    """Remove the bytes of messages acknowledged (or forwarded upstream) more than ``keep_days`` ago. Blobs
    are content-addressed and shared: one package to several agencies is one file, and a daily report could
    in principle be the same bytes. A blob goes only when no row names it that still needs it: a message
    not finished, one finished within the retention period, or a stored report. Only rows finished in the
    ``lookback_days`` before the cutoff are looked at, so an hourly run stays small; older ones were swept.
    The files go while the write lock is held, so a concurrent redeliver() cannot queue a message whose
    bytes are being removed."""
    local = now.replace(tzinfo=None)
    cutoff = local - timedelta(days=max(0, int(keep_days)))
    removed = 0
    with write_transaction():
        old = (HubMessage.select(HubMessage.blob_sha).distinct()
               .where(HubMessage.state.in_(FINISHED) & (HubMessage.done_at < cutoff) &
                      (HubMessage.done_at >= cutoff - timedelta(days=lookback_days))))
        for sha in [r.blob_sha for r in old]:
            if _blob_still_needed(sha, cutoff) or not blobs.exists(sha):
                continue
            blobs.remove(sha)
            removed += 1
    return {"removed": removed, "cutoff": cutoff.isoformat(timespec="seconds")}


def _blob_still_needed(sha: str, cutoff) -> bool:
    named = HubMessage.select().where(HubMessage.blob_sha == sha)
    unfinished = named.where(HubMessage.state.not_in(FINISHED) | HubMessage.done_at.is_null()).exists()
    recent = named.where(HubMessage.state.in_(FINISHED) & (HubMessage.done_at >= cutoff)).exists()
    return unfinished or recent or HubReport.select().where(HubReport.blob_sha == sha).exists()


def redeliver(blobs, now, node: str, since, tz, margin_minutes: int = 0) -> dict:
    """Put back in the queue the messages for ``node``'s agencies acknowledged at or after ``since`` (a node
    rebuilt from a backup taken at ``since`` lost them). ``node``: the node's name or agency codes (comma
    separated). The node's dedup key (DocumentId + recipient) absorbs what it already had. Messages whose
    bytes the retention sweep already removed stay acknowledged and are listed as lost. ``margin_minutes``
    starts that much earlier (clock skew between the node that wrote ``since`` and the hub)."""
    margin = timedelta(minutes=max(0, int(margin_minutes)))
    since_local = _since(since, now + margin, tz) - margin
    with write_transaction():
        node_name, agencies = _node_agencies(node)
        rows = list(HubMessage.select().where((HubMessage.state == "acked") & HubMessage.recipient.in_(agencies) &
                                              (HubMessage.done_at >= since_local)).order_by(HubMessage.id))
        kept = [r for r in rows if blobs.exists(r.blob_sha)]
        lost = [r for r in rows if not blobs.exists(r.blob_sha)]
        if kept:
            HubMessage.update(state="queued", ack_state="", done_at=None).where(
                HubMessage.id.in_([r.id for r in kept])).execute()
    return {"node": node_name, "agencies": agencies, "since": since_local.isoformat(timespec="seconds"),
            "requeued": len(kept), "lost": [{"hub_id": r.id, "message_id": r.message_id, "kind": r.kind,
                                             "recipient": r.recipient, "document_id": r.document_id,
                                             "acknowledged_at": r.done_at.isoformat(timespec="seconds")}
                                            for r in lost]}


def _since(value, now, tz):
    """ISO time (with offset, or local time of the hub) -> naive local time as the rows store it."""
    from datetime import datetime

    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise Invalid(f"Thời điểm --since không hợp lệ: {value!r} (ISO 8601, ví dụ 2026-03-09T08:00:00+07:00).",
                          code="since_invalid") from None
    aware = value.replace(tzinfo=tz) if value.tzinfo is None else value
    if aware > now:
        raise Invalid("Thời điểm --since ở tương lai.", code="since_in_future")
    return aware.astimezone(tz).replace(tzinfo=None)


def _node_agencies(node: str) -> tuple[str, list[str]]:
    """A node name, or a comma-separated list of agency codes all hosted by one node -> (node, its codes)."""
    node = (node or "").strip()
    if HubAgency.select().where(HubAgency.node == node).exists():
        name = node
    else:
        found = [find_agency(c) for c in node.split(",") if c.strip()]
        names = {a.node for a in found if a is not None}
        if not found or None in found or len(names) != 1:
            raise NotFound(f"Không có máy chủ (node) hoặc cơ quan {node or '(trống)'} trong danh bạ liên thông.",
                           code="node_unknown")
        name = names.pop()
    codes_ = [a.code for a in HubAgency.select(HubAgency.code).where(HubAgency.node == name).order_by(HubAgency.code)]
    return name, codes_


# ---------------------------------------------------------------------------------------------- upstream
def forward_upstream(blobs, client, now, limit: int = 50) -> dict:
    """Push messages for agencies outside the province to the upstream hub (same protocol)."""
    due = list(HubMessage.select().where((HubMessage.state == "upstream") &
                                         (HubMessage.next_attempt_at <= now.replace(tzinfo=None)))
               .order_by(HubMessage.id).limit(limit))
    sent = failed = 0
    for row in due:
        try:
            client.send(row.recipient, row.message_id, blobs.path(row.blob_sha))
        except Refused as exc:
            _set(row, state="failed", last_error=f"{exc.code}: {exc.message}"[:500], attempts=row.attempts + 1)
            failed += 1
            continue
        except TransportError as exc:
            _set(row, attempts=row.attempts + 1, last_error=exc.message[:500],
                 next_attempt_at=now.replace(tzinfo=None) + backoff(row.attempts + 1))
            break  # the upstream is down: the rest waits for the next run
        _set(row, state="forwarded", done_at=now.replace(tzinfo=None), attempts=row.attempts + 1)
        sent += 1
    return {"forwarded": sent, "failed": failed, "due": len(due)}


def poll_upstream(blobs, client, now, *, trusted, max_bytes: int, tmp_dir) -> dict:
    """Fetch what the upstream hub holds for this province's agencies, store it here, then acknowledge it."""
    import tempfile

    fetched = 0
    for item in client.list():
        with tempfile.TemporaryFile(dir=tmp_dir) as fh:
            client.fetch(str(item["id"]), fh, max_bytes)
            fh.seek(0)
            try:
                store(blobs, now, sender_node=UPSTREAM, message_id=item["message_id"], recipient=item["to"],
                      stream=fh, max_bytes=max_bytes, trusted=trusted, has_upstream=False)
            except (Invalid, Forbidden, TooLarge) as exc:
                log.warning("upstream message %s refused here: %s", item["id"], exc.code)
                client.ack(str(item["id"]), "fail")
                continue
        client.ack(str(item["id"]), "done")
        fetched += 1
    return {"fetched": fetched}


def _set(row: HubMessage, **fields) -> None:
    with write_transaction():
        HubMessage.update(**fields).where(HubMessage.id == row.id).execute()


def queue_summary() -> dict:
    """State counts for `vanban hub list` and the hub page."""
    q = (HubMessage.select(HubMessage.state, fn.COUNT(HubMessage.id)).group_by(HubMessage.state).tuples())
    return dict(q)


# ---------------------------------------------------------------------------------------------- daily reports
def store_report(blobs, now, *, caller: str, data: bytes, trusted) -> dict:
    """Store a node's signed daily statistics report (exchange/daily_xml.py). The signer and the TLS caller
    must be the same server; rows of agencies the directory does not place on that server are ignored (and
    named in the answer), so one agency created on the node before the province registered it does not hold
    back the others' figures. Agency + day is replaced by a report generated later, never by an older one (a
    retry that arrives late). Returns {"stored", "stale", "ignored"}."""
    try:
        report = daily_xml.parse(data, trusted)  # certificates are valid in real time, as for packages
    except EdxmlError as exc:
        raise Invalid(f"Báo cáo số liệu bị từ chối: {exc.reason}", code=f"report_{exc.code}") from None
    if report.node != caller or report.signer_cn != caller:
        raise Forbidden("Báo cáo phải do chính máy chủ gửi ký và gửi.", code="report_not_from_caller")
    today = now.astimezone(codes.VN_TZ).date()
    if max(report.days) >= today:
        raise Invalid(f"Chưa thể báo cáo ngày {max(report.days):%d/%m/%Y}.", code="report_future_day")
    hosted, ignored = {}, set()
    for code in {c for rows in report.days.values() for c in rows}:
        agency = find_agency(code, include_inactive=True)
        if agency is not None and agency.node == caller:
            hosted[code] = agency.code
        else:
            ignored.add(code)
    if ignored:
        log.warning("daily report of %s: agencies not hosted there ignored: %s", caller, ", ".join(sorted(ignored)))
    generated = report.generated_at.astimezone(codes.VN_TZ).replace(tzinfo=None)
    staged = blobs.stage_bytes(data)
    try:
        with write_transaction():
            blobs.commit(staged)
            row = HubReport.create(node=caller, generated_at=generated, received_at=now.replace(tzinfo=None),
                                   blob_sha=staged.sha256, size=staged.size)
            stored, stale = _store_figures(report, row, generated, hosted)
            released = _prune_reports()
    finally:
        staged.discard()
    for sha in released:  # after the commit: a rolled-back prune must not have lost the bytes
        blobs.remove(sha)
    return {"stored": stored, "stale": stale, "ignored": sorted(ignored)}


def _store_figures(report, row: HubReport, generated, hosted: dict) -> tuple[int, int]:
    stored = stale = 0
    for day, rows in report.days.items():
        for reported_code, values in rows.items():
            code = hosted.get(reported_code)
            if code is None:
                continue
            old = HubDailyFigure.get_or_none((HubDailyFigure.agency == code) & (HubDailyFigure.day == day))
            if old is not None and old.generated_at > generated:
                stale += 1
                continue
            fields = {"node": row.node, "report": row.id, "generated_at": generated, **values}
            HubDailyFigure.insert(agency=code, day=day, **fields).on_conflict(
                conflict_target=[HubDailyFigure.agency, HubDailyFigure.day], update=fields).execute()
            stored += 1
    return stored, stale


def _prune_reports() -> list[str]:
    """Keep the evidence of the figures shown, not of every superseded version. Returns blobs to remove."""
    used = HubDailyFigure.select(HubDailyFigure.report).distinct()
    released = []
    for old in HubReport.select().where(HubReport.id.not_in(used)):
        HubReport.delete().where(HubReport.id == old.id).execute()
        if not HubReport.select().where(HubReport.blob_sha == old.blob_sha).exists():
            released.append(old.blob_sha)
    return released
