"""Work calendar (lịch công tác): the agency's weekly schedule, unit and personal schedules, meetings with
participants and rooms. A room is never booked twice for overlapping times (refused); a person in two
overlapping meetings is shown as a conflict, not refused (leaders do send a deputy). Published as a read-only
week page and as an iCalendar feed (RFC 5545, written with the `icalendar` library); .ics files can be
imported, all or nothing."""
from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta

from ..clock import VN
from ..errors import Conflict, Forbidden, Invalid, InvalidTransition, NotFound
from ..models import write_transaction
from ..models.schema import Department, User
from ..models.work import CalendarEvent, EventParticipant, Room
from . import audit, forms
from .accounts import require_role
from .notifications import notify

SCOPES = {"agency": "Lịch cơ quan", "unit": "Lịch đơn vị", "personal": "Lịch cá nhân"}
MAX_EVENT_HOURS = 24 * 14  # a conference of two weeks at most; a typo of a year is caught
MAX_IMPORT_BYTES = 2 * 1024 * 1024
MAX_IMPORT_EVENTS = 2000
WEEKDAYS = ["Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ Nhật"]


def parse_datetime(data, name, label) -> datetime:
    raw = str(data.get(name) or "").strip()
    if not raw:
        raise Invalid(f"Thiếu {label}.", code=f"missing:{name}", field=name)
    for fmt in ("%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%d/%m/%Y %H:%M"):
        try:
            return datetime.strptime(raw, fmt)
        except ValueError:
            continue
    raise Invalid(f"{label} không hợp lệ: {raw[:25]!r} (dạng dd/mm/yyyy hh:mm).", code=f"bad_datetime:{name}",
                  field=name)


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


# ---- rooms -----------------------------------------------------------------------------------------------------
def create_room(ctx, actor: User, name: str, capacity=0) -> Room:
    require_role(actor, "admin", "clerk")
    name = forms.text({"n": name}, "n", "Tên phòng họp", max_len=120)
    capacity = forms.integer({"c": capacity}, "c", "Sức chứa", required=False) or 0
    now = ctx.clock.now()
    with write_transaction():
        if Room.select().where((Room.agency == actor.agency_id) & (Room.name == name)).exists():
            raise Conflict(f"Đã có phòng họp “{name}”.", code="room_duplicate", field="name")
        room = Room.create(agency=actor.agency_id, name=name, capacity=max(capacity, 0))
        audit.record(now, actor, "calendar.room", "room", room.id, {"name": name})
    return room


def rooms(agency_id) -> list[Room]:
    return list(Room.select().where((Room.agency == agency_id) & (Room.active == True)).order_by(Room.name))  # noqa: E712


# ---- events ----------------------------------------------------------------------------------------------------
def _may_write(actor: User, scope: str, dept_id) -> None:
    if scope == "agency":
        require_role(actor, "admin", "clerk", "leader")
    elif scope == "unit":
        if not (actor.role_set.intersection(("admin", "clerk", "leader")) or
                ("unit_head" in actor.role_set and actor.department_id == dept_id)):
            raise Forbidden("Lịch đơn vị do trưởng đơn vị hoặc văn phòng lập.", code="calendar_not_allowed")


def _room_clash(room_id, start, end, exclude_id=None):
    q = CalendarEvent.select().where((CalendarEvent.room == room_id) & (CalendarEvent.cancelled == False) &  # noqa: E712
                                     (CalendarEvent.start < end) & (CalendarEvent.end > start))
    if exclude_id:
        q = q.where(CalendarEvent.id != exclude_id)
    return q.first()


def _fields(actor: User, data) -> dict:
    scope = forms.choice(data, "scope", "Loại lịch", tuple(SCOPES), default="personal")
    start = parse_datetime(data, "start", "Bắt đầu")
    end = parse_datetime(data, "end", "Kết thúc")
    if end <= start:
        raise Invalid("Kết thúc phải sau bắt đầu.", code="bad_datetime:end", field="end")
    if end - start > timedelta(hours=MAX_EVENT_HOURS):
        raise Invalid("Một sự kiện dài tối đa 14 ngày.", code="bad_datetime:end", field="end")
    dept = None
    if scope == "unit":
        dept_id = forms.integer(data, "department_id", "Đơn vị", required=False) or actor.department_id
        dept = Department.get_or_none((Department.id == dept_id) & (Department.agency == actor.agency_id))
        if dept is None:
            raise Invalid("Chọn đơn vị của lịch.", code="missing:department_id", field="department_id")
    room = None
    if data.get("room_id") not in (None, ""):
        room = Room.get_or_none((Room.id == forms.integer(data, "room_id", "Phòng họp")) &
                                (Room.agency == actor.agency_id))
        if room is None:
            raise Invalid("Phòng họp không có.", code="invalid:room_id", field="room_id")
    return {"scope": scope, "start": start, "end": end, "department": dept, "room": room,
            "owner": actor if scope == "personal" else None,
            "title": forms.text(data, "title", "Nội dung", max_len=300),
            "location": forms.text(data, "location", "Địa điểm", required=False, max_len=200) or
            (room.name if room else ""),
            "chair": forms.text(data, "chair", "Chủ trì", required=False, max_len=120),
            "description": forms.text(data, "description", "Ghi chú", required=False, max_len=4000)}


def _participants(actor, data) -> list[User]:
    raw = data.get("participants") or []
    if hasattr(data, "getlist") and not isinstance(raw, list):
        raw = data.getlist("participants")
    ids = [forms.integer({"v": v}, "v", "Người dự") for v in (raw if isinstance(raw, list) else [raw]) if v != ""]
    people = list(User.select().where(User.id.in_(ids) & (User.agency == actor.agency_id))) if ids else []
    if len(people) != len(set(ids)):
        raise Invalid("Người dự họp không thuộc cơ quan.", code="invalid:participants", field="participants")
    return people


def _insert(actor, fields, people, local, uid=None) -> CalendarEvent:
    if fields["room"] is not None:
        clash = _room_clash(fields["room"].id, fields["start"], fields["end"])
        if clash:
            raise Conflict(f"Phòng {fields['room'].name} đã có lịch “{clash.title}” từ {clash.start:%H:%M %d/%m} "
                           f"đến {clash.end:%H:%M %d/%m}.", code="room_booked", field="room_id")
    event = CalendarEvent.create(agency=actor.agency_id, uid=uid or f"{uuid.uuid4()}@vanban", created_by=actor,
                                 created_at=local, **fields)
    for p in people:
        EventParticipant.create(event=event, user=p)
        if p.id != actor.id:
            notify(local, p.id, "meeting", f"Mời họp {fields['start']:%H:%M %d/%m/%Y}: {fields['title']}",
                   f"/calendar?week={week_start(fields['start'].date()).isoformat()}", f"meeting:{event.id}:{p.id}")
    return event


def create_event(ctx, actor: User, data) -> tuple[CalendarEvent, list[dict]]:
    """Returns the event and the participants' conflicts (shown, not refused). An overlapping booking of the same
    room is refused and nothing is saved."""
    fields = _fields(actor, data)
    _may_write(actor, fields["scope"], fields["department"].id if fields["department"] else None)
    people = _participants(actor, data)
    now = ctx.clock.now()
    with write_transaction():
        event = _insert(actor, fields, people, now.replace(tzinfo=None))
        audit.record(now, actor, "calendar.create", "event", event.id,
                     {"scope": fields["scope"], "room": fields["room"].id if fields["room"] else None})
    return event, conflicts_of(event)


def cancel_event(ctx, actor: User, event_id) -> CalendarEvent:
    now = ctx.clock.now()
    with write_transaction():
        event = get_event(actor, event_id)
        if event.created_by_id != actor.id and not actor.role_set.intersection(("admin", "clerk")):
            raise Forbidden("Chỉ người lập hoặc văn phòng hủy lịch.", code="calendar_not_allowed")
        if event.cancelled:
            raise InvalidTransition("Lịch đã hủy.", code="event_cancelled")
        CalendarEvent.update(cancelled=True).where(CalendarEvent.id == event.id).execute()
        audit.record(now, actor, "calendar.cancel", "event", event.id)
    return CalendarEvent.get_by_id(event.id)


def _visible(user: User):
    cond = (CalendarEvent.agency == user.agency_id) & (CalendarEvent.scope == "agency")
    if user.role_set.intersection(("admin", "clerk", "leader")):
        cond |= (CalendarEvent.agency == user.agency_id) & (CalendarEvent.scope == "unit")
    elif user.department_id:
        cond |= (CalendarEvent.scope == "unit") & (CalendarEvent.department == user.department_id)
    mine = EventParticipant.select(EventParticipant.event).where(EventParticipant.user == user.id)
    cond |= (CalendarEvent.owner == user.id) | CalendarEvent.id.in_(mine)
    return cond


def get_event(user: User, event_id) -> CalendarEvent:
    try:
        event_id = int(event_id)
    except (TypeError, ValueError):
        event_id = -1
    event = CalendarEvent.select().where((CalendarEvent.id == event_id) & _visible(user)).first()
    if event is None:
        raise NotFound("Không tìm thấy lịch.", code="event_not_found")
    return event


def events_between(user: User, start: date, days: int = 7, scope: str | None = None) -> list[CalendarEvent]:
    lo = datetime.combine(start, time())
    hi = lo + timedelta(days=days)
    cond = _visible(user) & (CalendarEvent.start < hi) & (CalendarEvent.end > lo) & (CalendarEvent.cancelled == False)  # noqa: E712
    if scope in SCOPES:
        cond &= CalendarEvent.scope == scope
    return list(CalendarEvent.select().where(cond).order_by(CalendarEvent.start, CalendarEvent.id))


def published_week(agency_id, start: date) -> list[CalendarEvent]:
    """The agency's schedule as published (read-only): agency-wide events only, never personal ones."""
    lo = datetime.combine(start, time())
    return list(CalendarEvent.select().where(
        (CalendarEvent.agency == agency_id) & (CalendarEvent.scope == "agency") & (CalendarEvent.cancelled == False)  # noqa: E712
        & (CalendarEvent.start < lo + timedelta(days=7)) & (CalendarEvent.end > lo)).order_by(CalendarEvent.start))


def participants(event) -> list[User]:
    return list(User.select().join(EventParticipant, on=(EventParticipant.user == User.id))
                .where(EventParticipant.event == event.id).order_by(User.full_name))


def conflicts_of(event) -> list[dict]:
    """Participants who are expected elsewhere at the same time: [{user, event}]."""
    ids = [p.user_id for p in EventParticipant.select().where(EventParticipant.event == event.id)]
    if not ids:
        return []
    rows = (EventParticipant.select(EventParticipant, CalendarEvent).join(CalendarEvent)
            .where(EventParticipant.user.in_(ids) & (CalendarEvent.id != event.id) &
                   (CalendarEvent.cancelled == False) &  # noqa: E712
                   (CalendarEvent.start < event.end) & (CalendarEvent.end > event.start)))
    names = {u.id: u.full_name for u in User.select().where(User.id.in_(ids))}
    return [{"user_id": r.user_id, "user": names[r.user_id], "event_id": r.event.id, "title": r.event.title,
             "start": r.event.start, "end": r.event.end} for r in rows]


def week_days(start: date, events) -> list[dict]:
    """Seven days with their events (an event spanning days appears on each)."""
    out = []
    for i in range(7):
        day = start + timedelta(days=i)
        lo, hi = datetime.combine(day, time()), datetime.combine(day + timedelta(days=1), time())
        out.append({"date": day, "name": WEEKDAYS[i], "events": [e for e in events if e.start < hi and e.end > lo]})
    return out


def aware(value: datetime) -> datetime:
    return value.replace(tzinfo=VN) if value.tzinfo is None else value


def feed_events(user: User, scope: str, today: date) -> list[CalendarEvent]:
    """What an iCalendar feed carries: four weeks back and sixteen ahead; `agency` is the published schedule,
    anything else everything the user may see."""
    start = week_start(today) - timedelta(days=28)
    if scope != "agency":
        return events_between(user, start, 140)
    lo = datetime.combine(start, time())
    return list(CalendarEvent.select().where(
        (CalendarEvent.agency == user.agency_id) & (CalendarEvent.scope == "agency") &
        (CalendarEvent.start < lo + timedelta(days=140)) & (CalendarEvent.end > lo)).order_by(CalendarEvent.start))
