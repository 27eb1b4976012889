"""Personal inbox, document page data and the routing diagram."""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import date

from peewee import JOIN, SQL, Select, fn

from ..models.schema import Assignment, Attachment, Department, Document, Event, User
from .doctypes import ROLE_NAMES

COUNT_CAP = 1000  # counters above this show "999+": counting a leader's million closed items is wasted work
TABS = ("todo", "overdue", "info", "done")


def _mine(user):
    cond = Assignment.assignee == user.id
    if user.department_id and "unit_head" in user.role_set:
        cond |= (Assignment.department == user.department_id) & Assignment.assignee.is_null()
    return cond


def _branches(user_id, department_id, unit_head) -> list:
    """Whose items an inbox shows: the person's, and for a unit head also the unit's not yet given to a person.
    Queried one branch at a time: an OR of both defeats the per-person and per-unit indexes (migration 10), and
    with them the early stop of counts and of the done tab's newest-first order."""
    out = [Assignment.assignee == user_id]
    if department_id and unit_head:
        out.append((Assignment.department == department_id) & Assignment.assignee.is_null())
    return out


def _who(user) -> tuple:
    return user.id, user.department_id, "unit_head" in user.role_set


# Every role but "info" is work to do; listed (not `!= "info"`) so the index on (assignee, role, deadline) is
# read as a few equality ranges, not scanned past a pile of unread for-information items.
WORK_ROLES = tuple(r for r in ROLE_NAMES if r != "info")


def _tab_filter(tab, today):
    if tab == "todo":
        return Assignment.role.in_(WORK_ROLES) & (Assignment.status != "done")
    if tab == "overdue":
        return Assignment.role.in_(WORK_ROLES) & (Assignment.status != "done") & (Assignment.deadline < today)
    if tab == "info":
        return (Assignment.role == "info") & (Assignment.status != "done")
    return Assignment.status == "done"


def _tab_condition(user, tab, today):
    return _mine(user) & _tab_filter(tab, today)


# The layout shows the counters on every page, so these statements run on every request. Building and
# compiling them with peewee costs several times more than SQLite takes to answer them from the partial
# indexes; the SQL text and parameters are a pure function of the arguments, so they are kept (per user, day,
# tab and page: a few thousand entries at most on a district server).
@functools.lru_cache(maxsize=4096)
def _counters_sql(user_id, department_id, unit_head, today) -> tuple[str, tuple]:
    columns = []
    for tab in TABS:
        for i, branch in enumerate(_branches(user_id, department_id, unit_head)):
            sub = Assignment.select(SQL("1")).where(branch & _tab_filter(tab, today)).limit(COUNT_CAP)
            columns.append(Select([sub.alias(f"s_{tab}_{i}")], [fn.COUNT(SQL("*"))]).alias(f"{tab}_{i}"))
    sql, params = Select(columns=columns).bind(Assignment._meta.database).sql()
    return sql, tuple(params)


def counters(user, today) -> dict:
    """Items per tab, each count stopping at COUNT_CAP; one statement of capped scalar subqueries."""
    sql, params = _counters_sql(*_who(user), today)
    row = Assignment._meta.database.execute_sql(sql, params).fetchone()
    per_tab = len(row) // len(TABS)
    return {tab: min(COUNT_CAP, sum(row[k * per_tab:(k + 1) * per_tab])) for k, tab in enumerate(TABS)}


_ITEM_COLUMNS = (Assignment.id, Assignment.document, Assignment.role, Assignment.status, Assignment.deadline,
                 Assignment.instruction, Assignment.done_at, Document.subject, Document.number, Document.notation,
                 Document.issuer_name, Document.arrival_number, Document.urgency)


@functools.lru_cache(maxsize=4096)
def _inbox_sql(user_id, department_id, unit_head, tab, today, page, per_page) -> tuple:
    order = ((Assignment.done_at.desc(), Assignment.id.desc()) if tab == "done"
             else (Assignment.deadline.asc(nulls="LAST"), Assignment.id.desc()))
    branches = _branches(user_id, department_id, unit_head)
    out = []
    for branch in branches:
        q = (Assignment.select(*_ITEM_COLUMNS).join(Document).where(branch & _tab_filter(tab, today))
             .order_by(*order))
        # one branch pages in SQL; several each give their first page * per_page rows, merged by inbox()
        q = q.paginate(page, per_page) if len(branches) == 1 else q.limit(page * per_page)
        sql, params = q.sql()
        out.append((sql, tuple(params)))
    return tuple(out)


def inbox(user, tab: str, today, *, page: int = 1, per_page: int = 30):
    tab = tab if tab in TABS else "todo"
    page = max(page, 1)
    statements = _inbox_sql(*_who(user), tab, today, page, per_page)
    db = Assignment._meta.database
    rows = [r for sql, params in statements for r in db.execute_sql(sql, params).fetchall()]
    if len(statements) > 1:
        if tab == "done":  # done_at is ISO text here: it sorts as it reads
            rows.sort(key=lambda r: (r[6] or "", r[0]), reverse=True)
        else:
            rows.sort(key=lambda r: (r[4] is None, r[4] or "", -r[0]))
        rows = rows[(page - 1) * per_page:page * per_page]
    return [_item(r, today) for r in rows]


def _item(r, today):
    """One inbox row from the raw statement above (dates come back as ISO text)."""
    a_id, doc_id, role, status, deadline, instruction, _, subject, number, notation, issuer, arrival, urgency = r
    deadline = date.fromisoformat(deadline) if deadline else None
    overdue = status != "done" and deadline is not None and deadline < today
    return {"assignment_id": a_id, "document_id": doc_id, "role": role, "role_name": ROLE_NAMES[role],
            "status": "overdue" if overdue else status, "deadline": deadline, "subject": subject,
            "number_notation": f"{number}/{notation}", "issuer": issuer,
            "arrival_number": arrival, "urgency": urgency, "instruction": instruction}


def clerk_queue(user, *, limit=30):
    """Documents registered but not yet presented (the clerk's to-do)."""
    return list(Document.select().where((Document.agency == user.agency_id) & (Document.status == "registered")
                                        & (Document.direction == "in"))
                .order_by(Document.id.desc()).limit(limit))


def state_of(a, today) -> str:
    if a.status == "done":
        return "done"
    if a.deadline is not None and a.deadline < today:
        return "overdue"
    return a.status


@dataclass
class Node:
    id: str
    label: str
    sub: str
    state: str
    children: list = field(default_factory=list)
    x: float = 0
    y: float = 0


def routing_tree(doc, today) -> Node:
    """The routing as a tree: the registration at the root, then each hand-over."""
    rows = list(Assignment.select(Assignment, User, Department)
                .join(User, JOIN.LEFT_OUTER, on=(Assignment.assignee == User.id))
                .switch(Assignment).join(Department, JOIN.LEFT_OUTER)
                .where(Assignment.document == doc.id).order_by(Assignment.id))
    root_state = "done" if rows or doc.status != "registered" else "in_progress"
    root = Node("doc", "Văn thư", f"Số đến {doc.arrival_number or ''}", root_state)
    nodes = {}
    for a in rows:
        who = a.assignee.full_name if a.assignee_id else ""
        if a.department_id:
            who = f"{a.department.name}" + (f" ({who})" if who else "")
        deadline = f" · hạn {a.deadline:%d/%m/%Y}" if a.deadline else ""
        nodes[a.id] = Node(f"a{a.id}", who, f"{ROLE_NAMES[a.role]}{deadline}", state_of(a, today))
    for a in rows:
        parent = nodes.get(a.parent_id) if a.parent_id else root
        parent.children.append(nodes[a.id])
    _layout(root)
    return root


def _layout(root, dx=230, dy=74):
    """Columns by depth, rows in depth-first order: readable for the shallow, narrow trees of routing."""
    row = [0]

    def visit(node, depth):
        node.x = depth * dx
        if not node.children:
            node.y = row[0] * dy
            row[0] += 1
            return
        for child in node.children:
            visit(child, depth + 1)
        node.y = (node.children[0].y + node.children[-1].y) / 2

    visit(root, 0)


def flatten(root):
    out, edges = [], []

    def walk(n):
        out.append(n)
        for c in n.children:
            edges.append((n, c))
            walk(c)

    walk(root)
    return out, edges


def document_page(doc, today):
    attachments = list(Attachment.select().where(Attachment.document == doc.id).order_by(Attachment.id))
    events = list(Event.select(Event, User).join(User).where(Event.document == doc.id).order_by(Event.id))
    tree = routing_tree(doc, today)
    nodes, edges = flatten(tree)
    instructions = list(Assignment.select(Assignment, User).join(User, on=(Assignment.assigner == User.id))
                        .where((Assignment.document == doc.id) & (Assignment.instruction != ""))
                        .order_by(Assignment.id))
    return {"attachments": attachments, "events": events, "nodes": nodes, "edges": edges,
            "instructions": instructions, "overdue": doc.status != "done" and doc.deadline is not None
            and doc.deadline < today}


def my_open_roles(user, doc_id) -> set[str]:
    return {a.role for a in Assignment.select(Assignment.role).where(
        (Assignment.document == doc_id) & _mine(user) & (Assignment.status != "done"))}
