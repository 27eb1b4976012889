"""Tasks received from agencies on other servers (issue 9): the assignee's side of a cross-server task.

The assigning agency keeps the task (core/tasks.py) on its own server; here the addressed agency gets a copy
from the task notice (exchange/tasks.py), sees the urges (đôn đốc) and extensions (gia hạn) arrive, answers
(the answer travels back as a signed status 06), and learns whether the answer was approved or returned.
Every change from the other side arrives as one message, applied once (the exchange inbox deduplicates).
"""
from __future__ import annotations

from datetime import date

from ..errors import Forbidden, InvalidTransition, NotFound
from ..models import write_transaction
from ..models.schema import Agency, User
from ..models.work import ReceivedTask, ReceivedTaskEvent
from . import audit, forms
from .notifications import notify

ANSWERING_ROLES = ("leader", "clerk")  # as for tasks given to an agency on the same server (tasks.is_assignee)
READING_ROLES = ("leader", "clerk", "admin")
STATUS_NAMES = {"open": "Đang thực hiện", "submitted": "Đã báo cáo, chờ cơ quan giao duyệt", "done": "Hoàn thành"}
EVENT_NAMES = {"create": "Nhận nhiệm vụ", "urge": "Được đôn đốc", "extend": "Được gia hạn", "answer": "Báo cáo kết quả",
               "approve": "Kết quả được duyệt", "return": "Kết quả bị trả lại"}


def answering_user_ids(agency_id) -> list[int]:
    """Who answers a received task and is told about it: the agency's active leaders and clerks."""
    return [u.id for u in User.select().where((User.agency == agency_id) & (User.active == True))  # noqa: E712
            if u.role_set.intersection(ANSWERING_ROLES)]


def _tell(task: ReceivedTask, local, kind: str, title: str, key: str) -> None:
    for uid in answering_user_ids(task.agency_id):
        notify(local, uid, kind, f"{title}: {task.title}", f"/tasks/received/{task.id}", f"rtask:{key}:{uid}"[:120])


# ---- arriving from the assigning agency (called by exchange/tasks.py inside the receipt's transaction) ----------
def create_from_notice(now, *, agency_code: str, from_organ: str, from_name: str, document_id: str, title: str,
                       instruction: str, deadline: date, assigner_name: str = "") -> ReceivedTask:
    """The task notice arrived: one received task per (agency, notice); a second notice changes nothing."""
    local = now.replace(tzinfo=None)
    agency = Agency.get(Agency.code == agency_code)
    existing = ReceivedTask.get_or_none((ReceivedTask.agency == agency.id) & (ReceivedTask.document_id == document_id))
    if existing is not None:
        return existing
    task = ReceivedTask.create(agency=agency, from_organ=from_organ, from_name=from_name[:200],
                               document_id=document_id, title=title[:500], instruction=instruction,
                               assigner_name=assigner_name[:120], original_deadline=deadline, deadline=deadline,
                               received_at=local)
    ReceivedTaskEvent.create(task=task, kind="create", text=instruction[:2000], new_deadline=deadline,
                             created_at=local)
    _tell(task, local, "assigned", f"Nhiệm vụ từ {from_name or from_organ}", f"new:{task.id}")
    audit.record(now, None, "task.received", "received_task", task.id, {"from": from_organ, "notice": document_id},
                 agency_code=agency_code)
    return task


def find(agency_code: str, document_id: str, from_organ: str) -> ReceivedTask | None:
    agency = Agency.get_or_none(Agency.code == agency_code)
    if agency is None:
        return None
    return ReceivedTask.get_or_none((ReceivedTask.agency == agency.id) & (ReceivedTask.document_id == document_id) &
                                    (ReceivedTask.from_organ == from_organ))


def _audit(now, task: ReceivedTask, action: str, detail: dict) -> None:
    audit.record(now, None, f"task.received_{action}", "received_task", task.id,
                 {"from": task.from_organ, **detail}, agency_code=task.agency.code)


def urged(task: ReceivedTask, now, text: str) -> None:
    local = now.replace(tzinfo=None)
    ReceivedTaskEvent.create(task=task, kind="urge", text=text[:2000], created_at=local)
    ReceivedTask.update(last_urged_at=local).where(ReceivedTask.id == task.id).execute()
    _tell(task, local, "urged", "Đôn đốc", f"urge:{task.id}:{local.isoformat()}")
    _audit(now, task, "urge", {"text": text[:200]})


def extended(task: ReceivedTask, now, new_deadline: date, reason: str) -> None:
    local = now.replace(tzinfo=None)
    ReceivedTaskEvent.create(task=task, kind="extend", text=reason[:2000], old_deadline=task.deadline,
                             new_deadline=new_deadline, created_at=local)
    ReceivedTask.update(deadline=new_deadline).where(ReceivedTask.id == task.id).execute()
    _tell(task, local, "extended", f"Gia hạn đến {new_deadline:%d/%m/%Y}", f"ext:{task.id}:{new_deadline.isoformat()}")
    _audit(now, task, "extend", {"from_date": task.deadline.isoformat(), "to": new_deadline.isoformat()})


def decided(task: ReceivedTask, now, approved: bool, text: str) -> None:
    """The assigning agency approved (done) or returned (open again) the answer."""
    local = now.replace(tzinfo=None)
    kind = "approve" if approved else "return"
    ReceivedTaskEvent.create(task=task, kind=kind, text=text[:2000], created_at=local)
    fields = {"status": "done", "done_at": local} if approved else {"status": "open"}
    ReceivedTask.update(**fields).where(ReceivedTask.id == task.id).execute()
    if not approved:
        _tell(task, local, "returned", "Trả lại kết quả", f"ret:{task.id}:{local.isoformat()}")
    _audit(now, task, kind, {"text": text[:200]})


# ---- the agency's own people ------------------------------------------------------------------------------------
def visible(user: User):
    if not user.role_set.intersection(READING_ROLES):
        return ReceivedTask.select().where(ReceivedTask.id == -1)
    return ReceivedTask.select().where(ReceivedTask.agency == user.agency_id)


def get(user: User, task_id) -> ReceivedTask:
    try:
        task_id = int(task_id)
    except (TypeError, ValueError):
        task_id = -1
    task = visible(user).where(ReceivedTask.id == task_id).first()
    if task is None:
        raise NotFound("Không tìm thấy nhiệm vụ hoặc bạn không có quyền xem.", code="task_not_found")
    return task


def events(task: ReceivedTask) -> list[ReceivedTaskEvent]:
    return list(ReceivedTaskEvent.select().where(ReceivedTaskEvent.task == task.id).order_by(ReceivedTaskEvent.id))


def answer(ctx, actor: User, task_id, text: str) -> ReceivedTask:
    """Báo cáo kết quả: recorded here and sent back to the assigning agency as a signed status 06 in the same
    transaction (the exchange outbox); refused, with nothing changed, when the exchange cannot sign it."""
    from ..exchange import EdxmlError
    from ..exchange import tasks as task_messages

    text = forms.text({"t": text}, "t", "Kết quả thực hiện", max_len=4000)
    now = ctx.clock.now()
    local = now.replace(tzinfo=None)
    with write_transaction():
        task = get(actor, task_id)
        if not actor.role_set.intersection(ANSWERING_ROLES):
            raise Forbidden("Lãnh đạo hoặc văn thư của cơ quan được giao mới báo cáo kết quả.", code="not_assignee")
        if task.status != "open":
            raise InvalidTransition(f"Nhiệm vụ đang ở trạng thái “{STATUS_NAMES[task.status]}”.",
                                    code=f"task_{task.status}")
        ReceivedTaskEvent.create(task=task, user=actor, kind="answer", text=text, created_at=local)
        ReceivedTask.update(status="submitted", answer=text, answered_by=actor.id, answered_at=local).where(
            ReceivedTask.id == task.id).execute()
        try:
            task_messages.send_answer(ctx, task, text, actor.full_name)
        except EdxmlError as exc:
            raise InvalidTransition(f"Không gửi được kết quả qua liên thông: {exc.reason}",
                                    code="exchange_not_configured") from exc
        audit.record(now, actor, "task.received_answer", "received_task", task.id, {"to": task.from_organ})
    return ReceivedTask.get_by_id(task.id)
