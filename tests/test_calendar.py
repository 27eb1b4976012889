"""Work calendar through the API: agency, unit and personal schedules; meetings with participants and rooms;
conflicts shown; overlapping room bookings refused; the published read-only week; the iCalendar feed read back
with the icalendar library; imports all or nothing, malformed files refused."""
from __future__ import annotations

from datetime import datetime, timezone

import icalendar
import pytest

from test_tasks import Logins


@pytest.fixture
def h(client):
    return Logins(client)


def event(client, headers, **body):
    body.setdefault("scope", "agency")
    return client.simulate_post("/api/v1/calendar/events", json=body, headers=headers)


def week(client, headers, **params):
    q = "&".join(f"{k}={v}" for k, v in params.items())
    return client.simulate_get(f"/api/v1/calendar?{q}", headers=headers).json


def test_meetings_rooms_conflicts(client, world, h):
    room = client.simulate_post("/api/v1/calendar/rooms", json={"name": "Phòng họp số 1", "capacity": 30},
                                headers=h["clerk"])
    assert room.status_code == 201
    room_id = room.json["id"]
    r = event(client, h["clerk"], title="Giao ban UBND huyện", start="2026-03-16T08:00", end="2026-03-16T10:00",
              room_id=room_id, chair="Chủ tịch UBND huyện", participants=[world.users["leader"], world.users["head"]])
    assert r.status_code == 201, r.text
    assert r.json["location"] == "Phòng họp số 1" and r.json["conflicts"] == []
    # The same room at an overlapping time: refused, nothing saved.
    before = week(client, h["clerk"], week="2026-03-16")["events"]
    clash = event(client, h["clerk"], title="Tiếp dân", start="2026-03-16T09:30", end="2026-03-16T11:00",
                  room_id=room_id)
    assert clash.status_code == 409 and clash.json["error"]["code"] == "room_booked"
    assert "Giao ban UBND huyện" in clash.json["error"]["message"]
    assert week(client, h["clerk"], week="2026-03-16")["events"] == before
    # Back to back is fine.
    assert event(client, h["clerk"], title="Họp chuyên đề", start="2026-03-16T10:00", end="2026-03-16T11:00",
                 room_id=room_id).status_code == 201
    # A unit meeting with the head at the same time: saved, the conflict is shown.
    unit = event(client, h["head"], scope="unit", title="Họp phòng TNMT", start="2026-03-16T09:00",
                 end="2026-03-16T09:45", participants=[world.users["head"], world.users["spec"]])
    assert unit.status_code == 201
    assert [(c["user"], c["title"]) for c in unit.json["conflicts"]] == [("Võ Thanh Tùng", "Giao ban UBND huyện")]
    # Who sees what: the specialist sees the agency's and her unit's; personal ones stay personal.
    event(client, h["spec2"], scope="personal", title="Khám sức khỏe", start="2026-03-17T07:30",
          end="2026-03-17T09:00")
    spec_titles = {e["title"] for e in week(client, h["spec"], week="2026-03-18")["events"]}
    assert spec_titles == {"Giao ban UBND huyện", "Họp chuyên đề", "Họp phòng TNMT"}
    assert {e["title"] for e in week(client, h["spec2"], week="2026-03-16", scope="personal")["events"]} == {
        "Khám sức khỏe"}
    # Writing rules: a specialist cannot put events on the agency's schedule; a head only on her own unit's.
    assert event(client, h["spec"], title="x", start="2026-03-18T08:00", end="2026-03-18T09:00").status_code == 403
    assert event(client, h["head"], scope="unit", department_id=world.dept_vp, title="x",
                 start="2026-03-18T08:00", end="2026-03-18T09:00").status_code == 403
    assert event(client, h["clerk"], title="x", start="2026-03-18T09:00", end="2026-03-18T08:00").status_code == 422
    # The participants were invited.
    notes = client.simulate_get("/api/v1/notifications", headers=h["leader"]).json["items"]
    assert [n["kind"] for n in notes] == ["meeting"]


def test_published_week_and_feed(client, world, h):
    event(client, h["clerk"], title="Tiếp công dân định kỳ", start="2026-03-12T14:00", end="2026-03-12T17:00",
          location="Trụ sở tiếp dân", chair="Phó Chủ tịch")
    event(client, h["spec"], scope="personal", title="Việc riêng", start="2026-03-12T08:00", end="2026-03-12T09:00")
    pub = client.simulate_get("/api/v1/calendar/published?week=2026-03-12", headers=h["spec2"]).json
    assert pub["week"] == "2026-03-09" and [e["title"] for e in pub["events"]] == ["Tiếp công dân định kỳ"]
    page = client.web_login("spec2").get("/calendar/published?week=2026-03-12")
    assert "Tiếp công dân định kỳ" in page.text and "<form" not in page.text.split("<main>")[1]
    feed = client.simulate_get("/api/v1/calendar/feed.ics", headers=h["spec2"])
    assert feed.headers["content-type"].startswith("text/calendar")
    cal = icalendar.Calendar.from_ical(feed.content)
    events = cal.walk("VEVENT")
    assert [str(e["summary"]) for e in events] == ["Tiếp công dân định kỳ"]
    assert events[0].decoded("dtstart") == datetime(2026, 3, 12, 7, 0, tzinfo=timezone.utc)  # 14:00 +07:00
    assert str(events[0]["location"]) == "Trụ sở tiếp dân"
    mine = icalendar.Calendar.from_ical(client.simulate_get("/api/v1/calendar/feed.ics?scope=mine",
                                                            headers=h["spec"]).content)
    assert {str(e["summary"]) for e in mine.walk("VEVENT")} == {"Tiếp công dân định kỳ", "Việc riêng"}


GOOD_ICS = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Test//EN\r\n"
    "BEGIN:VEVENT\r\nUID:a1@example\r\nDTSTAMP:20260301T000000Z\r\nDTSTART:20260318T020000Z\r\n"
    "DTEND:20260318T030000Z\r\nSUMMARY:Hội nghị trực tuyến\r\nLOCATION:Phòng họp số 2\r\nEND:VEVENT\r\n"
    "BEGIN:VEVENT\r\nUID:a2@example\r\nDTSTAMP:20260301T000000Z\r\nDTSTART;VALUE=DATE:20260320\r\n"
    "DTEND;VALUE=DATE:20260321\r\nSUMMARY:Ngày hội đọc sách\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


def imp(client, headers, data, scope="personal"):
    return client.simulate_post(f"/api/v1/calendar/import?scope={scope}", body=data,
                                headers={**headers, "Content-Type": "text/calendar"})


def test_import_all_or_nothing(client, world, h):
    client.simulate_post("/api/v1/calendar/rooms", json={"name": "Phòng họp số 2"}, headers=h["clerk"])
    r = imp(client, h["clerk"], GOOD_ICS.encode(), scope="agency")
    assert r.status_code == 200 and r.json == {"created": 2, "skipped": 0}
    got = {e["title"]: e for e in week(client, h["clerk"], week="2026-03-16")["events"]}
    assert got["Hội nghị trực tuyến"]["start"] == "2026-03-18T09:00:00"  # 02:00Z is 09:00 in Hà Nội
    assert got["Hội nghị trực tuyến"]["room_id"] is not None
    assert got["Ngày hội đọc sách"]["start"] == "2026-03-20T00:00:00"
    assert imp(client, h["clerk"], GOOD_ICS.encode(), scope="agency").json == {"created": 0, "skipped": 2}
    total = len(week(client, h["clerk"], week="2026-03-16")["events"])
    bad_inputs = [
        b"this is not a calendar",
        GOOD_ICS.replace("DTSTART:20260318T020000Z", "DTSTART:20261399T990000Z").replace("a1@", "b1@").encode(),
        GOOD_ICS.replace("SUMMARY:Hội nghị trực tuyến\r\n", "").replace("a1@", "c1@").encode(),
        GOOD_ICS.replace("DTEND:20260318T030000Z", "DTEND:20260317T030000Z").replace("a1@", "d1@").encode(),
        GOOD_ICS[:120].encode(),  # cut off
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n",  # no events
        b"\xff\xfe\x00garbage",
    ]
    for data in bad_inputs:
        r = imp(client, h["clerk"], data.replace(b"a2@", b"z2@"), scope="agency")
        assert r.status_code == 422, (data[:60], r.text)
        assert r.json["error"]["code"] == "ics_malformed" and "không nhập gì" in r.json["error"]["message"]
    # A file whose second event books a taken room is refused whole: the first event is not kept either.
    clash = GOOD_ICS.replace("a1@", "e1@").replace("a2@example\r\nDTSTAMP:20260301T000000Z\r\n"
                                                   "DTSTART;VALUE=DATE:20260320\r\nDTEND;VALUE=DATE:20260321",
                                                   "e2@example\r\nDTSTAMP:20260301T000000Z\r\n"
                                                   "DTSTART:20260318T023000Z\r\nDTEND:20260318T040000Z\r\n"
                                                   "LOCATION:Phòng họp số 2")
    clash = clash.replace("LOCATION:Phòng họp số 2\r\nEND:VEVENT\r\nBEGIN", "LOCATION:Sân\r\nEND:VEVENT\r\nBEGIN", 1)
    r = imp(client, h["clerk"], clash.encode(), scope="agency")
    assert r.status_code == 409 and r.json["error"]["code"] == "room_booked"
    assert len(week(client, h["clerk"], week="2026-03-16")["events"]) == total
    assert imp(client, h["spec"], GOOD_ICS.replace("a1@", "f1@").replace("a2@", "f2@").encode(),
               scope="agency").status_code == 403
