"""Personal inbox, document page data and the routing diagram."""
from __future__ import annotations

from dataclasses import dataclass, field

from peewee import JOIN, fn

from ..models.schema import Assignment, Attachment, Department, Document, Event, User
from .doctypes import ROLE_NAMES

COUNT_CAP = 1000  # counters above this show "999+": counting a leader's million closed items is wasted work
TABS = ("todo", "overdue", "info", "done")


def _mine(user):
    cond = Assignment.assignee == user.id
    if user.department_id and "unit_head" in user.role_set:
        cond |= (Assignment.department == user.department_id) & Assignment.assignee.is_null()
    return cond


def _tab_condition(user, tab, today):
    base = _mine(user)
    if tab == "todo":
        return base & (Assignment.role != "info") & (Assignment.status != "done")
    if tab == "overdue":
        return base & (Assignment.status != "done") & (Assignment.deadline < today) & (Assignment.role != "info")
    if tab == "info":
        return base & (Assignment.role == "info") & (Assignment.status != "done")
    return base & (Assignment.status == "done")


def counters(user, today) -> dict:
    out = {}
    for tab in TABS:
        sub = Assignment.select(Assignment.id).where(_tab_condition(user, tab, today)).limit(COUNT_CAP)
        out[tab] = Assignment.select(fn.COUNT(1)).from_(sub.alias("s")).scalar()
    return out


def inbox(user, tab: str, today, *, page: int = 1, per_page: int = 30):
    tab = tab if tab in TABS else "todo"
    order = (Assignment.done_at.desc(),) if tab == "done" else (Assignment.deadline.asc(nulls="LAST"),
                                                                 Assignment.id.desc())
    q = (Assignment.select(Assignment, Document)
         .join(Document)
         .where(_tab_condition(user, tab, today))
         .order_by(*order)
         .paginate(max(page, 1), per_page))
    return [_item(a, today) for a in q]


def _item(a, today):
    d = a.document
    overdue = a.status != "done" and a.deadline is not None and a.deadline < today
    return {"assignment_id": a.id, "document_id": d.id, "role": a.role, "role_name": ROLE_NAMES[a.role],
            "status": "overdue" if overdue else a.status, "deadline": a.deadline, "subject": d.subject,
            "number_notation": f"{d.number}/{d.notation}", "issuer": d.issuer_name,
            "arrival_number": d.arrival_number, "urgency": d.urgency, "instruction": a.instruction}


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
