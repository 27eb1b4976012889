"""JSON API of work management (issue 9): tasks, dossiers, calendar, staff records, reports, notifications.
Each responder parses, calls one use case and answers JSON (or a file); errors map in web/errors.py."""
from __future__ import annotations

import falcon

from ..core import (
    calendar,
    dossiers,
    notifications,
    received_tasks,
    staff,
    tasks,
    tracking,
    work_reports,
)
from ..core.forms import parse_date
from ..errors import Invalid
from ..reports import render_pdf, render_xlsx
from ..web.forms import read_form
from . import serialize
from .work_openapi import openapi_parts  # noqa: F401  (re-exported for api/openapi.py)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _d(v):
    return v.isoformat() if v else None


def task_json(t, today) -> dict:
    return {"id": t.id, "source": t.source, "document_id": t.document_id, "title": t.title,
            "instruction": t.instruction, "assigner_id": t.assigner_id, "target_kind": t.target_kind,
            "target_user_id": t.target_user_id, "target_dept_id": t.target_dept_id, "target_organ": t.target_organ,
            "target_name": t.target_name, "original_deadline": _d(t.original_deadline), "deadline": _d(t.deadline),
            "status": t.status, "state": tasks.state(t, today), "answer": t.answer,
            "answered_by_id": t.answered_by_id, "answered_at": _d(t.answered_at), "created_at": _d(t.created_at),
            "done_at": _d(t.done_at)}


def received_json(t, today) -> dict:
    """A task another server's agency gave this one (core/received_tasks.py), from the assignee's side."""
    return {"id": t.id, "from_organ": t.from_organ, "from_name": t.from_name, "notice_id": t.document_id,
            "title": t.title, "instruction": t.instruction, "assigner_name": t.assigner_name,
            "original_deadline": _d(t.original_deadline), "deadline": _d(t.deadline), "status": t.status,
            "state": tasks.state(t, today), "answer": t.answer, "answered_by_id": t.answered_by_id,
            "answered_at": _d(t.answered_at), "received_at": _d(t.received_at), "done_at": _d(t.done_at),
            "last_urged_at": _d(t.last_urged_at)}


def event_json(e) -> dict:
    return {"id": e.id, "kind": e.kind, "user_id": e.user_id, "text": e.text, "old_deadline": _d(e.old_deadline),
            "new_deadline": _d(e.new_deadline), "created_at": _d(e.created_at)}


def dossier_json(d, docs=None) -> dict:
    out = {"id": d.id, "year": d.year, "heading": d.heading, "file_code": d.file_code, "title": d.title,
           "retention": dossiers.retention_text(d), "retention_years": d.retention_years, "owner_id": d.owner_id,
           "department_id": d.department_id, "status": d.status, "shared": d.shared, "construction": d.construction,
           "start_date": _d(d.start_date), "end_date": _d(d.end_date), "due_date": _d(d.due_date),
           "submitted_at": _d(d.submitted_at)}
    if docs is not None:
        out["documents"] = [serialize.document(doc) for doc in docs]
    return out


def event_json_cal(e, conflicts=None) -> dict:
    return {"id": e.id, "uid": e.uid, "scope": e.scope, "title": e.title, "start": _d(e.start), "end": _d(e.end),
            "location": e.location, "room_id": e.room_id, "chair": e.chair, "department_id": e.department_id,
            "description": e.description, "cancelled": e.cancelled,
            "participants": [p.id for p in calendar.participants(e)],
            "conflicts": [{**c, "start": _d(c["start"]), "end": _d(c["end"])}
                          for c in (conflicts if conflicts is not None else calendar.conflicts_of(e))]}


def notification_json(n) -> dict:
    return {"id": n.id, "kind": n.kind, "title": n.title, "link": n.link, "created_at": _d(n.created_at),
            "read": n.read_at is not None, "mail_state": n.mail_state}


class _Api:
    def __init__(self, ctx):
        self.ctx = ctx

    def body(self, req):
        form, _uploads = read_form(req, self.ctx)
        return form

    @property
    def today(self):
        return self.ctx.clock.today()


# ---- tasks ----------------------------------------------------------------------------------------------------
class Tasks(_Api):
    def on_get(self, req, resp):
        user, today = req.context.user, self.today
        board = tracking.dashboard(user, today)  # counts and lists over local and received tasks alike
        items = list(tasks.visible_tasks(user).order_by(tasks.Task.deadline, tasks.Task.id).limit(500))
        received = list(received_tasks.visible(user).order_by(received_tasks.ReceivedTask.deadline,
                                                              received_tasks.ReceivedTask.id).limit(500))
        keys = ("overdue", "due_soon", "to_approve", "to_answer")
        resp.media = {"counts": board["counts"], "total": board["total"],
                      "lists": {k: [t.id for t in board[k] if t.kind == "task"] for k in keys},
                      "received_lists": {k: [t.id for t in board[k] if t.kind == "received"] for k in keys},
                      "items": [task_json(t, today) for t in items],
                      "received": [received_json(t, today) for t in received]}

    def on_post(self, req, resp):
        created = tasks.create_tasks(self.ctx, req.context.user, self.body(req))
        resp.status = falcon.HTTP_201
        resp.media = {"tasks": [task_json(t, self.today) for t in created]}


class TaskItem(_Api):
    def on_get(self, req, resp, task_id):
        t = tasks.get_task(req.context.user, task_id)
        resp.media = {"task": task_json(t, self.today), "events": [event_json(e) for e in tasks.events(t)]}


class TaskAction(_Api):
    def on_post(self, req, resp, task_id, action):
        user, form, ctx = req.context.user, self.body(req), self.ctx
        if action == "urge":
            tasks.urge(ctx, user, task_id, form.get("text", ""))
        elif action == "extend":
            tasks.extend(ctx, user, task_id, form.get("deadline"), form.get("reason", ""))
        elif action == "answer":
            tasks.answer(ctx, user, task_id, form.get("text", ""))
        elif action == "approve":
            tasks.approve(ctx, user, task_id, form.get("note", ""))
        elif action == "return":
            tasks.return_task(ctx, user, task_id, form.get("reason", ""))
        else:
            raise falcon.HTTPNotFound(title="Không có thao tác này", description="unknown_action")
        t = tasks.get_task(user, task_id)
        resp.media = {"task": task_json(t, self.today), "events": [event_json(e) for e in tasks.events(t)]}


class ReceivedTaskItem(_Api):
    def on_get(self, req, resp, task_id):
        t = received_tasks.get(req.context.user, task_id)
        resp.media = {"task": received_json(t, self.today),
                      "events": [event_json(e) for e in received_tasks.events(t)]}


class ReceivedTaskAction(_Api):
    """The assignee's one action: answer (báo cáo kết quả), sent back over the exchange as status 06."""

    def on_post(self, req, resp, task_id, action):
        user, form = req.context.user, self.body(req)
        if action != "answer":
            raise falcon.HTTPNotFound(title="Không có thao tác này", description="unknown_action")
        t = received_tasks.answer(self.ctx, user, task_id, form.get("text", ""))
        resp.media = {"task": received_json(t, self.today),
                      "events": [event_json(e) for e in received_tasks.events(t)]}


# ---- reports ----------------------------------------------------------------------------------------------------
def report_params(req) -> dict:
    raw = {"from": req.get_param("from"), "to": req.get_param("to")}
    return {"from": parse_date(raw, "from", "Từ ngày", required=False),
            "to": parse_date(raw, "to", "Đến ngày", required=False),
            "group": req.get_param("group"), "year": req.get_param_as_int("year", min_value=2000, max_value=2100)}


def send_report(resp, report, fmt, stem):
    if fmt == "pdf":
        resp.content_type, resp.data = "application/pdf", render_pdf(report)
    elif fmt == "xlsx":
        resp.content_type, resp.data = XLSX, render_xlsx(report)
    else:
        raise Invalid("format: json, pdf hoặc xlsx.", code="invalid:format", field="format")
    resp.downloadable_as = f"{stem}.{fmt}"


class WorkReport(_Api):
    def on_get(self, req, resp, name):
        if name not in work_reports.REPORTS:
            raise falcon.HTTPNotFound(title="Không có báo cáo này", description="unknown_report")
        report = work_reports.build(req.context.user, name, report_params(req), self.today)
        fmt = req.get_param("format") or "json"
        if fmt == "json":
            resp.media = {"title": report.title, "subtitles": report.subtitles,
                          "columns": [c.key for c in report.columns],
                          "rows": [{k: _d(v) if hasattr(v, "isoformat") else v for k, v in r.items()}
                                   for r in report.rows]}
        else:
            send_report(resp, report, fmt, name)


# ---- dossiers ---------------------------------------------------------------------------------------------------
class Dossiers(_Api):
    def on_get(self, req, resp):
        year = req.get_param_as_int("year", min_value=2000, max_value=2100)
        resp.media = {"dossiers": [dossier_json(d) for d in dossiers.dossier_list(req.context.user, year)],
                      "due": [d.id for d in dossiers.due_dossiers(req.context.user.agency_id, self.today)]}

    def on_post(self, req, resp):
        d = dossiers.create_dossier(self.ctx, req.context.user, self.body(req))
        resp.status = falcon.HTTP_201
        resp.media = dossier_json(d, [])


class DossierItem(_Api):
    def on_get(self, req, resp, dossier_id):
        d = dossiers.get_dossier(req.context.user, dossier_id)
        resp.media = dossier_json(d, dossiers.documents(d))


class DossierAction(_Api):
    def on_post(self, req, resp, dossier_id, action):
        user, form, ctx = req.context.user, self.body(req), self.ctx
        if action == "open":
            dossiers.open_dossier(ctx, user, dossier_id)
        elif action == "close":
            dossiers.close_dossier(ctx, user, dossier_id, form.get("end_date"))
        elif action == "submit":
            dossiers.submit_dossier(ctx, user, dossier_id)
        elif action == "add-document":
            dossiers.add_document(ctx, user, dossier_id, form.get("document_id"))
        elif action == "remove-document":
            dossiers.remove_document(ctx, user, dossier_id, form.get("document_id"))
        elif action == "add-reader":
            dossiers.add_reader(ctx, user, dossier_id, form.get("user_id"))
        else:
            raise falcon.HTTPNotFound(title="Không có thao tác này", description="unknown_action")
        d = dossiers.get_dossier(user, dossier_id)
        resp.media = dossier_json(d, dossiers.documents(d))


class DossierExport(_Api):
    def on_get(self, req, resp, dossier_id):
        name, ctype, data = dossiers.export(self.ctx, req.context.user, dossier_id, req.get_param("format") or "pdf")
        resp.content_type, resp.data, resp.downloadable_as = ctype, data, name


# ---- calendar ---------------------------------------------------------------------------------------------------
def week_param(req, today):
    raw = {"week": req.get_param("week")}
    day = parse_date(raw, "week", "Tuần", required=False) or today
    return calendar.week_start(day)


class Calendar(_Api):
    def on_get(self, req, resp):
        start = week_param(req, self.today)
        scope = req.get_param("scope")
        events = calendar.events_between(req.context.user, start, 7, scope)
        resp.media = {"week": start.isoformat(), "events": [event_json_cal(e) for e in events]}


class CalendarEvents(_Api):
    def on_post(self, req, resp):
        event, conflicts = calendar.create_event(self.ctx, req.context.user, self.body(req))
        resp.status = falcon.HTTP_201
        resp.media = event_json_cal(event, conflicts)


class CalendarEventCancel(_Api):
    def on_post(self, req, resp, event_id):
        self.body(req)
        resp.media = event_json_cal(calendar.cancel_event(self.ctx, req.context.user, event_id))


class Rooms(_Api):
    def on_get(self, req, resp):
        resp.media = {"rooms": [{"id": r.id, "name": r.name, "capacity": r.capacity}
                                for r in calendar.rooms(req.context.user.agency_id)]}

    def on_post(self, req, resp):
        form = self.body(req)
        r = calendar.create_room(self.ctx, req.context.user, form.get("name"), form.get("capacity") or 0)
        resp.status = falcon.HTTP_201
        resp.media = {"id": r.id, "name": r.name, "capacity": r.capacity}


class Published(_Api):
    def on_get(self, req, resp):
        start = week_param(req, self.today)
        events = calendar.published_week(req.context.user.agency_id, start)
        resp.media = {"week": start.isoformat(), "events": [event_json_cal(e, []) for e in events]}


class Feed(_Api):
    """GET …/feed.ics?scope=agency (the published schedule) or mine (everything the user sees)."""

    def on_get(self, req, resp):
        user = req.context.user
        events = calendar.feed_events(user, req.get_param("scope") or "agency", self.today)
        resp.content_type = "text/calendar; charset=utf-8"
        from ..core import calendar_ical  # icalendar + dateutil (~10 MB): loaded on first use
        resp.data = calendar_ical.feed(events, name=f"Lịch công tác {user.agency.name}", now=self.ctx.clock.now())


class Import(_Api):
    def on_post(self, req, resp):
        ctype = (req.content_type or "").split(";")[0].strip().lower()
        if ctype != "text/calendar":
            raise Invalid("Gửi tệp lịch với Content-Type: text/calendar.", code="invalid:content_type")
        data = req.bounded_stream.read(calendar.MAX_IMPORT_BYTES + 1)
        scope = req.get_param("scope") or "personal"
        if scope not in calendar.SCOPES:
            raise Invalid("scope: agency, unit hoặc personal.", code="invalid:scope", field="scope")
        dept = req.context.user.department if scope == "unit" else None
        from ..core import calendar_ical  # icalendar + dateutil (~10 MB): loaded on first use
        resp.media = calendar_ical.import_ics(self.ctx, req.context.user, data, scope=scope, department=dept)


# ---- staff ------------------------------------------------------------------------------------------------------
def staff_json(rec) -> dict:
    u, p = rec["user"], rec["profile"]
    profile = {k: getattr(p, k) for k in staff.PROFILE_TEXT} if p else {}
    if p:
        profile.update(birth_date=_d(p.birth_date), hired_on=_d(p.hired_on))
    return {"user": serialize.user(u), "profile": profile,
            "history": [{"id": h.id, "kind": h.kind, "department_id": h.department_id, "unit_name": h.unit_name,
                         "position": h.position, "text": h.text, "from_date": _d(h.from_date),
                         "to_date": _d(h.to_date)} for h in rec["history"]]}


class Staff(_Api):
    def on_get(self, req, resp):
        resp.media = {"staff": [serialize.user(u) for u in staff.staff_list(req.context.user)]}


class StaffItem(_Api):
    def on_get(self, req, resp, user_id):
        resp.media = staff_json(staff.record(req.context.user, user_id))

    def on_patch(self, req, resp, user_id):
        staff.update_profile(self.ctx, req.context.user, user_id, self.body(req))
        resp.media = staff_json(staff.record(req.context.user, user_id))


class StaffAction(_Api):
    def on_post(self, req, resp, user_id, action):
        user, form = req.context.user, self.body(req)
        if action == "move":
            staff.move(self.ctx, user, user_id, department_id=form.get("department_id"),
                       position=form.get("position"), effective=form.get("effective"))
        elif action == "history":
            staff.add_history(self.ctx, user, user_id, form)
        else:
            raise falcon.HTTPNotFound(title="Không có thao tác này", description="unknown_action")
        resp.media = staff_json(staff.record(user, user_id))


# ---- notifications ----------------------------------------------------------------------------------------------
class Notifications(_Api):
    def on_get(self, req, resp):
        user = req.context.user
        items = notifications.listing(user, unread_only=req.get_param_as_bool("unread") or False)
        resp.media = {"unread": notifications.unread_count(user), "items": [notification_json(n) for n in items]}


class NotificationsRead(_Api):
    def on_post(self, req, resp):
        form = self.body(req)
        ids = form.get("ids")
        if ids is not None and not isinstance(ids, list):
            raise Invalid("ids: danh sách mã thông báo.", code="invalid:ids", field="ids")
        changed = notifications.mark_read(self.ctx, req.context.user, ids)
        resp.media = {"marked": changed, "unread": notifications.unread_count(req.context.user)}


class Preferences(_Api):
    def on_get(self, req, resp):
        resp.media = {"preferences": notifications.preferences(req.context.user.id)}

    def on_put(self, req, resp):
        form = self.body(req)
        prefs = form.get("preferences")
        if not isinstance(prefs, dict):
            raise Invalid("preferences: {loại: {in_app, email}}.", code="invalid:preferences", field="preferences")
        resp.media = {"preferences": notifications.set_preferences(self.ctx, req.context.user, prefs)}


def add_routes(app, ctx):
    v1 = "/api/v1"
    routes = [
        ("tasks", Tasks), ("tasks/{task_id:int}", TaskItem), ("tasks/{task_id:int}/actions/{action}", TaskAction),
        ("tasks/received/{task_id:int}", ReceivedTaskItem),
        ("tasks/received/{task_id:int}/actions/{action}", ReceivedTaskAction),
        ("work-reports/{name}", WorkReport),
        ("dossiers", Dossiers), ("dossiers/{dossier_id:int}", DossierItem),
        ("dossiers/{dossier_id:int}/actions/{action}", DossierAction),
        ("dossiers/{dossier_id:int}/export", DossierExport),
        ("calendar", Calendar), ("calendar/events", CalendarEvents),
        ("calendar/events/{event_id:int}/cancel", CalendarEventCancel), ("calendar/rooms", Rooms),
        ("calendar/published", Published), ("calendar/feed.ics", Feed), ("calendar/import", Import),
        ("staff", Staff), ("staff/{user_id:int}", StaffItem), ("staff/{user_id:int}/{action}", StaffAction),
        ("notifications", Notifications), ("notifications/read", NotificationsRead),
        ("notifications/preferences", Preferences),
    ]
    for path, resource in routes:
        app.add_route(f"{v1}/{path}", resource(ctx))
