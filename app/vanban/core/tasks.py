"""Task tracking (phân hệ nhắc việc): a leader or clerk turns an outgoing document or an instruction into
tasks for people, units or agencies, each with a deadline; the assigning side urges (đôn đốc), extends
(gia hạn) and approves or returns the answer. Deadlines are read against the injected clock (ctx.clock)."""
from __future__ import annotations

import json
from datetime import timedelta

from ..errors import Forbidden, Invalid, InvalidTransition, NotFound
from ..models import write_transaction
from ..models.schema import Agency, Department, User
from ..models.work import Task, TaskEvent, WorkOutbox
from . import audit, forms
from .access import get_document
from .accounts import require_role
from .agencies import validate_agency_code
from .notifications import notify

ASSIGNING_ROLES = ("leader", "clerk", "unit_head")
# How far past the ORIGINAL deadline each role may push a task, in days (counted from the original deadline so
# that repeated small extensions cannot add up past the limit). A unit head keeps the unit's work inside the
# quarter's plan; a clerk only adjusts; the leader who answers for the agency's programme may move it a month.
EXTENSION_LIMIT_DAYS = {"leader": 30, "unit_head": 10, "clerk": 5}
DUE_SOON_DAYS = 3
STATUS_NAMES = {"open": "Đang thực hiện", "submitted": "Chờ duyệt kết quả", "done": "Hoàn thành",
                "cancelled": "Đã hủy"}
EVENT_NAMES = {"create": "Giao việc", "urge": "Đôn đốc", "extend": "Gia hạn", "answer": "Báo cáo kết quả",
               "approve": "Duyệt kết quả", "return": "Trả lại", "external_answer": "Kết quả qua liên thông",
               "delivered": "Đã đến cơ quan nhận (liên thông)", "refused": "Cơ quan nhận từ chối (liên thông)"}


# ---- who is who ---------------------------------------------------------------------------------------------------
def is_assignee(user: User, task: Task) -> bool:
    if task.target_kind == "user":
        return task.target_user_id == user.id
    if task.target_kind == "dept":
        return user.department_id == task.target_dept_id and user.agency_id == task.agency_id
    # An agency answers through its leaders and clerks.
    return (task.target_agency_id is not None and user.agency_id == task.target_agency_id
            and bool(user.role_set.intersection(("leader", "clerk"))))


def is_assigning_side(user: User, task: Task) -> bool:
    return user.agency_id == task.agency_id and (user.id == task.assigner_id or "leader" in user.role_set)


def can_view(user: User, task: Task) -> bool:
    if is_assigning_side(user, task) or is_assignee(user, task):
        return True
    return user.agency_id == task.agency_id and bool(user.role_set.intersection(("clerk", "admin")))


def get_task(user: User, task_id) -> Task:
    try:
        task_id = int(task_id)
    except (TypeError, ValueError):
        task_id = -1
    task = Task.get_or_none(Task.id == task_id)
    if task is None or not can_view(user, task):
        raise NotFound("Không tìm thấy nhiệm vụ hoặc bạn không có quyền xem.", code="task_not_found")
    return task


def assignee_user_ids(task: Task) -> list[int]:
    """Who is told about the task: the person, the unit's heads (or its members when it has no head), or the
    receiving agency's leaders and clerks when that agency is hosted on this server."""
    if task.target_kind == "user":
        return [task.target_user_id]
    if task.target_kind == "dept":
        members = list(User.select().where((User.department == task.target_dept_id) & (User.active == True)))  # noqa: E712
        heads = [u.id for u in members if "unit_head" in u.role_set]
        return heads or [u.id for u in members]
    if task.target_agency_id:
        return [u.id for u in User.select().where((User.agency == task.target_agency_id) & (User.active == True))  # noqa: E712
                if u.role_set.intersection(("leader", "clerk"))]
    return []


# ---- creating -----------------------------------------------------------------------------------------------------
def _target(actor: User, spec: str) -> dict:
    kind, _, ident = str(spec or "").partition(":")
    if kind == "user":
        user = User.get_or_none((User.id == forms.integer({"v": ident}, "v", "Người nhận")) &
                                (User.agency == actor.agency_id) & (User.active == True))  # noqa: E712
        if user is None:
            raise Invalid("Người nhận không thuộc cơ quan.", code="target_invalid", field="targets")
        if "unit_head" in actor.role_set and not actor.role_set.intersection(("leader", "clerk")) \
                and user.department_id != actor.department_id:
            raise Forbidden("Trưởng đơn vị chỉ giao việc cho người trong đơn vị.", code="target_outside_unit")
        return {"target_kind": "user", "target_user": user, "target_name": user.full_name}
    if kind == "dept":
        dept = Department.get_or_none((Department.id == forms.integer({"v": ident}, "v", "Đơn vị")) &
                                      (Department.agency == actor.agency_id))
        if dept is None:
            raise Invalid("Đơn vị không thuộc cơ quan.", code="target_invalid", field="targets")
        return {"target_kind": "dept", "target_dept": dept, "target_name": dept.name}
    if kind == "agency":
        code = validate_agency_code(ident.strip().upper())
        if code == actor.agency.code:
            raise Invalid("Giao cho đơn vị hoặc người trong cơ quan, không giao cho chính cơ quan.",
                          code="target_invalid", field="targets")
        local = Agency.get_or_none(Agency.code == code)
        return {"target_kind": "agency", "target_organ": code, "target_agency": local,
                "target_name": local.name if local else code}
    raise Invalid("Người nhận: user:<id>, dept:<id> hoặc agency:<mã định danh>.", code="target_invalid",
                  field="targets")


def create_tasks(ctx, actor: User, data) -> list[Task]:
    """data: source (document|instruction), document_id, title, instruction, deadline, targets (list of
    "user:12" / "dept:3" / "agency:H19.43"). One task per target; all or nothing."""
    require_role(actor, *ASSIGNING_ROLES)
    source = forms.choice(data, "source", "Nguồn giao việc", ("document", "instruction"), default="instruction")
    doc = get_document(actor, data.get("document_id")) if source == "document" else None
    title = forms.text(data, "title", "Tên nhiệm vụ", required=doc is None, max_len=500) or (doc.subject[:500]
                                                                                          if doc else "")
    instruction = forms.text(data, "instruction", "Nội dung chỉ đạo", required=source == "instruction",
                             max_len=4000)
    deadline = forms.parse_date(data, "deadline", "Hạn hoàn thành")
    if deadline < ctx.clock.today():
        raise Invalid("Hạn hoàn thành đã qua.", code="bad_date:deadline", field="deadline")
    specs = data.get("targets")
    specs = [specs] if isinstance(specs, str) else list(specs or [])
    if not specs:
        raise Invalid("Chọn ít nhất một người, đơn vị hoặc cơ quan nhận nhiệm vụ.", code="missing:targets",
                      field="targets")
    targets = [_target(actor, s) for s in specs]
    keys = [(t["target_kind"], t["target_name"]) for t in targets]
    if len(set(keys)) != len(keys):
        raise Invalid("Một nơi nhận được chọn hai lần.", code="target_duplicate", field="targets")
    now = ctx.clock.now()
    local = now.replace(tzinfo=None)
    created = []
    with write_transaction():
        for t in targets:
            task = Task.create(agency=actor.agency_id, source=source, document=doc, title=title,
                               instruction=instruction, assigner=actor, original_deadline=deadline,
                               deadline=deadline, created_at=local, **t)
            TaskEvent.create(task=task, user=actor, kind="create", text=instruction[:2000], new_deadline=deadline,
                             created_at=local)
            for uid in assignee_user_ids(task):
                notify(local, uid, "assigned", f"Nhiệm vụ mới: {title}", f"/tasks/{task.id}",
                       f"assigned:{task.id}:{uid}")
            if task.target_kind == "agency" and task.target_agency_id is None:
                send_over_exchange(task, "task_notice", {"title": title, "instruction": instruction,
                                                         "deadline": deadline.isoformat()}, local)
            created.append(task)
        audit.record(now, actor, "task.create", "task", ",".join(str(t.id) for t in created),
                     {"targets": specs, "deadline": deadline.isoformat(), "document": doc.id if doc else None})
    return created


# ---- the assigning side ---------------------------------------------------------------------------------------------
def _load_for_assigner(actor, task_id, *statuses) -> Task:
    task = get_task(actor, task_id)
    if not is_assigning_side(actor, task):
        raise Forbidden("Chỉ người giao việc hoặc lãnh đạo cơ quan giao việc được làm thao tác này.",
                        code="not_assigner")
    if statuses and task.status not in statuses:
        raise InvalidTransition(f"Nhiệm vụ đang ở trạng thái “{STATUS_NAMES[task.status]}”.",
                                code=f"task_{task.status}")
    return task


def urge(ctx, actor: User, task_id, text: str = "") -> TaskEvent:
    """Đôn đốc: a logged reminder to whoever must answer."""
    text = forms.text({"t": text}, "t", "Nội dung đôn đốc", required=False, max_len=2000)
    now = ctx.clock.now()
    local = now.replace(tzinfo=None)
    with write_transaction():
        task = _load_for_assigner(actor, task_id, "open")
        event = TaskEvent.create(task=task, user=actor, kind="urge", text=text, created_at=local)
        Task.update(last_urged_at=local).where(Task.id == task.id).execute()
        for uid in assignee_user_ids(task):
            notify(local, uid, "urged", f"Đôn đốc: {task.title}", f"/tasks/{task.id}", f"urged:{event.id}:{uid}")
        if task.target_kind == "agency" and task.target_agency_id is None:
            send_over_exchange(task, "task_urge", {"text": text}, local)
        audit.record(now, actor, "task.urge", "task", task.id, {"text": text[:200]})
    return event


def extension_limit(actor: User) -> int:
    return max((EXTENSION_LIMIT_DAYS.get(r, 0) for r in actor.role_set), default=0)


def extend(ctx, actor: User, task_id, new_deadline, reason: str) -> Task:
    """Gia hạn with a reason, within what the actor's role may grant counted from the original deadline."""
    reason = forms.text({"r": reason}, "r", "Lý do gia hạn", max_len=2000)
    new = forms.parse_date({"d": new_deadline}, "d", "Hạn mới")
    now = ctx.clock.now()
    local = now.replace(tzinfo=None)
    with write_transaction():
        task = _load_for_assigner(actor, task_id, "open", "submitted")
        if new <= task.deadline:
            raise Invalid("Hạn mới phải sau hạn hiện tại.", code="bad_date:deadline", field="deadline")
        limit = extension_limit(actor)
        if (new - task.original_deadline).days > limit:
            latest = task.original_deadline + timedelta(days=limit)
            raise Forbidden(f"Bạn chỉ được gia hạn tối đa {limit} ngày so với hạn ban đầu "
                            f"({task.original_deadline:%d/%m/%Y}), tức đến {latest:%d/%m/%Y}.",
                            code="extension_beyond_limit")
        TaskEvent.create(task=task, user=actor, kind="extend", text=reason, old_deadline=task.deadline,
                         new_deadline=new, created_at=local)
        Task.update(deadline=new).where(Task.id == task.id).execute()
        for uid in assignee_user_ids(task):
            notify(local, uid, "extended", f"Gia hạn đến {new:%d/%m/%Y}: {task.title}", f"/tasks/{task.id}",
                   f"extended:{task.id}:{new.isoformat()}:{uid}")
        if task.target_kind == "agency" and task.target_agency_id is None:
            send_over_exchange(task, "task_extend", {"deadline": new.isoformat(), "reason": reason}, local)
        audit.record(now, actor, "task.extend", "task", task.id,
                     {"from": task.deadline.isoformat(), "to": new.isoformat(), "reason": reason[:200]})
    return Task.get_by_id(task.id)


def approve(ctx, actor: User, task_id, note: str = "") -> Task:
    """Duyệt kết quả. Nobody approves their own answer or a task given to them."""
    note = forms.text({"n": note}, "n", "Ý kiến", required=False, max_len=2000)
    now = ctx.clock.now()
    local = now.replace(tzinfo=None)
    with write_transaction():
        task = get_task(actor, task_id)
        if task.answered_by_id == actor.id or is_assignee(actor, task):
            raise Forbidden("Không thể tự duyệt kết quả nhiệm vụ của chính mình.", code="approve_own_task")
        task = _load_for_assigner(actor, task_id, "submitted")
        TaskEvent.create(task=task, user=actor, kind="approve", text=note, created_at=local)
        Task.update(status="done", done_at=local).where(Task.id == task.id).execute()
        if task.target_kind == "agency" and task.target_agency_id is None:
            send_over_exchange(task, "task_approve", {"note": note}, local)
        sent = answer_over_exchange(ctx, task)
        audit.record(now, actor, "task.approve", "task", task.id, {"answer_sent_to": sent} if sent else None)
    return Task.get_by_id(task.id)


def return_task(ctx, actor: User, task_id, reason: str) -> Task:
    """Trả lại: the answer is not enough; the task opens again and the assignee is told why."""
    reason = forms.text({"r": reason}, "r", "Lý do trả lại", max_len=2000)
    now = ctx.clock.now()
    local = now.replace(tzinfo=None)
    with write_transaction():
        task = _load_for_assigner(actor, task_id, "submitted")
        TaskEvent.create(task=task, user=actor, kind="return", text=reason, created_at=local)
        Task.update(status="open").where(Task.id == task.id).execute()
        recipients = set(assignee_user_ids(task)) | ({task.answered_by_id} if task.answered_by_id else set())
        for uid in recipients:
            notify(local, uid, "returned", f"Trả lại kết quả: {task.title}", f"/tasks/{task.id}",
                   f"returned:{task.id}:{local.isoformat()}:{uid}")
        if task.target_kind == "agency" and task.target_agency_id is None:
            send_over_exchange(task, "task_return", {"reason": reason}, local)
        audit.record(now, actor, "task.return", "task", task.id, {"reason": reason[:200]})
    return Task.get_by_id(task.id)


# ---- the answering side -----------------------------------------------------------------------------------------------
def answer(ctx, actor: User, task_id, text: str) -> Task:
    """The assignee reports the result; the task waits for the assigning side's approval."""
    text = forms.text({"t": text}, "t", "Kết quả thực hiện", max_len=4000)
    now = ctx.clock.now()
    local = now.replace(tzinfo=None)
    with write_transaction():
        task = get_task(actor, task_id)
        if not is_assignee(actor, task):
            raise Forbidden("Chỉ người hoặc đơn vị được giao mới báo cáo kết quả.", code="not_assignee")
        if task.status != "open":
            raise InvalidTransition(f"Nhiệm vụ đang ở trạng thái “{STATUS_NAMES[task.status]}”.",
                                    code=f"task_{task.status}")
        _record_answer(task, actor, text, local, "answer")
        audit.record(now, actor, "task.answer", "task", task.id, {"cross_agency": actor.agency_id != task.agency_id})
    return Task.get_by_id(task.id)


def _record_answer(task, actor, text, local, kind):
    TaskEvent.create(task=task, user=actor, kind=kind, text=text, created_at=local)
    Task.update(status="submitted", answer=text, answered_by=actor.id if actor else None,
                answered_at=local).where(Task.id == task.id).execute()
    notify(local, task.assigner_id, "answered", f"Kết quả chờ duyệt: {task.title}", f"/tasks/{task.id}",
           f"answered:{task.id}:{local.isoformat()}")


def record_external_answer(ctx, task_id, from_organ: str, text: str) -> Task:
    """Entry point for the exchange: an answer from an agency on another server (task_answer message, see
    send_over_exchange) lands on the task it answers. Only the agency the task was given to may answer it."""
    text = forms.text({"t": text}, "t", "Kết quả thực hiện", max_len=4000)
    now = ctx.clock.now()
    local = now.replace(tzinfo=None)
    with write_transaction():
        task = Task.get_or_none(Task.id == forms.integer({"v": task_id}, "v", "Mã nhiệm vụ"))
        if task is None or task.target_kind != "agency" or task.target_organ != (from_organ or "").upper():
            raise NotFound("Không có nhiệm vụ giao cho cơ quan này.", code="task_not_found")
        if task.status != "open":
            raise InvalidTransition(f"Nhiệm vụ đang ở trạng thái “{STATUS_NAMES[task.status]}”.",
                                    code=f"task_{task.status}")
        _record_answer(task, None, text, local, "external_answer")
        audit.record(now, None, "task.external_answer", "task", task.id, {"from": from_organ},
                     agency_code=task.agency.code)
    return Task.get_by_id(task.id)


def answer_over_exchange(ctx, task: Task) -> str | None:
    """When the task came from a document another agency sent over the exchange, the approved answer goes back
    to that agency as an edXML status 06 (completed) whose Description carries the answer, through the
    exchange's own outbox (exchange.node.enqueue_status, same transaction). Returns the recipient's code."""
    from ..models import database

    if task.document_id is None or not database.table_exists("exchange_inbox"):
        return None
    from ..models.exchange import ExchangeInbox

    row = (ExchangeInbox.select().where((ExchangeInbox.local_document == task.document_id) &
                                        (ExchangeInbox.kind == "package") & (ExchangeInbox.state == "accepted"))
           .first())
    if row is None:
        return None
    from ..exchange import EdxmlError, node

    try:
        node.enqueue_status(ctx, agency_code=row.agency_code, recipient=row.sender, document_id=row.document_id,
                            status_code="06", description=f"{task.title}: {task.answer}"[:1000],
                            local_document=task.document_id)
    except EdxmlError as exc:  # no signing key: refuse the approval rather than lose the answer
        raise InvalidTransition(f"Không gửi được kết quả qua liên thông: {exc}", code="exchange_not_configured") \
            from exc
    return row.sender


def send_over_exchange(task: Task, kind: str, payload: dict, local) -> WorkOutbox:
    """The one place a task message (notice, urge, extension, return, approval) leaves for an agency on another
    server. It waits in work_outbox, written in the same transaction as the change (like the document outbox);
    the exchange's push job turns `pending` rows into signed edXML (exchange/tasks.py: the notice as a package,
    the rest as status messages with documented vendor codes) and marks them `queued`."""
    body = {"task_id": task.id, "from": task.agency.code, "to": task.target_organ, "kind": kind,
            "document_id": task.document_id, "title": task.title, **payload}
    return WorkOutbox.create(task=task, sender_code=task.agency.code, recipient_code=task.target_organ, kind=kind,
                             payload=json.dumps(body, ensure_ascii=False, sort_keys=True), created_at=local)


# ---- reading ---------------------------------------------------------------------------------------------------------
def state(task: Task, today) -> str:
    """open | due_soon | overdue | submitted | done | done_late, for lists, badges and reports."""
    if task.status == "done":
        return "done_late" if task.done_at and task.done_at.date() > task.deadline else "done"
    if task.status == "submitted":
        return "submitted"
    if task.deadline < today:
        return "overdue"
    if task.deadline <= today + timedelta(days=DUE_SOON_DAYS):
        return "due_soon"
    return "open"


def visible_tasks(user: User):
    """Tasks the user gave or must answer; all of the agency's for its leaders, clerks and admins."""
    if user.role_set.intersection(("leader", "clerk", "admin")):
        cond = Task.agency == user.agency_id
    else:
        cond = Task.assigner == user.id
    cond |= (Task.target_user == user.id)
    if user.department_id:
        cond |= (Task.target_dept == user.department_id)
    if user.role_set.intersection(("leader", "clerk")):
        cond |= (Task.target_agency == user.agency_id)
    return Task.select().where(cond)


def events(task: Task) -> list[TaskEvent]:
    return list(TaskEvent.select().where(TaskEvent.task == task.id).order_by(TaskEvent.id))


def scan_deadlines(ctx) -> dict:
    """Periodic due-soon / overdue notices; received tasks too, so this lives with the unified view
    (core/tracking.py). Kept here because vanban.work_jobs calls it."""
    from .tracking import scan_deadlines as scan

    return scan(ctx)
