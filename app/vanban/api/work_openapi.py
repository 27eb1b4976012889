"""OpenAPI parts of the work-management API; api/openapi.py's spec() merges them (openapi_parts)."""
from __future__ import annotations

S = {"type": "string"}
I = {"type": "integer"}  # noqa: E741
B = {"type": "boolean"}
NS = {"type": ["string", "null"]}
NI = {"type": ["integer", "null"]}
DATE = {"type": ["string", "null"], "format": "date"}
OBJ = {"type": "object"}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _obj(props: dict, required=None, extra=False) -> dict:
    return {"type": "object", "properties": props, "required": list(required if required is not None else props),
            "additionalProperties": extra}


def _ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


def _arr(item):
    return {"type": "array", "items": item}


def _schemas() -> dict:
    return {
        "Task": _obj({"id": I, "source": {"enum": ["document", "instruction"]}, "document_id": NI, "title": S,
                      "instruction": S, "assigner_id": I, "target_kind": {"enum": ["user", "dept", "agency"]},
                      "target_user_id": NI, "target_dept_id": NI, "target_organ": NS, "target_name": S,
                      "original_deadline": DATE, "deadline": DATE,
                      "status": {"enum": ["open", "submitted", "done", "cancelled"]},
                      "state": {"enum": ["open", "due_soon", "overdue", "submitted", "done", "done_late"]},
                      "answer": S, "answered_by_id": NI, "answered_at": NS, "created_at": NS, "done_at": NS}),
        "ReceivedTask": _obj({"id": I, "from_organ": S, "from_name": S, "notice_id": S, "title": S,
                              "instruction": S, "assigner_name": S, "original_deadline": DATE, "deadline": DATE,
                              "status": {"enum": ["open", "submitted", "done"]},
                              "state": {"enum": ["open", "due_soon", "overdue", "submitted", "done", "done_late"]},
                              "answer": S, "answered_by_id": NI, "answered_at": NS, "received_at": NS,
                              "done_at": NS, "last_urged_at": NS}),
        "TaskEvent": _obj({"id": I, "kind": S, "user_id": NI, "text": S, "old_deadline": DATE,
                           "new_deadline": DATE, "created_at": NS}),
        "Dossier": _obj({"id": I, "year": I, "heading": S, "file_code": S, "title": S, "retention": S,
                         "retention_years": NI, "owner_id": I, "department_id": NI,
                         "status": {"enum": ["planned", "open", "closed", "submitted"]}, "shared": B,
                         "construction": B, "start_date": DATE, "end_date": DATE, "due_date": DATE,
                         "submitted_at": NS, "documents": _arr(_ref("Document"))},
                        required=["id", "year", "file_code", "title", "status", "retention"]),
        "CalendarEvent": _obj({"id": I, "uid": S, "scope": {"enum": ["agency", "unit", "personal"]}, "title": S,
                               "start": S, "end": S, "location": S, "room_id": NI, "chair": S, "department_id": NI,
                               "description": S, "cancelled": B, "participants": _arr(I),
                               "conflicts": _arr(_obj({"user_id": I, "user": S, "event_id": I, "title": S,
                                                       "start": S, "end": S}))}),
        "Notification": _obj({"id": I, "kind": S, "title": S, "link": S, "created_at": NS, "read": B,
                              "mail_state": S}),
        "StaffRecord": _obj({"user": _ref("User"), "profile": OBJ, "history": _arr(_obj({
            "id": I, "kind": {"enum": ["unit", "education", "work"]}, "department_id": NI, "unit_name": S,
            "position": S, "text": S, "from_date": DATE, "to_date": DATE}))}),
    }


def _paths(op, json_, q) -> dict:
    def path_int(name):
        return {"name": name, "in": "path", "required": True, "schema": I}

    def action(names):
        return {"name": "action", "in": "path", "required": True, "schema": {"enum": names}}

    def body(schema=OBJ):
        return {"application/json": {"schema": schema}}

    task_detail = json_(_obj({"task": _ref("Task"), "events": _arr(_ref("TaskEvent"))}))
    received_detail = json_(_obj({"task": _ref("ReceivedTask"), "events": _arr(_ref("TaskEvent"))}))
    board_lists = _obj({k: _arr(I) for k in ("overdue", "due_soon", "to_approve", "to_answer")})
    dossier = json_(_ref("Dossier"))
    record = json_(_ref("StaffRecord"))
    date_q = {"type": "string", "format": "date"}
    files = {"application/pdf": {}, XLSX: {}}
    return {
        "/api/v1/tasks": {
            "get": op("Task dashboard and list. counts and total cover tasks given here and tasks received from "
                      "agencies on other servers; lists hold ids of the first, received_lists of the second",
                      ok=json_(_obj({"counts": _obj({k: I for k in ("open", "due_soon", "overdue", "submitted",
                                                                    "done", "done_late")}),
                                     "total": I, "lists": board_lists, "received_lists": board_lists,
                                     "items": _arr(_ref("Task")), "received": _arr(_ref("ReceivedTask"))}))),
            "post": op("Create tasks from a document or an instruction (one per target)", "201",
                       json_(_obj({"tasks": _arr(_ref("Task"))})), body=body(_obj({
                           "source": {"enum": ["document", "instruction"]}, "document_id": I, "title": S,
                           "instruction": S, "deadline": date_q,
                           "targets": _arr({"type": "string", "pattern": "^(user|dept|agency):[0-9A-Za-z.]+$"})},
                           required=["deadline", "targets"])))},
        "/api/v1/tasks/{task_id}": {"get": op("A task and its history", ok=task_detail,
                                              params=[path_int("task_id")])},
        "/api/v1/tasks/{task_id}/actions/{action}": {"post": op(
            "urge | extend | answer | approve | return", ok=task_detail,
            body=body(_obj({"text": S, "deadline": date_q, "reason": S, "note": S}, required=[])),
            params=[path_int("task_id"), action(["urge", "extend", "answer", "approve", "return"])])},
        "/api/v1/tasks/received/{task_id}": {"get": op(
            "A task received from an agency on another server, with its history", ok=received_detail,
            params=[path_int("task_id")])},
        "/api/v1/tasks/received/{task_id}/actions/{action}": {"post": op(
            "answer: report the result; it goes back to the assigning agency over the exchange (status 06)",
            ok=received_detail, body=body(_obj({"text": S}, required=["text"])),
            params=[path_int("task_id"), action(["answer"])])},
        "/api/v1/work-reports/{name}": {"get": op("Tracking, handling and per-agency reports", ok={
            "description": "Rows, PDF or XLSX", "content": {"application/json": {"schema": OBJ}, **files}}, params=[
            {"name": "name", "in": "path", "required": True, "schema": {"enum": [
                "tasks", "incoming-handling", "outgoing-handling", "agency-figures", "dossier-list"]}},
            q("from", date_q), q("to", date_q), q("group", {"enum": ["unit", "person", "period"]}), q("year", I),
            q("format", {"enum": ["json", "pdf", "xlsx"]})])},
        "/api/v1/dossiers": {
            "get": op("The dossier list (danh mục hồ sơ)", ok=json_(_obj({"dossiers": _arr(_ref("Dossier")),
                                                                          "due": _arr(I)})), params=[q("year", I)]),
            "post": op("Add a dossier to the year's list", "201", dossier, body=body(_obj({
                "year": I, "heading": S, "file_code": S, "title": S, "retention": {"type": ["string", "integer"]},
                "owner_id": I, "department_id": I, "construction": B, "shared": B, "description": S},
                required=["file_code", "title"])))},
        "/api/v1/dossiers/{dossier_id}": {"get": op("A dossier with its documents (oldest first)", ok=dossier,
                                                    params=[path_int("dossier_id")])},
        "/api/v1/dossiers/{dossier_id}/actions/{action}": {"post": op(
            "open | close | submit | add-document | remove-document | add-reader", ok=dossier,
            body=body(_obj({"document_id": I, "user_id": I, "end_date": date_q}, required=[])),
            params=[path_int("dossier_id"), action(["open", "close", "submit", "add-document", "remove-document",
                                                    "add-reader"])])},
        "/api/v1/dossiers/{dossier_id}/export": {"get": op("PDF, XML, XLSX catalogue or archive package (ZIP)", ok={
            "description": "The file", "content": {**files, "application/xml": {}, "application/zip": {}}},
            params=[path_int("dossier_id"), q("format", {"enum": ["pdf", "xml", "xlsx", "sip"]})])},
        "/api/v1/calendar": {"get": op("A week of the user's calendars", ok=json_(_obj({
            "week": S, "events": _arr(_ref("CalendarEvent"))})), params=[
            q("week", date_q), q("scope", {"enum": ["agency", "unit", "personal"]})])},
        "/api/v1/calendar/events": {"post": op("Create an event (a room booked twice is refused)", "201",
                                               json_(_ref("CalendarEvent")), body=body(_obj({
                                                   "scope": {"enum": ["agency", "unit", "personal"]}, "title": S,
                                                   "start": S, "end": S, "location": S, "room_id": I, "chair": S,
                                                   "department_id": I, "description": S,
                                                   "participants": _arr(I)}, required=["title", "start", "end"])))},
        "/api/v1/calendar/events/{event_id}/cancel": {"post": op("Cancel an event", ok=json_(_ref("CalendarEvent")),
                                                                 params=[path_int("event_id")])},
        "/api/v1/calendar/rooms": {
            "get": op("Meeting rooms", ok=json_(_obj({"rooms": _arr(_obj({"id": I, "name": S, "capacity": I}))}))),
            "post": op("Add a room", "201", json_(_obj({"id": I, "name": S, "capacity": I})),
                       body=body(_obj({"name": S, "capacity": I}, required=["name"])))},
        "/api/v1/calendar/published": {"get": op("The agency's published week (read-only)", ok=json_(_obj({
            "week": S, "events": _arr(_ref("CalendarEvent"))})), params=[q("week", date_q)])},
        "/api/v1/calendar/feed.ics": {"get": op("iCalendar feed (RFC 5545)", ok={
            "description": "text/calendar", "content": {"text/calendar": {}}},
            params=[q("scope", {"enum": ["agency", "mine"]})])},
        "/api/v1/calendar/import": {"post": op("Import a .ics file (all or nothing)", ok=json_(_obj({
            "created": I, "skipped": I})), body={"text/calendar": {"schema": S}},
            params=[q("scope", {"enum": ["agency", "unit", "personal"]})])},
        "/api/v1/staff": {"get": op("Staff of the agency (admins)", ok=json_(_obj({"staff": _arr(_ref("User"))})))},
        "/api/v1/staff/{user_id}": {
            "get": op("A staff record", ok=record, params=[path_int("user_id")]),
            "patch": op("Update the profile", ok=record, body=body(), params=[path_int("user_id")])},
        "/api/v1/staff/{user_id}/{action}": {"post": op(
            "move (to another unit, history kept) | history (education or work line)", ok=record,
            body=body(_obj({"department_id": I, "position": S, "effective": date_q, "kind": S, "text": S,
                            "from_date": date_q, "to_date": date_q, "unit_name": S}, required=[])),
            params=[path_int("user_id"), action(["move", "history"])])},
        "/api/v1/notifications": {"get": op("Notifications and the unread count", ok=json_(_obj({
            "unread": I, "items": _arr(_ref("Notification"))})), params=[q("unread", B)])},
        "/api/v1/notifications/read": {"post": op("Mark read (some or all)", ok=json_(_obj({
            "marked": I, "unread": I})), body=body(_obj({"ids": _arr(I)}, required=[])))},
        "/api/v1/notifications/preferences": {
            "get": op("Per-kind preferences", ok=json_(_obj({"preferences": OBJ}))),
            "put": op("Set preferences", ok=json_(_obj({"preferences": OBJ})),
                      body=body(_obj({"preferences": OBJ})))},
    }


def openapi_parts(op, json_, q) -> tuple[dict, dict]:
    """(component schemas, paths) for api/openapi.py's spec(); it passes its own _op, _json and _q helpers."""
    return _schemas(), _paths(op, json_, q)
