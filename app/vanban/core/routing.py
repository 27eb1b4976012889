"""Routing and handling (NĐ 30/2020 Điều 24): instructions, lead / co-handlers / for information, unit
re-assignment, comments, forwarding and completion."""
from __future__ import annotations

from ..errors import Forbidden, Invalid, InvalidTransition
from ..models import write_transaction
from ..models.schema import Assignment, Department, Document, Event, User
from . import audit, forms
from .access import get_document
from .accounts import require_role


def on_routing_event(ctx, doc_id, event) -> None:
    """Status 04/05/06 back to the sender of a document that came by exchange. Imported on use: the exchange
    brings lxml and signxml, which a worker that never routes an exchanged document need not load."""
    from ..exchange.node import on_routing_event as send

    send(ctx, doc_id, event)


def load_for_action(actor, doc_id) -> Document:
    doc = get_document(actor, doc_id)
    if doc.status == "withdrawn":
        raise InvalidTransition("Văn bản đã bị thu hồi.", code="withdrawn")
    return doc


def pick_user(agency_id, user_id, role=None, *, label="Người nhận", department_id=None) -> User:
    user = User.get_or_none((User.id == forms.integer({"v": user_id}, "v", label)) & (User.agency == agency_id)
                            & (User.active == True))  # noqa: E712
    if user is None or (role and role not in user.role_set):
        raise Invalid(f"{label} không hợp lệ.", code="assignee_invalid")
    if department_id is not None and user.department_id != department_id:
        raise Invalid(f"{user.full_name} không thuộc đơn vị của bạn.", code="assignee_outside_unit")
    return user


def _target(agency_id, spec: dict, label: str):
    """A routing target is a person ("user:12") or a unit ("dept:3")."""
    kind, _, ident = str(spec.get("to") or "").partition(":")
    if kind == "user":
        return pick_user(agency_id, ident, label=label), None
    if kind == "dept":
        dept = Department.get_or_none((Department.id == forms.integer({"v": ident}, "v", label)) &
                                      (Department.agency == agency_id))
        if dept is not None:
            return None, dept
    raise Invalid(f"{label}: chọn một người hoặc một đơn vị.", code="assignee_invalid")


def _deadline(ctx, spec, doc):
    deadline = forms.parse_date(spec, "deadline", "Hạn xử lý", required=False) or doc.deadline
    if deadline and deadline < ctx.clock.today():
        raise Invalid("Hạn xử lý đã qua.", code="bad_date:deadline", field="deadline")
    return deadline


def _create_assignments(ctx, actor, doc, parent, instruction, lead, co, info, now):
    specs = ([("lead", lead)] if lead else []) + [("co", s) for s in co] + [("info", s) for s in info]
    labels = {"lead": "Chủ trì", "co": "Phối hợp", "info": "Nhận để biết"}
    seen, created = set(), []
    for role, spec in specs:
        user, dept = _target(actor.agency_id, spec, labels[role])
        key = (user.id if user else None, dept.id if dept else None)
        if key in seen:
            raise Invalid("Một người hoặc đơn vị được giao hai lần.", code="assignee_duplicate")
        seen.add(key)
        created.append(Assignment.create(
            document=doc, parent=parent, assigner=actor, assignee=user, department=dept, role=role,
            instruction=instruction, deadline=_deadline(ctx, spec, doc) if role != "info" else None,
            created_at=now))
    return created


def assign(ctx, actor: User, doc_id, *, instruction: str, lead: dict, co=(), info=()) -> list[Assignment]:
    """A leader gives the instruction (ý kiến chỉ đạo) and names exactly one lead, any co-handlers and
    readers, each with a deadline."""
    require_role(actor, "leader")
    instruction = forms.text({"i": instruction}, "i", "Ý kiến chỉ đạo", max_len=4000)
    if not lead:
        raise Invalid("Phải chọn một đơn vị hoặc người chủ trì.", code="missing:lead", field="lead")
    now = ctx.clock.now()
    with write_transaction():
        doc = load_for_action(actor, doc_id)
        if doc.status == "done":
            raise InvalidTransition("Văn bản đã hoàn thành.", code="already_done")
        if Assignment.select().where((Assignment.document == doc.id) & (Assignment.role == "lead") &
                                     Assignment.parent.is_null(False) & (Assignment.assigner == actor.id)).exists():
            raise InvalidTransition("Bạn đã giao xử lý văn bản này.", code="already_assigned")
        presented = (Assignment.select().where((Assignment.document == doc.id) & (Assignment.role == "present")
                                               & (Assignment.assignee == actor.id)).first())
        created = _create_assignments(ctx, actor, doc, presented, instruction, lead, co, info,
                                      now.replace(tzinfo=None))
        if presented:
            Assignment.update(status="done", done_at=now.replace(tzinfo=None)).where(
                Assignment.id == presented.id).execute()
        Document.update(status="in_progress").where(Document.id == doc.id).execute()
        on_routing_event(ctx, doc.id, "assigned")  # exchange: status 04 to the sender, if it came by exchange
        audit.record(now, actor, "routing.assign", "document", doc.id,
                     {"assignments": [a.id for a in created], "instruction": instruction[:200]})
    return created


def _my_open_assignment(actor, doc_id, roles=("lead", "co", "info", "present")) -> Assignment:
    cond = Assignment.assignee == actor.id
    if actor.department_id and "unit_head" in actor.role_set:
        cond |= (Assignment.department == actor.department_id) & Assignment.assignee.is_null()
    a = (Assignment.select().where((Assignment.document == doc_id) & cond & (Assignment.status != "done") &
                                   Assignment.role.in_(roles)).order_by(Assignment.id).first())
    if a is None:
        raise Forbidden("Bạn không có nhiệm vụ đang mở với văn bản này.", code="not_assigned")
    return a


def reassign(ctx, actor: User, doc_id, *, instruction: str, lead=None, co=(), info=()) -> list[Assignment]:
    """A unit head hands the unit's part to people of the unit (lead only if the unit was the lead)."""
    require_role(actor, "unit_head")
    now = ctx.clock.now()
    with write_transaction():
        doc = load_for_action(actor, doc_id)
        parent = _my_open_assignment(actor, doc.id, roles=("lead", "co"))
        if parent.department_id != actor.department_id:
            raise Forbidden("Chỉ giao lại phần việc của đơn vị mình.", code="not_unit_assignment")
        if lead and parent.role != "lead":
            raise Invalid("Đơn vị chỉ phối hợp, không giao chủ trì.", code="lead_not_allowed")
        if parent.role == "lead" and not lead:
            raise Invalid("Phải chọn người chủ trì trong đơn vị.", code="missing:lead", field="lead")
        for spec in ([lead] if lead else []) + list(co) + list(info):
            kind, _, ident = str(spec.get("to") or "").partition(":")
            if kind != "user":
                raise Invalid("Giao lại cho người trong đơn vị.", code="assignee_invalid")
            pick_user(actor.agency_id, ident, department_id=actor.department_id)
        instruction = forms.text({"i": instruction}, "i", "Ý kiến", required=False, max_len=4000)
        created = _create_assignments(ctx, actor, doc, parent, instruction, lead, co, info,
                                      now.replace(tzinfo=None))
        Assignment.update(status="in_progress", assignee=actor.id).where(Assignment.id == parent.id).execute()
        audit.record(now, actor, "routing.reassign", "document", doc.id, {"assignments": [a.id for a in created]})
    return created


def forward(ctx, actor: User, doc_id, *, to_user_id, role: str = "co", note: str = "") -> Assignment:
    """A handler forwards (chuyển tiếp) the document to a colleague to help or for information."""
    if role not in ("co", "info"):
        raise Invalid("Chỉ chuyển để phối hợp hoặc để biết.", code="invalid:role", field="role")
    now = ctx.clock.now()
    with write_transaction():
        doc = load_for_action(actor, doc_id)
        mine = _my_open_assignment(actor, doc.id, roles=("lead", "co"))
        target = pick_user(actor.agency_id, to_user_id, label="Người nhận")
        note = forms.text({"n": note}, "n", "Ghi chú", required=False, max_len=2000)
        a = Assignment.create(document=doc, parent=mine, assigner=actor, assignee=target, role=role,
                              instruction=note, deadline=mine.deadline if role == "co" else None,
                              created_at=now.replace(tzinfo=None))
        _start(mine, now)
        Event.create(document=doc, user=actor, kind="forward", text=f"{target.full_name}: {note}".strip(),
                     created_at=now.replace(tzinfo=None))
        audit.record(now, actor, "routing.forward", "document", doc.id, {"to": target.username, "role": role})
    return a


def _start(assignment, now):
    if assignment.status == "waiting":
        Assignment.update(status="in_progress").where(Assignment.id == assignment.id).execute()


def comment(ctx, actor: User, doc_id, text: str, uploads=()) -> Event:
    """A comment, optionally with files, on the document's history; starts the commenter's task."""
    from .incoming import attach_files, blob_guard, discard_uploads
    from .indexing import queue_text_extraction

    now = ctx.clock.now()
    try:
        text = forms.text({"t": text}, "t", "Nội dung ý kiến", required=not uploads, max_len=4000)
        with write_transaction(), blob_guard(ctx) as new_blobs:
            doc = load_for_action(actor, doc_id)
            mine = _my_open_assignment(actor, doc.id)
            new_blobs += attach_files(ctx, doc, actor, uploads)
            event = Event.create(document=doc, user=actor, kind="attach" if uploads else "comment", text=text,
                                 created_at=now.replace(tzinfo=None))
            _start(mine, now)
            on_routing_event(ctx, doc.id, "in_progress")  # exchange: status 05
            audit.record(now, actor, "document.comment", "document", doc.id, {"files": len(uploads)})
    except BaseException:
        discard_uploads(uploads)
        raise
    if uploads:
        queue_text_extraction(ctx, doc)
    return event


def complete(ctx, actor: User, doc_id, note: str = "") -> Assignment:
    """Mark the actor's part done. A lead's completion closes the unit's lead part above it, and the top
    lead's completion closes the document."""
    now = ctx.clock.now()
    with write_transaction():
        doc = load_for_action(actor, doc_id)
        mine = _my_open_assignment(actor, doc.id, roles=("lead", "co", "info"))
        note = forms.text({"n": note}, "n", "Kết quả", required=False, max_len=4000)
        closed = _close_chain(mine, now.replace(tzinfo=None))
        Event.create(document=doc, user=actor, kind="done", text=note, created_at=now.replace(tzinfo=None))
        if closed:
            Document.update(status="done", closed_at=now.replace(tzinfo=None)).where(Document.id == doc.id).execute()
            on_routing_event(ctx, doc.id, "completed")  # exchange: status 06
        audit.record(now, actor, "routing.complete", "document", doc.id,
                     {"assignment": mine.id, "document_closed": closed})
    return mine


def _close_chain(assignment, now) -> bool:
    """Close an assignment; walk up while the closed one is a lead. True when the document is done."""
    current = assignment
    while True:
        Assignment.update(status="done", done_at=now).where(Assignment.id == current.id).execute()
        if current.role != "lead":
            return False
        parent = current.parent
        if parent is None or parent.role == "present":
            return True
        if parent.role != "lead":
            return False
        current = parent
