"""The node side of the exchange: outbox push, poll, durable receipt, status messages (ARCHITECTURE §5).

- Outgoing documents sit in the outgoing workflow's ``outbox`` table (models/outgoing.py, written in the same
  transaction as issuing or recalling); status messages sit in ``exchange_outbox`` (written in the same
  transaction as the workflow step that causes them). :func:`push` drains both to the hub, with backoff.
- :func:`poll` fetches what the hub holds for the agencies hosted here; :func:`receive` verifies and stores
  each message (blob fsynced, row committed) and only then does poll acknowledge it. A crash in between means
  the hub delivers it again, and ``dedup_key`` makes the second delivery a no-op: at least once on the wire,
  exactly once in effect.
- Packages land in the clerk's queue (exchange/clerk.py); the node answers 01 (arrived) at once.
"""
from __future__ import annotations

import hashlib
import logging
import tempfile
import uuid
from datetime import datetime

from ..models import database, write_transaction
from ..models.exchange import ExchangeInbox, ExchangeOutbox, ExchangeReceipt
from ..models.schema import Agency
from . import codes, edxml
from .codes import BusinessDocType, EdxmlError, StatusCode
from .config import ExchangeConfig, load_config
from .hub import backoff
from .tasks import VENDOR_STATUS_LABELS
from .transport import Refused, TransportError

log = logging.getLogger(__name__)
_configs: dict[str, ExchangeConfig] = {}


def config_of(ctx) -> ExchangeConfig:
    """exchange.toml of this data directory, read once per process (keys are loaded lazily)."""
    key = str(ctx.settings.data_path)
    if key not in _configs:
        _configs[key] = load_config(ctx.settings.data_path)
    return _configs[key]


def _naive(now: datetime) -> datetime:
    return now.replace(tzinfo=None) if now.tzinfo else now


def _store_bytes(ctx, data: bytes) -> tuple[str, int]:
    staged = ctx.blobs.stage_bytes(data)
    ctx.blobs.commit(staged)
    return staged.sha256, staged.size


# ---------------------------------------------------------------------------------------------- statuses out
def enqueue_status(ctx, *, agency_code: str, recipient: str, document_id: str, status_code: str,
                   description: str = "", local_document: int | None = None, staff: str = "",
                   description_limit: int = 1000) -> ExchangeOutbox:
    """Sign a status message and queue it for ``recipient`` (the sender of the document). Call it inside the
    transaction of the change it reports; it opens a savepoint of its own. ``description_limit``: task answers
    carry their whole text (4000, what the parser reads); a document status keeps to a short line."""
    config = config_of(ctx)
    agency = Agency.get_or_none(Agency.code == agency_code)
    now = ctx.clock.now()
    msg = edxml.StatusMessage(
        response_for=edxml.ResponseFor(organ_id=recipient, document_id=document_id),
        from_org=edxml.Organization(organ_id=agency_code, organ_name=agency.name if agency else ""),
        status_code=status_code, timestamp=now, description=description[:description_limit],
        staff_info=edxml.StaffInfo(staff=staff[:120]))
    key, chain = config.signer
    data = edxml.build_status(msg, key, chain)
    with database.atomic():
        sha, size = _store_bytes(ctx, data)
        return ExchangeOutbox.create(
            message_id=uuid.uuid4().hex, agency_code=agency_code, recipient=recipient, kind="status",
            document_id=document_id, status_code=status_code, local_document=local_document, blob_sha=sha,
            size=size, next_attempt_at=_naive(now), created_at=_naive(now))


def enqueue_package(ctx, pkg: edxml.Package, recipients=None, local_document: int | None = None) -> list:
    """Sign a package and queue one row per recipient (default: every To). Used for updates (2), replacements
    (3) and by tests; issued documents come through the outgoing workflow's outbox instead."""
    config = config_of(ctx)
    key, chain = config.signer
    data = edxml.build_package(pkg, key, chain)
    now = ctx.clock.now()
    message_id = uuid.uuid4().hex
    rows = []
    with database.atomic():
        sha, size = _store_bytes(ctx, data)
        for recipient in recipients or [o.organ_id for o in pkg.to_orgs]:
            rows.append(ExchangeOutbox.create(
                message_id=message_id, agency_code=pkg.from_org.organ_id, recipient=recipient, kind="package",
                document_id=pkg.document_id, local_document=local_document, blob_sha=sha, size=size,
                next_attempt_at=_naive(now), created_at=_naive(now)))
    return rows


# ---------------------------------------------------------------------------------------------- push
def _outgoing_rows(now, limit):
    """Due rows of the outgoing workflow's outbox (absent until that module is installed)."""
    try:
        from ..models.outgoing import Outbox
    except ImportError:
        return None, []
    if not database.table_exists(Outbox._meta.table_name):
        return Outbox, []
    return Outbox, list(Outbox.select().where((Outbox.status == "pending") & (Outbox.next_attempt_at <= now))
                        .order_by(Outbox.id).limit(limit))


def _message_for_outbox(ctx, row) -> bytes:
    from .outgoing import build_issue_package, build_recall_status

    config = config_of(ctx)
    key, chain = config.signer
    if row.kind == "recall":
        return edxml.build_status(build_recall_status(ctx, row), key, chain)
    return edxml.build_package(build_issue_package(ctx, row), key, chain)


def _record_refusal(row_agency, recipient, document_id, local_document, now, reason):
    """The hub refused for good (unknown recipient ...): the sender's page shows it as refused (02)."""
    _upsert_receipt(document_id=document_id, recipient=recipient, agency_code=row_agency,
                    local_document=local_document, status_code=StatusCode.REFUSED,
                    description=f"Hub từ chối: {reason}"[:1000], status_at=now, now=now)


def push(ctx, client, limit: int = 100) -> dict:
    """Deliver due outbox rows to the hub. Stops at the first transport failure (the hub is down: the other
    rows would fail the same way) and reschedules that row with backoff."""
    from .tasks import drain_work_outbox

    drain_work_outbox(ctx)  # task messages (work_outbox) become signed rows of the exchange outbox first
    now = _naive(ctx.clock.now())
    result = {"sent": 0, "failed": 0, "retry": 0}
    Outbox, rows = _outgoing_rows(now, limit)
    for row in rows:
        outcome = _push_outgoing(ctx, client, Outbox, row, now)
        result[outcome] += 1
        if outcome == "retry":
            return result
    due = list(ExchangeOutbox.select().where((ExchangeOutbox.state == "pending") &
                                             (ExchangeOutbox.next_attempt_at <= now))
               .order_by(ExchangeOutbox.id).limit(limit))
    for row in due:
        outcome = _push_status(ctx, client, row, now)
        result[outcome] += 1
        if outcome == "retry":
            break
    return result


def outbox_message_id(node_name: str, row) -> str:
    """The hub's message id for an outbox row: the same on every retry (the hub keeps one copy), and new for a
    new row even where a node restored from a backup hands out row ids again that it had already sent after
    that backup (the row's creation time and document are part of it)."""
    stamp = f"{row.id}|{row.created_at}|{row.document_id}|{row.organ_id}|{row.kind}"
    return f"{node_name[:16]}-ob{row.id}-{hashlib.sha256(stamp.encode()).hexdigest()[:12]}"[:40]


def _push_outgoing(ctx, client, Outbox, row, now) -> str:
    config = config_of(ctx)
    message_id = outbox_message_id(config.node_name or "node", row)
    try:
        data = _message_for_outbox(ctx, row)
        client.send(row.organ_id, message_id, data)
    except (Refused, EdxmlError) as exc:
        reason = getattr(exc, "message", None) or getattr(exc, "reason", str(exc))
        with write_transaction():
            Outbox.update(status="failed", attempts=Outbox.attempts + 1, last_error=reason[:500]).where(
                Outbox.id == row.id).execute()
            if row.kind != "recall":
                _record_refusal(row.agency.code, row.organ_id, _document_id_of(row), row.document_id, now, reason)
        return "failed"
    except TransportError as exc:
        with write_transaction():
            Outbox.update(attempts=Outbox.attempts + 1, last_error=exc.message[:500],
                          next_attempt_at=now + backoff(row.attempts + 1)).where(Outbox.id == row.id).execute()
        return "retry"
    with write_transaction():
        Outbox.update(status="sent", attempts=Outbox.attempts + 1, last_error="").where(Outbox.id == row.id).execute()
    return "sent"


def _document_id_of(row) -> str:
    from .outgoing import document_id_of

    return document_id_of(row.document)


def _push_status(ctx, client, row, now) -> str:
    try:
        client.send(row.recipient, row.message_id, ctx.blobs.path(row.blob_sha))
    except Refused as exc:
        _update_outbox(row, state="failed", attempts=row.attempts + 1, last_error=f"{exc.code}: {exc.message}"[:500])
        if row.kind == "package":
            with write_transaction():
                _record_refusal(row.agency_code, row.recipient, row.document_id, row.local_document, now,
                                exc.message)
        return "failed"
    except TransportError as exc:
        _update_outbox(row, attempts=row.attempts + 1, last_error=exc.message[:500],
                       next_attempt_at=now + backoff(row.attempts + 1))
        return "retry"
    _update_outbox(row, state="sent", attempts=row.attempts + 1, sent_at=now, last_error="")
    return "sent"


def _update_outbox(row, **fields) -> None:
    with write_transaction():
        ExchangeOutbox.update(**fields).where(ExchangeOutbox.id == row.id).execute()


# ---------------------------------------------------------------------------------------------- poll / receive
def poll(ctx, client, limit: int = 100) -> dict:
    """Fetch, store durably, then acknowledge each message waiting at the hub for agencies hosted here."""
    config = config_of(ctx)
    result = {"received": 0, "duplicate": 0, "refused": 0}
    ctx.blobs.tmp.mkdir(parents=True, exist_ok=True)
    for item in client.list(limit):
        if int(item.get("size") or 0) > config.max_bytes:
            refuse_unread(ctx, item, f"Gói tin {int(item['size']) // (1024 * 1024)} MB vượt quá giới hạn "
                                     f"{config.max_package_mb} MB")
            outcome = "refused"
        else:
            with tempfile.TemporaryFile(dir=ctx.blobs.tmp) as fh:
                try:
                    client.fetch(item["id"], fh, config.max_bytes)
                except Refused as exc:
                    if exc.code != "too_large":
                        raise
                    refuse_unread(ctx, item, "Gói tin vượt quá dung lượng cho phép")
                    client.ack(item["id"], "fail")
                    result["refused"] += 1
                    continue
                fh.seek(0)
                outcome = receive(ctx, item, fh)
        client.ack(item["id"], "done" if outcome != "refused" else "fail")
        result[outcome] += 1
    return result


def _hosted(code: str) -> bool:
    return Agency.select().where(Agency.code == code).exists()


def receive(ctx, item: dict, stream) -> str:
    """Verify and store one message from the hub. Returns "received", "duplicate" or "refused". Never raises
    on hostile content: a package that fails is stored as invalid and answered with status 02."""
    from ..errors import TooLarge

    config = config_of(ctx)
    try:
        staged = ctx.blobs.stage(stream, config.max_bytes)
    except TooLarge:
        refuse_unread(ctx, item, f"Gói tin vượt quá giới hạn {config.max_package_mb} MB")
        return "refused"
    try:
        return _receive_staged(ctx, item, staged, config)
    except Exception as exc:  # a poison message must not stop the poll loop or crash the worker
        log.exception("unexpected failure on message %s", item.get("id"))
        return _refuse_invalid(ctx, item, staged, "internal_error", f"Lỗi xử lý gói tin ({exc.__class__.__name__})")
    finally:
        staged.discard()


def _receive_staged(ctx, item, staged, config) -> str:
    recipient = str(item.get("to", "")).upper()
    with open(staged.path, "rb") as fh:
        try:
            message = edxml.parse(fh, trusted_certs=config.trusted_certs, max_bytes=config.max_bytes,
                                  max_attachment_bytes=config.max_bytes)
        except EdxmlError as exc:
            return _refuse_invalid(ctx, item, staged, exc.code, exc.reason)
    if isinstance(message, edxml.StatusMessage):
        return _store_status(ctx, item, staged, message)
    if not _hosted(recipient) or recipient not in {o.organ_id for o in message.to_orgs}:
        return _refuse_invalid(ctx, item, staged, "unknown_recipient",
                               f"Cơ quan nhận {recipient} không thuộc máy chủ này hoặc không có trong gói tin")
    from . import tasks

    if tasks.is_task_notice(message):
        return tasks.receive_notice(ctx, item, staged, message, recipient)
    return _store_package(ctx, item, staged, message, recipient)


def _package_key(recipient: str, pkg: edxml.Package, sha: str) -> str:
    # A new document is one effect per (DocumentId, recipient) whatever bytes carried it; an update or
    # replacement of the same DocumentId is a new fact each time its content differs.
    if pkg.business.doc_type == BusinessDocType.NEW:
        return f"pkg:{recipient}:{pkg.document_id}"
    return f"pkg{int(pkg.business.doc_type)}:{recipient}:{pkg.document_id}:{sha}"


def _store_package(ctx, item, staged, pkg: edxml.Package, recipient: str) -> str:
    now = ctx.clock.now()
    key = _package_key(recipient, pkg, staged.sha256)
    with write_transaction():
        if ExchangeInbox.select().where(ExchangeInbox.dedup_key == key).exists():
            return "duplicate"
        ctx.blobs.commit(staged)
        ExchangeInbox.create(
            hub_id=str(item.get("id", "")), dedup_key=key, kind="package", agency_code=recipient,
            sender=pkg.from_org.organ_id, sender_name=pkg.from_org.organ_name[:200], document_id=pkg.document_id,
            business_type=int(pkg.business.doc_type), subject=pkg.subject[:2000], blob_sha=staged.sha256,
            size=staged.size, state="pending", received_at=_naive(now))
        # QCVN 102 / NĐ 30 Điều 20: the sender is told of receipt at once (status 01).
        enqueue_status(ctx, agency_code=recipient, recipient=pkg.from_org.organ_id, document_id=pkg.document_id,
                       status_code=StatusCode.ARRIVED, description="Văn bản đã đến hệ thống của cơ quan nhận")
    return "received"


def _store_status(ctx, item, staged, msg: edxml.StatusMessage) -> str:
    now = ctx.clock.now()
    receiver = msg.response_for.organ_id  # the sender of the document, hosted here
    key = f"st:{receiver}:{msg.response_for.document_id}:{msg.from_org.organ_id}:{staged.sha256}"
    if not codes.is_known_status(msg.status_code) and msg.status_code not in VENDOR_STATUS_LABELS:
        log.warning("unknown status code %r from %s kept as received", msg.status_code, msg.from_org.organ_id)
    from .tasks import apply_status

    with write_transaction():
        if ExchangeInbox.select().where(ExchangeInbox.dedup_key == key).exists():
            return "duplicate"
        ctx.blobs.commit(staged)
        task_effect = apply_status(ctx, msg)  # a follow-up of a task notice (exchange/tasks.py), else None
        recall = task_effect is None and msg.status_code == StatusCode.RECALL_REQUESTED
        local = _local_copy(receiver, msg.response_for.document_id) if recall else None
        ExchangeInbox.create(
            hub_id=str(item.get("id", "")), dedup_key=key, kind="status", agency_code=receiver,
            sender=msg.from_org.organ_id, sender_name=msg.from_org.organ_name[:200],
            document_id=msg.response_for.document_id, status_code=msg.status_code[:4],
            subject=msg.description[:2000], blob_sha=staged.sha256, size=staged.size,
            state="recall" if recall else "applied", reason=task_effect or "", local_document=local,
            received_at=_naive(now))
        if not recall and task_effect is None:
            _upsert_receipt(document_id=msg.response_for.document_id, recipient=msg.from_org.organ_id,
                            agency_code=receiver, local_document=None, status_code=msg.status_code[:4],
                            description=msg.description, status_at=_naive(msg.timestamp.astimezone(codes.VN_TZ)),
                            now=_naive(now))
    return "received"


def _local_copy(agency_code: str, document_id: str) -> int | None:
    row = (ExchangeInbox.select(ExchangeInbox.local_document)
           .where((ExchangeInbox.agency_code == agency_code) & (ExchangeInbox.document_id == document_id) &
                  (ExchangeInbox.kind == "package") & ExchangeInbox.local_document.is_null(False)).first())
    return row.local_document if row else None


def _upsert_receipt(*, document_id, recipient, agency_code, local_document, status_code, description,
                    status_at, now) -> None:
    """Keep each recipient's latest status: an older status arriving late (retries reorder) does not win."""
    row = ExchangeReceipt.get_or_none((ExchangeReceipt.document_id == document_id) &
                                      (ExchangeReceipt.recipient == recipient))
    if row is None:
        ExchangeReceipt.create(document_id=document_id, recipient=recipient, agency_code=agency_code,
                               local_document=local_document, status_code=status_code,
                               description=description[:1000], status_at=status_at, updated_at=now)
        return
    newer = (status_at, status_code) >= (row.status_at, row.status_code)
    if newer:
        ExchangeReceipt.update(status_code=status_code, description=description[:1000], status_at=status_at,
                               updated_at=now).where(ExchangeReceipt.id == row.id).execute()


def _refuse_invalid(ctx, item, staged, code: str, reason: str) -> str:
    """Keep the refused bytes for the record, and answer 02 to the claimed sender when we can name one."""
    now = ctx.clock.now()
    with open(staged.path, "rb") as fh:
        try:
            head = edxml.peek(fh, max_bytes=config_of(ctx).max_bytes + 1)
        except EdxmlError:
            head = None
    recipient = str(item.get("to", "")).upper()
    key = f"bad:{recipient}:{staged.sha256}"
    with write_transaction():
        if ExchangeInbox.select().where(ExchangeInbox.dedup_key == key).exists():
            return "refused"
        ctx.blobs.commit(staged)
        ExchangeInbox.create(
            hub_id=str(item.get("id", "")), dedup_key=key, kind=head.kind if head else "package",
            agency_code=recipient, sender=(head.from_organ_id if head else str(item.get("from", "")))[:35],
            document_id=(head.document_id if head else str(item.get("document_id", "")))[:300], blob_sha=staged.sha256, size=staged.size,
            state="invalid", reason=f"{code}: {reason}"[:2000], received_at=_naive(now), decided_at=_naive(now),
            decided_by="system")
        _answer_refusal(ctx, head, item, recipient, reason)
    log.warning("refused message %s for %s: %s", item.get("id"), recipient, code)
    return "refused"


def _answer_refusal(ctx, head, item, recipient, reason) -> None:
    """02 to the claimed sender: from the envelope when it can be read, else from the hub's listing (what the
    hub read when it accepted the upload). Only packages get one: answering a bad status with a status would
    loop forever between two nodes."""
    kind = head.kind if head else str(item.get("kind", ""))
    sender = head.from_organ_id if head else str(item.get("from", "")).upper()
    document_id = head.document_id if head else str(item.get("document_id", ""))
    if kind != "package" or not codes.is_valid_organ_id(sender) or not document_id:
        return
    if not _hosted(recipient):
        return  # not addressed to an agency here: nobody here may speak for the recipient
    enqueue_status(ctx, agency_code=recipient, recipient=sender, document_id=document_id[:300],
                   status_code=StatusCode.REFUSED, description=f"Từ chối tự động: {reason}")


def refuse_unread(ctx, item: dict, reason: str) -> None:
    """A message too large to download: refused from the hub's listing (its unverified addressing)."""
    now = ctx.clock.now()
    recipient = str(item.get("to", "")).upper()
    key = f"big:{recipient}:{item.get('message_id', '')}"
    with write_transaction():
        if ExchangeInbox.select().where(ExchangeInbox.dedup_key == key).exists():
            return
        ExchangeInbox.create(
            hub_id=str(item.get("id", "")), dedup_key=key, kind=item.get("kind", "package")[:8],
            agency_code=recipient, sender=str(item.get("from", ""))[:35],
            document_id=str(item.get("document_id", ""))[:300], size=int(item.get("size") or 0), state="invalid",
            reason=f"too_large: {reason}", received_at=_naive(now), decided_at=_naive(now), decided_by="system")
        _answer_refusal(ctx, None, item, recipient, reason)


# ---------------------------------------------------------------------------------------------- workflow hook
ROUTING_EVENTS = {"assigned": StatusCode.ASSIGNED, "in_progress": StatusCode.IN_PROGRESS,
                  "completed": StatusCode.COMPLETED}


def on_routing_event(ctx, doc_id: int, event: str) -> None:
    """Called by core/routing inside its transaction: tell the sender of an exchanged document how its
    handling progresses (04 assigned, 05 in progress, 06 completed), once per code."""
    code = ROUTING_EVENTS.get(event)
    if code is None:
        return
    row = (ExchangeInbox.select().where((ExchangeInbox.local_document == doc_id) &
                                        (ExchangeInbox.kind == "package") & (ExchangeInbox.state == "accepted"))
           .first())
    if row is None:
        return  # not a document received through the exchange
    already = ExchangeOutbox.select().where((ExchangeOutbox.kind == "status") & (ExchangeOutbox.status_code == code)
                                            & (ExchangeOutbox.document_id == row.document_id) &
                                            (ExchangeOutbox.recipient == row.sender) &
                                            (ExchangeOutbox.agency_code == row.agency_code)).exists()
    if not already:
        enqueue_status(ctx, agency_code=row.agency_code, recipient=row.sender, document_id=row.document_id,
                       status_code=code, description=codes.status_label(code), local_document=doc_id)


# ---------------------------------------------------------------------------------------------- views
def outbox_overview(now) -> dict:
    """Depth and oldest undelivered age (seconds) per sending agency, both outboxes together."""
    now = _naive(now)
    stats: dict[str, dict] = {}

    def add(agency, created):
        s = stats.setdefault(agency, {"depth": 0, "oldest_age": 0.0})
        s["depth"] += 1
        s["oldest_age"] = max(s["oldest_age"], (now - created).total_seconds())

    for row in ExchangeOutbox.select(ExchangeOutbox.agency_code, ExchangeOutbox.created_at).where(
            ExchangeOutbox.state == "pending"):
        add(row.agency_code, row.created_at)
    Outbox, _ = _outgoing_rows(now, 0)
    if Outbox is not None and database.table_exists(Outbox._meta.table_name):
        for row in Outbox.select(Outbox.agency, Outbox.created_at).where(Outbox.status == "pending"):
            add(row.agency.code, row.created_at)
    return stats


def receipts(agency_code: str | None = None, limit: int = 200) -> list[ExchangeReceipt]:
    q = ExchangeReceipt.select().order_by(ExchangeReceipt.updated_at.desc()).limit(limit)
    if agency_code:
        q = q.where(ExchangeReceipt.agency_code == agency_code)
    return list(q)


def digest_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
