"""Notifications: in-app counter and list, per-user preferences, and e-mail in batches through a real SMTP
server (aiosmtpd on loopback, started and stopped by the test) — one digest per person, spaced by the batch
window, against the injected clock."""
from __future__ import annotations

import email
import smtplib
import socket
import threading
from email import policy

import pytest

from test_tasks import Logins, register_doc


class Inbox:
    """An aiosmtpd handler that keeps every message it is given."""

    def __init__(self):
        self.messages = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=policy.default)
        with self.lock:
            self.messages.append((envelope.rcpt_tos, msg))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp():
    from aiosmtpd.controller import Controller

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    inbox.port = controller.port
    yield inbox
    controller.stop()


@pytest.fixture
def emails(world):
    from vanban.models.schema import User

    for name in ("spec", "leader", "clerk"):
        User.update(email=f"{name}@nhontrach.dongnai.gov.vn").where(User.id == world.users[name]).execute()


def config(port, **over):
    from vanban.core.mailer import MailConfig

    values = {"host": "127.0.0.1", "port": port, "sender": "vanban@nhontrach.dongnai.gov.vn",
              "base_url": "https://vanban.nhontrach.dongnai.gov.vn", **over}
    return MailConfig(**values)


def assign(client, h, world, title, who="spec"):
    r = client.simulate_post("/api/v1/tasks", json={"title": title, "instruction": "Thực hiện",
                                                    "deadline": "2026-03-25", "targets": [f"user:{world.users[who]}"]},
                             headers=h["leader"])
    assert r.status_code == 201
    return r.json["tasks"][0]


def test_batched_mail_through_a_real_smtp_server(client, world, clock, smtp, emails):
    from vanban.core.mailer import send_pending

    h, ctx = Logins(client), client.app.ctx
    for i in range(12):
        assign(client, h, world, f"Nhiệm vụ số {i + 1}")
    result = send_pending(ctx, config(smtp.port))
    assert result == {"enabled": True, "mails": 1, "items": 12}
    assert len(smtp.messages) == 1
    rcpt, msg = smtp.messages[0]
    assert rcpt == ["spec@nhontrach.dongnai.gov.vn"] and msg["Subject"] == "[Văn phòng điện tử] 12 thông báo mới"
    body = msg.get_content()
    assert "Kính gửi Đặng Quốc Bảo" in body and "Nhiệm vụ số 12" in body
    assert "https://vanban.nhontrach.dongnai.gov.vn/tasks/" in body
    assert send_pending(ctx, config(smtp.port))["mails"] == 0  # nothing new
    # A new one within the batch window waits; after the window it goes out alone.
    task = assign(client, h, world, "Nhiệm vụ số 13")
    clock.advance(minutes=5)
    assert send_pending(ctx, config(smtp.port))["mails"] == 0
    clock.advance(minutes=11)
    assert send_pending(ctx, config(smtp.port)) == {"enabled": True, "mails": 1, "items": 1}
    assert "Nhiệm vụ số 13" in smtp.messages[-1][1].get_content() and str(task["id"]) in smtp.messages[-1][1].get_content()
    # E-mail off (no relay configured): nothing is sent, nothing is lost.
    h = Logins(client)  # the leader's session expired while the clock moved
    assign(client, h, world, "Nhiệm vụ số 14")
    assert send_pending(ctx, config(smtp.port, host=""))["enabled"] is False
    assert len(smtp.messages) == 2


def test_relay_down_keeps_mail_pending(client, world, smtp, emails):
    from vanban.core.mailer import pending_by_user, send_pending

    h = Logins(client)
    assign(client, h, world, "Báo cáo tháng")
    closed = free_port()  # nothing listens there
    with pytest.raises((OSError, smtplib.SMTPException)):
        send_pending(client.app.ctx, config(closed))
    assert sum(len(v) for v in pending_by_user().values()) == 1
    assert send_pending(client.app.ctx, config(smtp.port))["mails"] == 1


def test_preferences_counter_and_list(client, world, smtp, emails):
    from vanban.core.mailer import send_pending

    h = Logins(client)
    r = client.simulate_put("/api/v1/notifications/preferences", json={"preferences": {
        "assigned": {"in_app": True, "email": False}, "urged": {"in_app": False, "email": False}}},
        headers=h["spec"])
    assert r.status_code == 200 and r.json["preferences"]["assigned"] == {"in_app": True, "email": False}
    bad = client.simulate_put("/api/v1/notifications/preferences", json={"preferences": {"spam": {}}},
                              headers=h["spec"])
    assert bad.status_code == 422
    t = assign(client, h, world, "Lập kế hoạch")
    client.simulate_post(f"/api/v1/tasks/{t['id']}/actions/urge", json={"text": "Nhắc"}, headers=h["leader"])
    got = client.simulate_get("/api/v1/notifications", headers=h["spec"]).json
    assert got["unread"] == 1 and [n["kind"] for n in got["items"]] == ["assigned"]  # urged switched off
    assert send_pending(client.app.ctx, config(smtp.port))["mails"] == 0  # assigned: in the app only
    # The counter in the navigation bar, then read.
    b = client.web_login("spec")
    assert 'id="notification-count">1<' in b.get("/tasks").text
    other = client.simulate_get("/api/v1/notifications", headers=h["leader"]).json["items"]
    if other:  # someone else's notification cannot be marked through my account
        r = client.simulate_post("/api/v1/notifications/read", json={"ids": [other[0]["id"]]}, headers=h["spec"])
        assert r.status_code == 404
    r = b.post_form("/notifications/read", {})
    assert r.status_code == 303
    assert 'id="notification-count"' not in b.get("/tasks").text
    assert client.simulate_get("/api/v1/notifications?unread=1", headers=h["spec"]).json["items"] == []


def test_routing_and_arrivals_are_noticed(client, world, clock):
    from vanban.core import notifications
    from vanban.models.exchange import ExchangeInbox

    h, ctx = Logins(client), client.app.ctx
    doc = register_doc(client, h["clerk"], world)
    r = client.simulate_post(f"/api/v1/documents/{doc['id']}/actions/present",
                             json={"leader_id": world.users["leader"]}, headers=h["clerk"])
    assert r.status_code == 200, r.text
    r = client.simulate_post(f"/api/v1/documents/{doc['id']}/actions/assign", json={
        "instruction": "Giao phòng TNMT chủ trì", "lead": {"to": f"dept:{world.dept_tnmt}", "deadline": "2026-03-20"},
        "co": [{"to": f"user:{world.users['vpspec']}"}]}, headers=h["leader"])
    assert r.status_code == 200, r.text
    assert notifications.scan_assignments(ctx) == 3  # leader (presented), head (unit lead), vpspec (co)
    assert notifications.scan_assignments(ctx) == 0
    head = client.simulate_get("/api/v1/notifications", headers=h["head"]).json["items"]
    assert head[0]["kind"] == "assigned" and head[0]["link"] == f"/documents/{doc['id']}"
    # A package from another agency lands in the exchange inbox: the clerks are told.
    ExchangeInbox.create(hub_id="1", dedup_key="H19.10,2026/03/09,15/UBND-VP|H19.42", kind="package",
                         agency_code="H19.42", sender="H19.10", sender_name="UBND tỉnh Đồng Nai",
                         document_id="H19.10,2026/03/09,15/UBND-VP", subject="Về việc rà soát đất công",
                         state="pending", received_at=clock.local())
    assert notifications.scan_arrivals(ctx) == 1 and notifications.scan_arrivals(ctx) == 0
    items = client.simulate_get("/api/v1/notifications", headers=h["clerk"]).json["items"]
    assert items[0]["kind"] == "arrived" and "UBND tỉnh Đồng Nai" in items[0]["title"]


def test_periodic_jobs_register_and_run(client, world, settings):
    """The huey tasks of vanban.work_jobs, run in immediate mode as the tests run all jobs (with the system clock:
    the scans only read the date to compare deadlines)."""
    from vanban import work_jobs
    from vanban.jobs import make_jobs

    jobs = make_jobs(settings, client.app.ctx.blobs)  # vanban.jobs.JOB_MODULES registers work_jobs
    names = {t.__name__ for t in jobs.huey._registry._periodic_tasks}
    assert {"work_scan_events", "work_scan_deadlines", "work_send_mail"} <= names
    assert work_jobs.send_mail(client.app.ctx) == {"enabled": False, "mails": 0, "items": 0}  # no relay set
    assert set(work_jobs.scan_deadlines(client.app.ctx)) == {"due_soon", "overdue", "dossier_due"}
    assert work_jobs.scan_events(client.app.ctx) == {"assigned": 0, "arrived": 0}


def test_work_api_answers_what_its_openapi_says(client, world):
    """Every work-management response of a short flow validated against the OpenAPI document (api/openapi.py,
    which merges api/work_openapi.py)."""
    from test_api_contract import Recorder
    from vanban.api.openapi import spec

    api, h = Recorder(client, spec()), Logins(client)
    t = api.call("post", "/api/v1/tasks", json={"title": "Kiểm tra", "instruction": "Kiểm tra thực địa",
                                                "deadline": "2026-03-20", "targets": [f"user:{world.users['spec']}"]},
                 headers=h["leader"]).json["tasks"][0]
    api.call("get", "/api/v1/tasks", headers=h["leader"])
    api.call("post", f"/api/v1/tasks/{t['id']}/actions/answer", json={"text": "Xong"}, headers=h["spec"])
    api.call("post", f"/api/v1/tasks/{t['id']}/actions/approve", json={}, headers=h["spec"])  # 403
    api.call("get", f"/api/v1/tasks/{t['id']}", headers=h["leader"])
    api.call("get", "/api/v1/work-reports/tasks", params={"group": "person"}, headers=h["leader"])
    d = api.call("post", "/api/v1/dossiers", json={"file_code": "01.VP", "title": "Hồ sơ"}, headers=h["clerk"]).json
    api.call("post", f"/api/v1/dossiers/{d['id']}/actions/open", json={}, headers=h["clerk"])
    api.call("post", f"/api/v1/dossiers/{d['id']}/actions/close", json={}, headers=h["clerk"])  # 422: empty
    api.call("get", "/api/v1/dossiers", params={"year": "2026"}, headers=h["clerk"])
    api.call("get", f"/api/v1/dossiers/{d['id']}", headers=h["clerk"])
    room = api.call("post", "/api/v1/calendar/rooms", json={"name": "Hội trường"}, headers=h["clerk"]).json
    api.call("get", "/api/v1/calendar/rooms", headers=h["clerk"])
    api.call("post", "/api/v1/calendar/events", json={"title": "Hội nghị", "start": "2026-03-12T08:00",
                                                      "end": "2026-03-12T11:00", "room_id": room["id"],
                                                      "participants": [world.users["leader"]]}, headers=h["clerk"])
    api.call("get", "/api/v1/calendar", params={"week": "2026-03-12"}, headers=h["leader"])
    api.call("get", "/api/v1/calendar/published", headers=h["spec"])
    api.call("get", "/api/v1/calendar/feed.ics", headers=h["spec"])
    api.call("get", f"/api/v1/staff/{world.users['spec']}", headers=h["admin"])
    api.call("post", f"/api/v1/staff/{world.users['spec']}/move", json={"department_id": world.dept_vp},
             headers=h["admin"])
    api.call("get", "/api/v1/notifications", headers=h["leader"])
    api.call("post", "/api/v1/notifications/read", json={}, headers=h["leader"])
    api.call("get", "/api/v1/notifications/preferences", headers=h["leader"])
    assert len(api.seen) >= 20
