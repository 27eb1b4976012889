"""Web pages of work management (issue 9): tasks (nhắc việc), dossiers, work calendar, staff records,
reports and notifications. Thin: parse the form, call one use case, render or redirect."""
from __future__ import annotations

from datetime import timedelta

import falcon

from ...api import work as api_work
from ...core import (
    accounts,
    agencies,
    calendar,
    dossiers,
    notifications,
    received_tasks,
    staff,
    tasks,
    tracking,
    work_reports,
)
from ...core.access import get_document
from ...core.doctypes import TYPE_NAMES
from ...errors import Invalid
from ...reports import format_value
from .. import cache
from ..forms import read_form
from ..middleware import check_form_csrf
from .base import Page

STATE_NAMES = {"open": "Đang thực hiện", "due_soon": "Sắp đến hạn", "overdue": "Quá hạn",
               "submitted": "Chờ duyệt", "done": "Hoàn thành", "done_late": "Hoàn thành quá hạn"}


class _Work(Page):
    def form(self, req):
        form, _uploads = read_form(req, self.ctx)
        return form

    def page(self, req, resp, template, **values):
        self.render(req, resp, template, state_names=STATE_NAMES, **values)


# ---- tasks ----------------------------------------------------------------------------------------------------
class TasksPage(_Work):
    def on_get(self, req, resp):
        user, today = req.context.user, self.ctx.clock.today()
        board = tracking.dashboard(user, today)  # local and received tasks alike
        items = list(tasks.visible_tasks(user).order_by(tasks.Task.deadline, tasks.Task.id).limit(300))
        received = list(received_tasks.visible(user).order_by(received_tasks.ReceivedTask.deadline).limit(300))
        self.page(req, resp, "work_tasks.html", board=board, items=items, state=lambda t: tasks.state(t, today),
                  can_assign=bool(user.role_set.intersection(tasks.ASSIGNING_ROLES)), received=received,
                  received_names=received_tasks.STATUS_NAMES)

    def on_post(self, req, resp):
        form = self.form(req)
        data = dict(form, targets=form.getlist("targets") if hasattr(form, "getlist") else form.get("targets"))
        created = tasks.create_tasks(self.ctx, req.context.user, data)
        self.redirect(f"/tasks/{created[0].id}" if len(created) == 1 else "/tasks")


class NewTaskPage(_Work):
    def on_get(self, req, resp):
        user = req.context.user
        accounts.require_role(user, *tasks.ASSIGNING_ROLES)
        doc = get_document(user, req.get_param("document_id")) if req.get_param("document_id") else None
        self.page(req, resp, "work_task_new.html", doc=doc, users=accounts.agency_users(user.agency_id),
                  departments=agencies.departments(user.agency_id),
                  agencies=[a for a in agencies_list() if a.id != user.agency_id])


def agencies_list():
    from ...models.schema import Agency

    return list(Agency.select().order_by(Agency.code))


class TaskPage(_Work):
    def on_get(self, req, resp, task_id):
        user, today = req.context.user, self.ctx.clock.today()
        t = tasks.get_task(user, task_id)
        self.page(req, resp, "work_task.html", t=t, state=tasks.state(t, today), events=tasks.events(t),
                  event_names=tasks.EVENT_NAMES, assigner=tasks.is_assigning_side(user, t),
                  assignee=tasks.is_assignee(user, t), limit=tasks.extension_limit(user))


class TaskActionPage(_Work):
    def on_post(self, req, resp, task_id, action):
        form, user, ctx = self.form(req), req.context.user, self.ctx
        handlers = {
            "urge": lambda: tasks.urge(ctx, user, task_id, form.get("text", "")),
            "extend": lambda: tasks.extend(ctx, user, task_id, form.get("deadline"), form.get("reason", "")),
            "answer": lambda: tasks.answer(ctx, user, task_id, form.get("text", "")),
            "approve": lambda: tasks.approve(ctx, user, task_id, form.get("note", "")),
            "return": lambda: tasks.return_task(ctx, user, task_id, form.get("reason", "")),
        }
        if action not in handlers:
            raise falcon.HTTPNotFound()
        handlers[action]()
        self.redirect(f"/tasks/{task_id}")


class ReceivedTaskPage(_Work):
    """A task given by an agency on another server (exchange/tasks.py): read it, answer it."""

    def on_get(self, req, resp, task_id):
        user = req.context.user
        t = received_tasks.get(user, task_id)
        self.page(req, resp, "work_received_task.html", t=t, events=received_tasks.events(t),
                  event_names=received_tasks.EVENT_NAMES, status_names=received_tasks.STATUS_NAMES,
                  state=tasks.state(t, self.ctx.clock.today()),  # the same states as a local task
                  can_answer=bool(user.role_set.intersection(received_tasks.ANSWERING_ROLES)))


class ReceivedTaskAnswerPage(_Work):
    def on_post(self, req, resp, task_id):
        form = self.form(req)
        received_tasks.answer(self.ctx, req.context.user, task_id, form.get("text", ""))
        self.redirect(f"/tasks/received/{task_id}")


# ---- reports ----------------------------------------------------------------------------------------------------
class ReportsPage(_Work):
    def on_get(self, req, resp):
        self.page(req, resp, "work_reports.html", reports=work_reports.REPORTS, groups=work_reports.GROUPS)


class ReportPage(_Work):
    def on_get(self, req, resp, name):
        if name not in work_reports.REPORTS:
            raise falcon.HTTPNotFound()
        report = work_reports.build(req.context.user, name, api_work.report_params(req), self.ctx.clock.today())
        fmt = req.get_param("format") or "html"
        if fmt == "html":
            self.page(req, resp, "work_report.html", report=report, name=name, fmt=format_value,
                      query=req.query_string)
        else:
            api_work.send_report(resp, report, fmt, name)


# ---- dossiers ---------------------------------------------------------------------------------------------------
class DossiersPage(_Work):
    def on_get(self, req, resp):
        user, today = req.context.user, self.ctx.clock.today()
        year = req.get_param_as_int("year", min_value=2000, max_value=2100) or today.year
        self.page(req, resp, "dossier_list.html", year=year, items=dossiers.dossier_list(user, year),
                  due=dossiers.due_dossiers(user.agency_id, today), status_names=dossiers.STATUS_NAMES,
                  retention=dossiers.retention_text, users=accounts.agency_users(user.agency_id),
                  departments=agencies.departments(user.agency_id), readable=lambda d: dossiers.can_read(user, d))

    def on_post(self, req, resp):
        d = dossiers.create_dossier(self.ctx, req.context.user, self.form(req))
        self.redirect(f"/dossiers?year={d.year}")


class DossierPage(_Work):
    def on_get(self, req, resp, dossier_id):
        user = req.context.user
        d = dossiers.get_dossier(user, dossier_id)
        self.page(req, resp, "dossier_detail.html", d=d, docs=dossiers.documents(d), type_names=TYPE_NAMES,
                  status_names=dossiers.STATUS_NAMES, retention=dossiers.retention_text(d),
                  readers=dossiers.readers(d) if not d.shared else [], users=accounts.agency_users(user.agency_id),
                  owner=d.owner_id == user.id or "admin" in user.role_set)


class DossierActionPage(_Work):
    def on_post(self, req, resp, dossier_id, action):
        form, user, ctx = self.form(req), req.context.user, self.ctx
        handlers = {
            "open": lambda: dossiers.open_dossier(ctx, user, dossier_id),
            "close": lambda: dossiers.close_dossier(ctx, user, dossier_id, form.get("end_date")),
            "submit": lambda: dossiers.submit_dossier(ctx, user, dossier_id),
            "add-document": lambda: dossiers.add_document(ctx, user, dossier_id, form.get("document_id")),
            "remove-document": lambda: dossiers.remove_document(ctx, user, dossier_id, form.get("document_id")),
            "add-reader": lambda: dossiers.add_reader(ctx, user, dossier_id, form.get("user_id")),
        }
        if action not in handlers:
            raise falcon.HTTPNotFound()
        handlers[action]()
        self.redirect(f"/dossiers/{dossier_id}")


class DossierExportPage(_Work):
    def on_get(self, req, resp, dossier_id):
        name, ctype, data = dossiers.export(self.ctx, req.context.user, dossier_id, req.get_param("format") or "pdf")
        resp.content_type, resp.data, resp.downloadable_as = ctype, data, name


# ---- calendar ---------------------------------------------------------------------------------------------------
class CalendarPage(_Work):
    def on_get(self, req, resp):
        user = req.context.user
        start = api_work.week_param(req, self.ctx.clock.today())
        scope = req.get_param("scope") or ""
        events = calendar.events_between(user, start, 7, scope or None)
        conflicts = {e.id: calendar.conflicts_of(e) for e in events}
        self.page(req, resp, "calendar_week.html", start=start, days=calendar.week_days(start, events),
                  conflicts=conflicts, scope=scope, scopes=calendar.SCOPES, rooms=calendar.rooms(user.agency_id),
                  users=accounts.agency_users(user.agency_id), departments=agencies.departments(user.agency_id),
                  prev=start - timedelta(days=7), next=start + timedelta(days=7))


class CalendarEventsPage(_Work):
    def on_post(self, req, resp):
        event, _conflicts = calendar.create_event(self.ctx, req.context.user, self.form(req))
        self.redirect(f"/calendar?week={calendar.week_start(event.start.date()).isoformat()}")


class CalendarCancelPage(_Work):
    def on_post(self, req, resp, event_id):
        self.form(req)
        event = calendar.cancel_event(self.ctx, req.context.user, event_id)
        self.redirect(f"/calendar?week={calendar.week_start(event.start.date()).isoformat()}")


class RoomsPage(_Work):
    def on_post(self, req, resp):
        form = self.form(req)
        calendar.create_room(self.ctx, req.context.user, form.get("name"), form.get("capacity") or 0)
        self.redirect("/calendar")


class PublishedPage(_Work):
    """Read-only: the agency's week as published, no forms."""

    def on_get(self, req, resp):
        start = api_work.week_param(req, self.ctx.clock.today())
        events = calendar.published_week(req.context.user.agency_id, start)
        self.page(req, resp, "calendar_published.html", start=start, days=calendar.week_days(start, events),
                  prev=start - timedelta(days=7), next=start + timedelta(days=7))


class FeedPage(_Work):
    def on_get(self, req, resp):
        user = req.context.user
        events = calendar.feed_events(user, req.get_param("scope") or "agency", self.ctx.clock.today())
        resp.content_type = "text/calendar; charset=utf-8"
        from ...core import calendar_ical  # icalendar + dateutil (~10 MB): loaded on first use
        resp.data = calendar_ical.feed(events, name=f"Lịch công tác {user.agency.name}", now=self.ctx.clock.now())
        resp.downloadable_as = "lich-cong-tac.ics"


class ImportPage(_Work):
    def on_post(self, req, resp):
        fields, data = _small_multipart(req, "ics", calendar.MAX_IMPORT_BYTES)
        scope = fields.get("scope") or "personal"
        if scope not in calendar.SCOPES:
            raise Invalid("Loại lịch không hợp lệ.", code="invalid:scope", field="scope")
        user = req.context.user
        from ...core import calendar_ical  # icalendar + dateutil (~10 MB): loaded on first use
        calendar_ical.import_ics(self.ctx, user, data, scope=scope,
                                 department=user.department if scope == "unit" else None)
        self.redirect("/calendar")


def _small_multipart(req, file_field: str, max_bytes: int) -> tuple[dict, bytes]:
    """A form with one small text file (a .ics): read in memory up to max_bytes, CSRF checked before the file
    is read. Not for documents: those go through web.forms (antivirus, blob store)."""
    if (req.content_type or "").split(";")[0].strip().lower() != "multipart/form-data":
        raise Invalid("Chọn tệp .ics để nhập.", code="missing:ics", field=file_field)
    fields, data = {}, None
    try:
        for part in req.get_media():
            if part.filename is None:
                fields[part.name] = part.get_text() or ""
            elif part.name == file_field:
                check_form_csrf(req, fields.get("csrf_token"))
                data = part.stream.read(max_bytes + 1)
    except falcon.MediaMalformedError as exc:
        raise falcon.HTTPBadRequest(title="Dữ liệu gửi lên không hợp lệ", description="malformed_form") from exc
    check_form_csrf(req, fields.get("csrf_token"))
    if not data:
        raise Invalid("Chọn tệp .ics để nhập.", code="missing:ics", field=file_field)
    return fields, data


# ---- staff ------------------------------------------------------------------------------------------------------
class StaffPage(_Work):
    def on_get(self, req, resp):
        self.page(req, resp, "staff_list.html", people=staff.staff_list(req.context.user))


class StaffRecordPage(_Work):
    def on_get(self, req, resp, user_id):
        user = req.context.user
        self.page(req, resp, "staff_record.html", rec=staff.record(user, user_id),
                  departments=agencies.departments(user.agency_id), labels=staff.PROFILE_TEXT,
                  kinds=staff.HISTORY_KINDS)


class StaffActionPage(_Work):
    def on_post(self, req, resp, user_id, action):
        form, user, ctx = self.form(req), req.context.user, self.ctx
        if action == "profile":
            staff.update_profile(ctx, user, user_id, {k: v for k, v in form.items() if k != "csrf_token"})
        elif action == "move":
            staff.move(ctx, user, user_id, department_id=form.get("department_id"), position=form.get("position"),
                       effective=form.get("effective"))
        elif action == "history":
            staff.add_history(ctx, user, user_id, form)
        else:
            raise falcon.HTTPNotFound()
        self.redirect(f"/staff/{user_id}")


# ---- notifications ----------------------------------------------------------------------------------------------
class NotificationsPage(_Work):
    def on_get(self, req, resp):
        user = req.context.user
        self.page(req, resp, "notifications_list.html", items=notifications.listing(user),
                  prefs=notifications.preferences(user.id), kinds=notifications.KINDS)


class NotificationsReadPage(_Work):
    def on_post(self, req, resp):
        form = self.form(req)
        ids = form.getlist("id") if hasattr(form, "getlist") and form.getlist("id") else None
        notifications.mark_read(self.ctx, req.context.user, ids)
        link = form.get("next") or "/notifications"
        self.redirect(link if link.startswith("/") and not link.startswith("//") else "/notifications")


class PreferencesPage(_Work):
    def on_post(self, req, resp):
        form = self.form(req)
        prefs = {k: {"in_app": f"{k}:in_app" in form, "email": f"{k}:email" in form} for k in notifications.KINDS}
        notifications.set_preferences(self.ctx, req.context.user, prefs)
        self.redirect("/notifications")


def _unread(user) -> int:
    """The nav's counter, on every page: kept per thread until the next database change (web/cache.py)."""
    if user is None:
        return 0
    return cache.memo(("unread", user.id), lambda: notifications.unread_count(user))


def add_routes(app, ctx, templates):
    """Pages and the JSON API of issue 9; the nav's notification counter reads unread_notifications(user)."""
    templates.globals["unread_notifications"] = _unread
    page = {"ctx": ctx, "templates": templates}
    routes = [
        ("/tasks", TasksPage), ("/tasks/new", NewTaskPage), ("/tasks/{task_id:int}", TaskPage),
        ("/tasks/{task_id:int}/{action}", TaskActionPage), ("/tasks/received/{task_id:int}", ReceivedTaskPage),
        ("/tasks/received/{task_id:int}/answer", ReceivedTaskAnswerPage),
        ("/work-reports", ReportsPage), ("/work-reports/{name}", ReportPage),
        ("/dossiers", DossiersPage), ("/dossiers/{dossier_id:int}", DossierPage),
        ("/dossiers/{dossier_id:int}/export", DossierExportPage),
        ("/dossiers/{dossier_id:int}/{action}", DossierActionPage),
        ("/calendar", CalendarPage), ("/calendar/events", CalendarEventsPage),
        ("/calendar/events/{event_id:int}/cancel", CalendarCancelPage), ("/calendar/rooms", RoomsPage),
        ("/calendar/published", PublishedPage), ("/calendar/feed.ics", FeedPage), ("/calendar/import", ImportPage),
        ("/staff", StaffPage), ("/staff/{user_id:int}", StaffRecordPage),
        ("/staff/{user_id:int}/{action}", StaffActionPage),
        ("/notifications", NotificationsPage), ("/notifications/read", NotificationsReadPage),
        ("/notifications/preferences", PreferencesPage),
    ]
    for path, resource in routes:
        app.add_route(path, resource(**page))
    api_work.add_routes(app, ctx)

