"""iCalendar (RFC 5545) feed and import for the work calendar, through the `icalendar` library.

Times leave as UTC (`...Z`): every client converts them, and no VTIMEZONE block has to describe Vietnam's
offset history. Imports are all or nothing: one malformed event refuses the whole file and nothing is saved;
an event whose UID is already here is skipped (re-importing the same file changes nothing)."""
from __future__ import annotations

from datetime import date, datetime, time, timezone

import icalendar

from ..clock import VN
from ..errors import Invalid
from ..models import write_transaction
from ..models.work import CalendarEvent, Room
from . import audit
from .calendar import MAX_EVENT_HOURS, MAX_IMPORT_BYTES, MAX_IMPORT_EVENTS, _insert, _may_write, participants

PRODID = "-//vanban//Lich cong tac//VI"


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=VN).astimezone(timezone.utc)


def feed(events, *, name: str, now) -> bytes:
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", name)
    stamp = now.astimezone(timezone.utc)
    for e in events:
        ev = icalendar.Event()
        ev.add("uid", e.uid)
        ev.add("dtstamp", stamp)
        ev.add("dtstart", _utc(e.start))
        ev.add("dtend", _utc(e.end))
        ev.add("summary", e.title)
        if e.location:
            ev.add("location", e.location)
        desc = "\n".join(x for x in (f"Chủ trì: {e.chair}" if e.chair else "", e.description) if x)
        if desc:
            ev.add("description", desc)
        ev.add("status", "CANCELLED" if e.cancelled else "CONFIRMED")
        for p in participants(e):
            if p.email:
                ev.add("attendee", f"mailto:{p.email}", parameters={"CN": p.full_name})
        cal.add_component(ev)
    return cal.to_ical()


def _refuse(detail: str, index: int | None = None):
    where = f"sự kiện thứ {index}: " if index else ""
    raise Invalid(f"Tệp lịch (.ics) không hợp lệ, không nhập gì: {where}{detail}", code="ics_malformed",
                  field="file")


def _local(value, label, index) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(VN).replace(tzinfo=None) if value.tzinfo else value
    if isinstance(value, date):
        return datetime.combine(value, time())  # an all-day event starts at midnight
    _refuse(f"{label} không phải ngày giờ.", index)


def _event_fields(ev, index) -> dict:
    errors = getattr(ev, "errors", None)
    if errors:
        _refuse(f"{errors[0][0]}: {str(errors[0][1])[:80]}", index)
    summary = str(ev.get("summary") or "").strip()
    if not summary or ev.get("dtstart") is None:
        _refuse("thiếu SUMMARY hoặc DTSTART.", index)
    try:
        start_raw = ev.decoded("dtstart")
        if ev.get("dtend") is not None:
            end_raw = ev.decoded("dtend")
        elif ev.get("duration") is not None:
            end_raw = start_raw + ev.decoded("duration")
        else:
            _refuse("thiếu DTEND hoặc DURATION.", index)
    except (ValueError, TypeError, KeyError) as exc:
        _refuse(str(exc)[:80], index)
    start, end = _local(start_raw, "DTSTART", index), _local(end_raw, "DTEND", index)
    if end <= start or (end - start).total_seconds() > MAX_EVENT_HOURS * 3600:
        _refuse("thời gian kết thúc không hợp lệ.", index)
    return {"title": summary[:300], "start": start, "end": end,
            "location": str(ev.get("location") or "")[:200], "description": str(ev.get("description") or "")[:4000],
            "uid": str(ev.get("uid") or "").strip()[:200]}


def parse(data: bytes) -> list[dict]:
    if len(data) > MAX_IMPORT_BYTES:
        raise Invalid("Tệp lịch quá lớn (tối đa 2 MB).", code="ics_too_large", field="file")
    try:
        cal = icalendar.Calendar.from_ical(data)
    except (ValueError, IndexError, KeyError) as exc:
        _refuse(str(exc)[:120])
    if cal.name != "VCALENDAR":
        _refuse("không bắt đầu bằng VCALENDAR.")
    if getattr(cal, "errors", None):
        _refuse(str(cal.errors[0])[:120])
    events = cal.walk("VEVENT")
    if not events:
        _refuse("không có sự kiện (VEVENT) nào.")
    if len(events) > MAX_IMPORT_EVENTS:
        _refuse(f"quá {MAX_IMPORT_EVENTS} sự kiện.")
    return [_event_fields(ev, i) for i, ev in enumerate(events, 1)]


def import_ics(ctx, actor, data: bytes, *, scope: str = "personal", department=None) -> dict:
    """Import a .ics into one schedule. A LOCATION equal to one of the agency's room names books that room,
    and an overlapping booking refuses the whole file like any other error."""
    parsed = parse(data)
    _may_write(actor, scope, department.id if department else None)
    rooms = {r.name.casefold(): r for r in Room.select().where(Room.agency == actor.agency_id)}
    now = ctx.clock.now()
    created = skipped = 0
    with write_transaction():
        for f in parsed:
            uid = f.pop("uid")
            if uid and CalendarEvent.select().where(CalendarEvent.uid == uid).exists():
                skipped += 1
                continue
            fields = {**f, "scope": scope, "department": department, "chair": "",
                      "owner": actor if scope == "personal" else None,
                      "room": rooms.get(f["location"].casefold())}
            _insert(actor, fields, [], now.replace(tzinfo=None), uid=uid or None)
            created += 1
        audit.record(now, actor, "calendar.import", "calendar", scope, {"created": created, "skipped": skipped})
    return {"created": created, "skipped": skipped}
