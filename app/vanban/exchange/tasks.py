"""Task messages across servers (issue 9, phân hệ nhắc việc) carried by edXML.

QCVN 102 has no task message, so the conventions are ours and written down here (DOMAIN §11: codes beyond the
listed ones are unconfirmed; a receiver that does not know a code logs it and keeps it, as this node does):

**Task notice** (giao nhiệm vụ), assigning agency → assignee agency: an edXML package, From the assigning agency,
To the assignee; Code ``<task id>/NHIEMVU`` (so DocumentId is ``<organ>,<yyyy/MM/dd>,<task id>/NHIEMVU``, unique
per assigning server), PromulgationDate the day it was given, DocumentType/TypeName "Phiếu giao nhiệm vụ",
Subject the title, Content the instruction, DueDate the deadline, **SteeringType 1**, and two parts:
``nhiem-vu.pdf`` (the instruction for a person, readable in any system) and ``nhiem-vu.json`` of type
``application/vnd.vanban.task+json`` (``{"version": 1, "task_id", "title", "instruction", "deadline",
"assigner", "document"}``). A package is a task notice only with SteeringType 1 AND that part: a steering
document from another system (SteeringType 1 alone) still goes to the clerk's queue as a document.

**Follow-ups** are edXML status messages about the notice (ResponseFor/DocumentId = the notice's DocumentId;
ResponseFor/OrganId = the addressee, as for every status relayed by the hub):

====  ======================  =====================================================================
code  direction               meaning, Description
====  ======================  =====================================================================
01    assignee → assigning    the notice arrived (automatic, as for documents)
02    assignee → assigning    refused (automatic: unknown recipient, bad part ...)
06    assignee → assigning    the answer (báo cáo kết quả); Description = the answer text
91    assigning → assignee    urge (đôn đốc); Description = the reminder
92    assigning → assignee    extension (gia hạn); Description = ``yyyy/MM/dd`` new deadline, a space, the reason
93    assigning → assignee    answer returned (trả lại); Description = the reason
94    assigning → assignee    answer approved (duyệt kết quả); Description = the note
====  ======================  =====================================================================

The assigning node writes each message to ``work_outbox`` in the same transaction as the change
(core/tasks.send_over_exchange); the push job turns pending rows into signed messages in the exchange outbox
(:func:`drain_work_outbox`, one transaction per row), from where they travel with retries like any status.
The receiving node applies each message once: the inbox's dedup key stops a second delivery, the received
task is unique per (agency, notice), and a status that does not fit the task's state is logged and kept.
"""
from __future__ import annotations

import json
import logging
from datetime import date

from ..models import write_transaction
from ..models.exchange import ExchangeInbox
from ..models.work import Task, WorkOutbox
from . import codes, edxml
from .codes import EdxmlError, StatusCode

log = logging.getLogger(__name__)
TASK_STEERING_TYPE = 1
TASK_PART_TYPE = "application/vnd.vanban.task+json"
TASK_NOTATION = "NHIEMVU"
TYPE_NAME = "Phiếu giao nhiệm vụ"
URGE, EXTEND, RETURN, APPROVE = "91", "92", "93", "94"
ANSWER = StatusCode.COMPLETED
VENDOR_STATUS_LABELS = {URGE: "Đôn đốc nhiệm vụ", EXTEND: "Gia hạn nhiệm vụ", RETURN: "Trả lại kết quả nhiệm vụ",
                        APPROVE: "Duyệt kết quả nhiệm vụ"}
_KIND_CODES = {"task_urge": URGE, "task_extend": EXTEND, "task_return": RETURN, "task_approve": APPROVE}
MAX_PART_BYTES = 64 * 1024


def is_task_notice(pkg: edxml.Package) -> bool:
    return pkg.steering_type == TASK_STEERING_TYPE and any(a.content_type == TASK_PART_TYPE for a in pkg.attachments)


def notice_document_id(task: Task) -> str:
    return edxml.document_id(task.agency.code, task.created_at.date(), str(task.id), TASK_NOTATION)


# ---------------------------------------------------------------------------------------------- sending
def _instruction_pdf(task: Task, body: dict) -> bytes:
    from fpdf import FPDF

    from ..reports import find_fonts

    fonts = find_fonts()
    pdf = FPDF()
    pdf.set_creation_date(task.created_at.replace(tzinfo=codes.VN_TZ))  # same task, same bytes
    pdf.add_page()
    pdf.add_font("Serif", "", fonts.regular)
    pdf.set_font("Serif", size=13)
    pdf.multi_cell(0, 7, f"{task.agency.name}\nPHIẾU GIAO NHIỆM VỤ\n\n{body['title']}\n")
    pdf.set_font("Serif", size=11)
    pdf.multi_cell(0, 6, f"Nơi thực hiện: {task.target_name}\nHạn hoàn thành: "
                         f"{date.fromisoformat(body['deadline']):%d/%m/%Y}\nNgười giao: {task.assigner.full_name}\n\n"
                         f"{body.get('instruction') or ''}")
    return bytes(pdf.output())


def build_notice(task: Task, body: dict) -> edxml.Package:
    deadline = date.fromisoformat(body["deadline"])
    part = {"version": 1, "task_id": task.id, "title": body["title"], "instruction": body.get("instruction", ""),
            "deadline": deadline.isoformat(), "assigner": task.assigner.full_name,
            "document": f"{task.document.number}/{task.document.notation}" if task.document_id else None}
    return edxml.Package(
        from_org=edxml.Organization(task.agency.code, organ_name=task.agency.name),
        to_orgs=(edxml.Organization(task.target_organ, organ_name=task.target_name),),
        code_number=str(task.id), code_notation=TASK_NOTATION, promulgation_date=task.created_at.date(),
        subject=body["title"][:4000], type_name=TYPE_NAME, content=body.get("instruction", ""), due_date=deadline,
        signer=edxml.SignerInfo(full_name=task.assigner.full_name), steering_type=TASK_STEERING_TYPE,
        attachments=(edxml.Attachment("nhiemvu-pdf", "nhiem-vu.pdf", _instruction_pdf(task, body)),
                     edxml.Attachment("nhiemvu-json", "nhiem-vu.json",
                                      json.dumps(part, ensure_ascii=False, sort_keys=True).encode(), TASK_PART_TYPE)))


def _follow_up(body: dict) -> tuple[str, str]:
    kind = body["kind"]
    if kind == "task_extend":
        return EXTEND, f"{codes.format_date(date.fromisoformat(body['deadline']))} {body.get('reason', '')}"
    text = body.get("text") or body.get("reason") or body.get("note") or ""
    return _KIND_CODES[kind], text


def _queue(ctx, row: WorkOutbox) -> None:
    from . import node

    task = Task.get_by_id(row.task_id)
    body = json.loads(row.payload)
    if row.kind == "task_notice":
        node.enqueue_package(ctx, build_notice(task, body), [row.recipient_code])
        return
    if row.kind not in _KIND_CODES:
        raise EdxmlError("unknown_task_message", f"Loại thông điệp nhiệm vụ không hỗ trợ: {row.kind}")
    code, description = _follow_up(body)
    node.enqueue_status(ctx, agency_code=row.sender_code, recipient=row.recipient_code,
                        document_id=notice_document_id(task), status_code=code, description=description,
                        description_limit=4000)


def drain_work_outbox(ctx, limit: int = 100) -> dict:
    """Turn pending task messages into signed messages of the exchange outbox, in order, one transaction each
    (row marked queued with its message). A row that cannot be signed (no signing key yet) stays pending and
    stops the run, so a later urge never overtakes the notice it refers to; a row that can never be built
    (a broken payload) is marked failed and logged."""
    now = ctx.clock.now().replace(tzinfo=None)
    queued = 0
    for row in WorkOutbox.select().where(WorkOutbox.state == "pending").order_by(WorkOutbox.id).limit(limit):
        try:
            with write_transaction():
                if WorkOutbox.get_by_id(row.id).state != "pending":
                    continue  # another worker got there first
                _queue(ctx, row)
                WorkOutbox.update(state="queued", sent_at=now).where(WorkOutbox.id == row.id).execute()
        except EdxmlError as exc:
            log.warning("task message %s (%s) not queued: %s", row.id, row.kind, exc)
            return {"queued": queued, "blocked": row.id}
        except Exception:  # a broken row must not stop the documents' push behind it: set aside, logged
            log.exception("task message %s (%s) cannot be built; marked failed", row.id, row.kind)
            with write_transaction():
                WorkOutbox.update(state="failed").where(WorkOutbox.id == row.id).execute()
            continue
        queued += 1
    return {"queued": queued}


def send_answer(ctx, received, text: str, staff: str) -> None:
    """The assignee's answer, back to the assigning agency as a signed status 06 (caller's transaction)."""
    from . import node

    node.enqueue_status(ctx, agency_code=received.agency.code, recipient=received.from_organ,
                        document_id=received.document_id, status_code=ANSWER, description=text, staff=staff,
                        description_limit=4000)


# ---------------------------------------------------------------------------------------------- receiving
def _part(pkg: edxml.Package) -> dict:
    att = next(a for a in pkg.attachments if a.content_type == TASK_PART_TYPE)
    if len(att.data) > MAX_PART_BYTES:
        raise EdxmlError("task_part_invalid", "Phần dữ liệu nhiệm vụ quá lớn")
    try:
        part = json.loads(att.data.decode("utf-8"))
        deadline = date.fromisoformat(str(part["deadline"]))
        title = str(part.get("title") or pkg.subject).strip()
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, AttributeError):
        raise EdxmlError("task_part_invalid", "Phần dữ liệu nhiệm vụ (nhiem-vu.json) không đọc được") from None
    if not title:
        raise EdxmlError("task_part_invalid", "Nhiệm vụ không có tên")
    return {"title": title[:500], "instruction": str(part.get("instruction") or pkg.content)[:4000],
            "deadline": deadline, "assigner": str(part.get("assigner") or pkg.signer.full_name)[:120]}


def receive_notice(ctx, item: dict, staged, pkg: edxml.Package, recipient: str) -> str:
    """A verified task notice for an agency hosted here: a received task (once), answered 01."""
    from ..core import received_tasks
    from . import node

    try:
        part = _part(pkg)
    except EdxmlError as exc:
        return node._refuse_invalid(ctx, item, staged, exc.code, exc.reason)
    now = ctx.clock.now()
    key = f"task:{recipient}:{pkg.document_id}"
    with write_transaction():
        if ExchangeInbox.select().where(ExchangeInbox.dedup_key == key).exists():
            return "duplicate"
        ctx.blobs.commit(staged)
        task = received_tasks.create_from_notice(
            now, agency_code=recipient, from_organ=pkg.from_org.organ_id, from_name=pkg.from_org.organ_name,
            document_id=pkg.document_id, title=part["title"], instruction=part["instruction"],
            deadline=part["deadline"], assigner_name=part["assigner"])
        ExchangeInbox.create(
            hub_id=str(item.get("id", "")), dedup_key=key, kind="package", agency_code=recipient,
            sender=pkg.from_org.organ_id, sender_name=pkg.from_org.organ_name[:200], document_id=pkg.document_id,
            subject=pkg.subject[:2000], blob_sha=staged.sha256, size=staged.size, state="task",
            reason=f"received_task:{task.id}", received_at=now.replace(tzinfo=None))
        node.enqueue_status(ctx, agency_code=recipient, recipient=pkg.from_org.organ_id, document_id=pkg.document_id,
                            status_code=StatusCode.ARRIVED, description="Nhiệm vụ đã đến cơ quan được giao")
    return "received"


def apply_status(ctx, msg: edxml.StatusMessage) -> str | None:
    """Inside the receipt's transaction: apply a status about a task notice, on either side. Returns what was
    done (kept in the inbox row), or None when the status is not about a task (the document path goes on)."""
    sender = msg.from_org.organ_id
    receiver = msg.response_for.organ_id
    document_id = msg.response_for.document_id
    task = _own_task(receiver, document_id, sender)
    if task is not None:
        return _on_assigning_side(ctx, task, msg)
    from ..core import received_tasks

    received = received_tasks.find(receiver, document_id, sender)
    if received is not None:
        return _on_assignee_side(ctx, received, msg)
    return None


def _own_task(organ: str, document_id: str, counterpart: str) -> Task | None:
    """The task a notice DocumentId names, if this server gave it to ``counterpart``."""
    parts = document_id.split(",")
    if len(parts) != 3 or not parts[2].endswith(f"/{TASK_NOTATION}") or parts[0] != organ:
        return None
    try:
        task_id = int(parts[2].split("/")[0])
    except ValueError:
        return None
    task = Task.get_or_none(Task.id == task_id)
    if task is None or task.agency.code != organ or task.target_organ != counterpart \
            or notice_document_id(task) != document_id:
        return None
    return task


def _on_assigning_side(ctx, task: Task, msg: edxml.StatusMessage) -> str:
    from ..core import tasks
    from ..errors import DomainError
    from ..models.work import TaskEvent

    code = msg.status_code
    local = ctx.clock.now().replace(tzinfo=None)
    if code in (StatusCode.ARRIVED, StatusCode.REFUSED):
        TaskEvent.create(task=task, kind="delivered" if code == StatusCode.ARRIVED else "refused",
                         text=msg.description[:2000], created_at=local)
        return f"task:{task.id}:{code}"
    if code == ANSWER:
        try:
            tasks.record_external_answer(ctx, task.id, msg.from_org.organ_id, msg.description)
        except DomainError as exc:  # answered twice, or after approval: kept, logged, not applied
            log.warning("answer to task %s from %s not applied: %s", task.id, msg.from_org.organ_id, exc.code)
            return f"task:{task.id}:ignored:{exc.code}"
        return f"task:{task.id}:answer"
    log.warning("status %r about task %s kept without effect", code, task.id)
    return f"task:{task.id}:unknown:{code}"


def _on_assignee_side(ctx, received, msg: edxml.StatusMessage) -> str:
    from ..core import received_tasks

    code, now = msg.status_code, ctx.clock.now()
    if code == URGE:
        received_tasks.urged(received, now, msg.description)
    elif code == EXTEND:
        day, _, reason = msg.description.partition(" ")
        try:
            new_deadline = codes.parse_date(day)
        except ValueError:
            log.warning("extension of received task %s without a date: %r", received.id, msg.description[:60])
            return f"rtask:{received.id}:ignored:bad_date"
        received_tasks.extended(received, now, new_deadline, reason.strip())
    elif code in (APPROVE, RETURN):
        if received.status != "submitted":
            log.warning("decision %s on received task %s in state %s ignored", code, received.id, received.status)
            return f"rtask:{received.id}:ignored:{received.status}"
        received_tasks.decided(received, now, code == APPROVE, msg.description)
    else:
        log.warning("status %r about received task %s kept without effect", code, received.id)
        return f"rtask:{received.id}:unknown:{code}"
    return f"rtask:{received.id}:{code}"
