"""One view of every task someone tracks (issue 9, phân hệ nhắc việc), whichever server gave it.

A task lives in one of two tables: ``task`` (given on this server, core/tasks.py) or ``received_task`` (given
by an agency on another server and received over the exchange, core/received_tasks.py). For its assignee a
received task is work like any other: it must show on the dashboards (overdue, due soon, to answer), count in
the tracking report used at periodic meetings, and trigger the due-soon / overdue notifications. Everything
that reads tasks for those purposes goes through :func:`tracked` (one user's view) or :func:`due_by` (the
periodic scan, all agencies), so a new place that lists tasks cannot forget one of the two tables.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from ..models import write_transaction
from ..models.schema import User
from ..models.work import ReceivedTask, Task
from . import received_tasks, tasks
from .notifications import notify

KINDS = ("task", "received")


@dataclass(frozen=True)
class Tracked:
    """A task as dashboards, reports and scans see it. ``row`` is the Task or ReceivedTask behind it."""

    kind: str  # task | received
    row: Task | ReceivedTask

    @property
    def id(self) -> int:
        return self.row.id

    @property
    def title(self) -> str:
        return self.row.title

    @property
    def deadline(self) -> date:
        return self.row.deadline

    @property
    def original_deadline(self) -> date:
        return self.row.original_deadline

    @property
    def status(self) -> str:
        return self.row.status

    @property
    def done_at(self):
        return self.row.done_at

    @property
    def created_at(self) -> datetime:
        """When the work was given to us: created here, or when the notice arrived."""
        return self.row.created_at if self.kind == "task" else self.row.received_at

    @property
    def link(self) -> str:
        return f"/tasks/{self.id}" if self.kind == "task" else f"/tasks/received/{self.id}"

    @property
    def target_name(self) -> str:
        """Who must do it. A received task is given to the agency as a whole (its leaders and clerks answer)."""
        return self.row.target_name if self.kind == "task" else self.row.agency.name

    @property
    def given_by(self) -> str:
        if self.kind == "task":
            return self.row.assigner.full_name
        return self.row.from_name or self.row.from_organ

    def state(self, today: date) -> str:
        return tasks.state(self.row, today)

    def group(self, by: str) -> str:
        """The tracking report's row: unit, person or month (of the deadline)."""
        if by == "period":
            return f"{self.deadline:%m/%Y}"
        t = self.row
        if self.kind == "received":
            return t.agency.name  # as a task given to an agency on this server: the agency is the assignee
        if t.target_kind == "user":
            if by == "person":
                return t.target_user.full_name
            dept = t.target_user.department
            return dept.name if dept else "(không thuộc đơn vị)"
        return t.target_name

    def is_assignee(self, user: User) -> bool:
        if self.kind == "task":
            return tasks.is_assignee(user, self.row)
        return user.agency_id == self.row.agency_id and bool(
            user.role_set.intersection(received_tasks.ANSWERING_ROLES))

    def is_assigning_side(self, user: User) -> bool:
        # The assigning side of a received task is on the other server: nobody here approves it.
        return self.kind == "task" and tasks.is_assigning_side(user, self.row)

    def assignee_user_ids(self) -> list[int]:
        if self.kind == "task":
            return tasks.assignee_user_ids(self.row)
        return received_tasks.answering_user_ids(self.row.agency_id)

    def assigner_user_ids(self) -> list[int]:
        return [self.row.assigner_id] if self.kind == "task" else []


def tracked(user: User, *, given_from: datetime | None = None, given_before: datetime | None = None
            ) -> list[Tracked]:
    """Every task the user may follow, local and received, cancelled ones left out; optionally only those given
    (created, or received) in [given_from, given_before). Ordered by deadline."""
    local = tasks.visible_tasks(user).where(Task.status != "cancelled")
    received = received_tasks.visible(user)
    if given_from is not None:
        local = local.where(Task.created_at >= given_from)
        received = received.where(ReceivedTask.received_at >= given_from)
    if given_before is not None:
        local = local.where(Task.created_at < given_before)
        received = received.where(ReceivedTask.received_at < given_before)
    items = [Tracked("task", t) for t in local] + [Tracked("received", r) for r in received]
    items.sort(key=lambda i: (i.deadline, KINDS.index(i.kind), i.id))
    return items


def dashboard(user: User, today: date) -> dict:
    """What the periodic meeting looks at: counts per state and the lists that need action (Tracked items)."""
    items = tracked(user)
    counts = {k: 0 for k in ("open", "due_soon", "overdue", "submitted", "done", "done_late")}
    lists = {"overdue": [], "due_soon": [], "to_approve": [], "to_answer": []}
    for t in items:
        s = t.state(today)
        counts[s] += 1
        if s in ("overdue", "due_soon"):
            lists[s].append(t)
        if s == "submitted" and t.is_assigning_side(user) and t.row.answered_by_id != user.id:
            lists["to_approve"].append(t)
        if t.status == "open" and t.is_assignee(user):
            lists["to_answer"].append(t)
    return {"counts": counts, "total": len(items), **lists}


def due_by(day: date) -> list[Tracked]:
    """Open tasks of every agency on this server, local and received, with a deadline on or before ``day``."""
    local = Task.select().where((Task.status == "open") & (Task.deadline <= day))
    received = ReceivedTask.select().where((ReceivedTask.status == "open") & (ReceivedTask.deadline <= day))
    return [Tracked("task", t) for t in local] + [Tracked("received", r) for r in received]


def scan_deadlines(ctx) -> dict:
    """Periodic: tell assignees of tasks due within DUE_SOON_DAYS and, for overdue ones, the assigner too (when
    on this server: a received task's assigner is told by its own server), once per task and deadline."""
    today = ctx.clock.today()
    local = ctx.clock.local()
    sent = {"due_soon": 0, "overdue": 0}
    with write_transaction():
        for t in due_by(today + timedelta(days=tasks.DUE_SOON_DAYS)):
            kind = "overdue" if t.deadline < today else "due_soon"
            people = set(t.assignee_user_ids()) | (set(t.assigner_user_ids()) if kind == "overdue" else set())
            title = (f"Quá hạn từ {t.deadline:%d/%m/%Y}: {t.title}" if kind == "overdue"
                     else f"Sắp đến hạn {t.deadline:%d/%m/%Y}: {t.title}")
            # Local keys are kept as before ("overdue:12:…"), so a scan after an upgrade repeats nothing.
            ref = t.id if t.kind == "task" else f"r{t.id}"
            for uid in sorted(people):
                if notify(local, uid, kind, title, t.link, f"{kind}:{ref}:{t.deadline.isoformat()}:{uid}"):
                    sent[kind] += 1
    return sent
