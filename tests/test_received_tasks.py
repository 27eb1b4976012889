"""A task received from an agency on another server is tracked like a local one on the assignee's side
(core/tracking.py): the JSON API and its OpenAPI document, the dashboard page, the tracking report (rows, XLSX,
PDF; by unit, person and month) and the periodic due-soon / overdue notifications.

The received tasks enter through received_tasks.create_from_notice, the function the exchange calls when a
verified task notice arrives (the signed edXML path itself is in test_exchange_tasks.py)."""
from __future__ import annotations

import io
from datetime import date

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from test_api_contract import Recorder
from test_tasks import Logins, _system_signing_key, create
from vanban.api.openapi import spec

AGENCY = "UBND huyện Nhơn Trạch"  # H19.42 in conftest: its leader and clerk answer received tasks


@pytest.fixture
def h(client):
    return Logins(client)


def receive(clock, title, deadline, number):
    """The notice of task <number> from the province (H19.50) arrives for H19.42, as the exchange applies it."""
    from vanban.core import received_tasks
    from vanban.models import write_transaction

    with write_transaction():
        return received_tasks.create_from_notice(
            clock.now(), agency_code="H19.42", from_organ="H19.50", from_name="UBND tỉnh Đồng Nai",
            document_id=f"H19.50,2026/03/09,{number}/NHIEMVU", title=title, instruction="Báo cáo bằng văn bản",
            deadline=deadline, assigner_name="Trần Văn Tỉnh")


@pytest.fixture
def two(clock):
    """One received task due in 2 days (due soon), one due in 20 days (open)."""
    soon = receive(clock, "Báo cáo công tác phòng chống thiên tai", date(2026, 3, 12), 7)
    later = receive(clock, "Tổng kết chương trình nông thôn mới", date(2026, 3, 30), 8)
    return soon, later


def test_api_dashboard_counts_lists_and_items_include_received_tasks(client, world, h, clock, two, data_dir):
    soon, later = two
    api = Recorder(client, spec())
    create(client, h["leader"], title="Việc trong cơ quan", deadline="2026-03-11",
           targets=[f"user:{world.users['spec']}"])
    board = api.call("get", "/api/v1/tasks", headers=h["clerk"]).json
    assert board["received_lists"]["due_soon"] == [soon.id]
    assert sorted(board["received_lists"]["to_answer"]) == sorted([soon.id, later.id])
    assert board["received_lists"]["to_approve"] == []  # the assigning side is on the other server
    assert board["counts"]["due_soon"] == 2 and board["counts"]["open"] == 1 and board["total"] == 3
    assert [r["title"] for r in board["received"]] == [soon.title, later.title]
    assert board["received"][0]["state"] == "due_soon" and board["received"][0]["from_name"] == "UBND tỉnh Đồng Nai"
    # A specialist neither answers nor sees the agency's received tasks; another agency's clerk neither.
    for who in ("spec", "otherclerk"):
        other = api.call("get", "/api/v1/tasks", headers=h[who]).json
        assert other["received"] == [] and all(v == [] for v in other["received_lists"].values())
    assert api.call("get", f"/api/v1/tasks/received/{soon.id}", headers=h["otherclerk"]).status_code == 404

    # Overdue after the deadline, against the injected clock.
    clock.advance(days=3)  # 13/03 (sessions expire after 10 idle hours: log in again)
    h.clear()
    board = api.call("get", "/api/v1/tasks", headers=h["leader"]).json
    assert board["received_lists"]["overdue"] == [soon.id] and board["counts"]["overdue"] == 2

    # The item and its answer, which leaves as a signed status 06 (a throwaway node key made by the test).
    got = api.call("get", f"/api/v1/tasks/received/{soon.id}", headers=h["clerk"]).json
    assert got["task"]["state"] == "overdue" and [e["kind"] for e in got["events"]] == ["create"]
    r = api.call("post", f"/api/v1/tasks/received/{soon.id}/actions/answer", json={"text": "Đã báo cáo"},
                 headers=h["clerk"])
    assert r.status_code == 409 and r.json["error"]["code"] == "exchange_not_configured"  # no key: nothing changed
    assert api.call("get", f"/api/v1/tasks/received/{soon.id}", headers=h["clerk"]).json["task"]["status"] == "open"
    _system_signing_key(data_dir)
    r = api.call("post", f"/api/v1/tasks/received/{soon.id}/actions/answer", json={"text": "Đã báo cáo"},
                 headers=h["clerk"])
    assert r.status_code == 200 and r.json["task"]["state"] == "submitted"
    assert [e["kind"] for e in r.json["events"]] == ["create", "answer"]
    api.call("post", f"/api/v1/tasks/received/{soon.id}/actions/answer", json={"text": "lần hai"},
             headers=h["clerk"])  # 409: already answered
    api.call("post", f"/api/v1/tasks/received/{later.id}/actions/answer", json={"text": "x"},
             headers=h["spec"])  # 404: not visible to a specialist
    assert client.simulate_post(f"/api/v1/tasks/received/{later.id}/actions/approve", json={},
                                headers=h["clerk"]).status_code == 404
    from vanban.models.exchange import ExchangeOutbox

    assert [(o.status_code, o.recipient) for o in ExchangeOutbox.select()] == [("06", "H19.50")]
    board = api.call("get", "/api/v1/tasks", headers=h["clerk"]).json
    assert board["received_lists"]["overdue"] == [] and board["counts"]["submitted"] == 1
    assert {("get", "/api/v1/tasks/received/{task_id}"),
            ("post", "/api/v1/tasks/received/{task_id}/actions/{action}")} <= api.seen


def test_tracking_report_counts_received_tasks(client, world, h, clock, two):
    soon, later = two
    create(client, h["leader"], title="Việc của phòng", deadline="2026-03-20", targets=[f"dept:{world.dept_tnmt}"])
    clock.advance(days=5)  # 15/03: the first received task is overdue
    h.clear()
    url = "/api/v1/work-reports/tasks?from=2026-03-01&to=2026-03-31&group="
    by_unit = {r["group"]: r for r in client.simulate_get(url + "unit", headers=h["leader"]).json["rows"]}
    assert by_unit[AGENCY]["total"] == 2 and by_unit[AGENCY]["open_overdue"] == 1
    assert by_unit[AGENCY]["open_on_time"] == 1 and by_unit["Phòng Tài nguyên và Môi trường"]["total"] == 1
    by_person = {r["group"]: r for r in client.simulate_get(url + "person", headers=h["leader"]).json["rows"]}
    assert by_person[AGENCY]["total"] == 2
    months = client.simulate_get(url + "period", headers=h["leader"]).json["rows"]
    assert [(r["group"], r["total"]) for r in months] == [("03/2026", 3)]
    # Received in another period: not counted in March's report.
    outside = client.simulate_get("/api/v1/work-reports/tasks?from=2026-02-01&to=2026-02-28&group=unit",
                                  headers=h["leader"]).json["rows"]
    assert outside == []
    # The specialist's report holds only the specialist's own work (received tasks are the agency's).
    spec_rows = client.simulate_get(url + "unit", headers=h["spec"]).json["rows"]
    assert AGENCY not in {r["group"] for r in spec_rows}

    x = client.simulate_get(url + "unit&format=xlsx", headers=h["leader"])
    ws = load_workbook(io.BytesIO(x.content)).active
    row = next(r for r in ws.iter_rows(values_only=True) if AGENCY in r)
    header = next(r for r in ws.iter_rows(values_only=True) if "Quá hạn chưa hoàn thành" in r)
    assert row[header.index("Tổng số nhiệm vụ")] == 2 and row[header.index("Quá hạn chưa hoàn thành")] == 1
    p = client.simulate_get(url + "person&format=pdf", headers=h["leader"])
    text = " ".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(p.content)).pages)
    assert AGENCY in text


def test_deadline_scan_notifies_the_agency_once(client, world, h, clock, two):
    from vanban import work_jobs
    from vanban.models.schema import User
    from vanban.models.work import Notification

    soon, later = two
    answering = {User.get(User.username == n).id for n in ("leader", "clerk")}
    ctx = client.app.ctx
    Notification.delete().execute()  # the "assigned" notices of arrival are not what this test is about
    assert work_jobs.scan_deadlines(ctx) == {"due_soon": 2, "overdue": 0, "dossier_due": 0}
    rows = list(Notification.select())
    assert {n.user_id for n in rows} == answering
    assert {(n.kind, n.link) for n in rows} == {("due_soon", f"/tasks/received/{soon.id}")}
    assert all("Sắp đến hạn 12/03/2026: Báo cáo công tác phòng chống thiên tai" == n.title for n in rows)
    assert work_jobs.scan_deadlines(ctx)["due_soon"] == 0  # once per task and deadline
    clock.advance(days=3)
    assert work_jobs.scan_deadlines(ctx) == {"due_soon": 0, "overdue": 2, "dossier_due": 0}
    assert work_jobs.scan_deadlines(ctx)["overdue"] == 0
    # The leader sees it in the notification list of the API.
    items = client.simulate_get("/api/v1/notifications", headers=h["leader"]).json["items"]
    assert [i["link"] for i in items if i["kind"] == "overdue"] == [f"/tasks/received/{soon.id}"]
    # Extended by the assigning agency (status 92 over the exchange): due soon again before the new deadline.
    from vanban.core import received_tasks
    from vanban.models import write_transaction

    with write_transaction():
        received_tasks.extended(soon, clock.now(), date(2026, 3, 27), "Thêm thời gian")
    assert work_jobs.scan_deadlines(ctx)["overdue"] == 0
    clock.advance(days=11)  # 24/03: three days before the new deadline
    assert work_jobs.scan_deadlines(ctx) == {"due_soon": 2, "overdue": 0, "dossier_due": 0}


def test_dashboard_page_shows_received_tasks(client, world, clock, two):
    soon, later = two
    clock.advance(days=3)
    b = client.web_login("clerk")
    page = b.get("/tasks").text
    assert '<div class="card overdue" data-state="overdue"><span class="num">1</span>' in page
    overdue = page.split('id="board-overdue"')[1].split("</ul>")[0]
    assert f'href="/tasks/received/{soon.id}"' in overdue and "UBND tỉnh Đồng Nai" in overdue
    to_answer = page.split('id="board-to-answer"')[1].split("</ul>")[0]
    assert f'href="/tasks/received/{soon.id}"' in to_answer and f'href="/tasks/received/{later.id}"' in to_answer
    assert f'data-received="{soon.id}" data-status="open" data-state="overdue"' in page
    detail = b.get(f"/tasks/received/{soon.id}").text
    assert 'data-state="overdue"' in detail and "Đang thực hiện · quá hạn" in detail
    assert 'data-state="open"' in b.get(f"/tasks/received/{later.id}").text
    # A specialist's dashboard has none of it.
    spec_page = client.web_login("spec").get("/tasks").text
    assert "/tasks/received/" not in spec_page
