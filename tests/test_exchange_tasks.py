"""Tasks across servers (issue 9 over the exchange, exchange/tasks.py): the notice as an edXML package, urge,
extension, return and approval as signed status messages (vendor codes 91-94), the answer as status 06.

Through the lab: a hub and two nodes as gunicorn processes with mutual TLS, the people working in the web UI,
the push/poll jobs run as the `vanban exchange` CLI; plus in-process cases for hostile or odd messages."""
from __future__ import annotations

import datetime as dt

import pytest

from conftest import PASSWORD
from exchange_lab import Lab, WebUser, query, use_db


@pytest.fixture
def lab(tmp_path, template):
    lab = Lab(tmp_path / "lab", template[0])
    yield lab
    lab.close()


def add_commune(node):
    """A commune hosted on node2 only (the lab's template database holds H19.42 and H19.43 on both nodes)."""
    from vanban.core import accounts, agencies
    from vanban.models import write_transaction

    db = use_db(node.data_dir)
    now = dt.datetime.now(dt.timezone(dt.timedelta(hours=7)))
    with write_transaction():
        xa = agencies.create_agency(now, None, code="H19.42.05", name="UBND xã Phước Thiền", abbreviation="UBND")
        accounts.create_user(now, None, xa, username="xaclerk", full_name="Phạm Thị Xã", password=PASSWORD,
                             roles="clerk,leader")
    db.close()


def events(node, table, task_id):
    return [r[0] for r in query(node, f"SELECT kind FROM {table} WHERE task_id = ? ORDER BY id", task_id)]


def relay(src, dst, sent, received):
    """One hop: src pushes, dst polls; the counts say exactly what travelled."""
    assert src.cli_json("exchange", "push")["sent"] == sent
    assert dst.cli_json("exchange", "poll") == {"received": received, "duplicate": 0, "refused": 0}


@pytest.mark.slow  # about a minute: two nodes and a hub, 30 runs of the CLI
def test_task_to_an_agency_on_another_server_travels_both_ways_exactly_once(lab):
    hub = lab.hub("hub", {"H19.42": ("UBND huyện Nhơn Trạch", "node1", "district"),
                          "H19.42.05": ("UBND xã Phước Thiền", "node2", "commune")})
    hub.start()
    node1, node2 = lab.node("node1", hub.url), lab.node("node2", hub.url)
    add_commune(node2)
    node1.start()
    node2.start()
    today = dt.date.today()
    leader, xa = WebUser(node1, "leader", PASSWORD), WebUser(node2, "xaclerk", PASSWORD)

    # node1: the district's leader gives the commune a task.
    deadline = today + dt.timedelta(days=10)
    r = leader.post("/tasks", {"source": "instruction", "title": "Rà soát hộ nghèo năm 2026",
                               "instruction": "Báo cáo danh sách hộ nghèo đã rà soát", "deadline": deadline.isoformat(),
                               "targets": "agency:H19.42.05"})
    assert r.status_code == 303, r.text[:500]
    task_id = int(r.headers["Location"].rsplit("/", 1)[1])
    relay(node1, node2, sent=1, received=1)  # the notice
    relay(node2, node1, sent=1, received=1)  # 01: arrived

    # node2: the commune sees it in its task list.
    page = xa.get("/tasks").text
    rid = int(page.split('data-received="')[1].split('"')[0])
    detail = xa.get(f"/tasks/received/{rid}").text
    assert "Rà soát hộ nghèo năm 2026" in detail and "Báo cáo danh sách hộ nghèo" in detail

    # node1: urge, then extend by five days.
    assert leader.post(f"/tasks/{task_id}/urge", {"text": "Đề nghị khẩn trương"}).status_code == 303
    extended = deadline + dt.timedelta(days=5)
    assert leader.post(f"/tasks/{task_id}/extend", {"deadline": extended.isoformat(),
                                                    "reason": "Xã đề nghị thêm thời gian"}).status_code == 303
    relay(node1, node2, sent=2, received=2)
    # The same two messages delivered again (a node that lost the hub's answer resends under a new id): no effect.
    execute(node1, "UPDATE exchange_outbox SET state = 'pending', message_id = 'resent-message-' || id "
                   "WHERE status_code IN ('91', '92')")
    assert node1.cli_json("exchange", "push")["sent"] == 2
    assert node2.cli_json("exchange", "poll") == {"received": 0, "duplicate": 2, "refused": 0}
    assert query(node2, "SELECT deadline, status FROM received_task WHERE id = ?", rid) == [
        (extended.isoformat(), "open")]

    # node2: the commune answers; node1 returns it; the commune answers again; node1 approves.
    assert xa.post(f"/tasks/received/{rid}/answer", {"text": "Đã rà soát 120 hộ"}).status_code == 303
    relay(node2, node1, sent=1, received=1)
    assert query(node1, "SELECT status, answer FROM task WHERE id = ?", task_id) == [("submitted", "Đã rà soát 120 hộ")]
    assert leader.post(f"/tasks/{task_id}/return", {"reason": "Thiếu danh sách kèm theo"}).status_code == 303
    relay(node1, node2, sent=1, received=1)
    assert query(node2, "SELECT status FROM received_task WHERE id = ?", rid) == [("open",)]
    assert xa.post(f"/tasks/received/{rid}/answer", {"text": "Đã rà soát 120 hộ, gửi kèm danh sách"}).status_code == 303
    relay(node2, node1, sent=1, received=1)
    assert leader.post(f"/tasks/{task_id}/approve", {"note": "Đạt yêu cầu"}).status_code == 303
    relay(node1, node2, sent=1, received=1)

    # Everything arrived exactly once, in order, on both sides.
    assert events(node1, "task_event", task_id) == ["create", "delivered", "urge", "extend", "external_answer",
                                                    "return", "external_answer", "approve"]
    assert events(node2, "received_task_event", rid) == ["create", "urge", "extend", "answer", "return", "answer",
                                                         "approve"]
    assert query(node1, "SELECT status FROM task WHERE id = ?", task_id) == [("done",)]
    assert query(node2, "SELECT status, answer FROM received_task WHERE id = ?", rid) == [
        ("done", "Đã rà soát 120 hộ, gửi kèm danh sách")]
    assert query(node1, "SELECT kind, state FROM work_outbox ORDER BY id") == [
        ("task_notice", "queued"), ("task_urge", "queued"), ("task_extend", "queued"), ("task_return", "queued"),
        ("task_approve", "queued")]
    kinds = sorted(k for (k,) in query(node2, "SELECT n.kind FROM notification n JOIN user u ON n.user_id = u.id "
                                              "WHERE u.username = 'xaclerk'"))
    assert kinds == ["assigned", "extended", "returned", "urged"]
    # Nothing is left in either outbox, nor waiting at the hub; and the notice is not a document in the figures.
    assert node1.cli_json("exchange", "push")["sent"] == 0 and node2.cli_json("exchange", "push")["sent"] == 0
    assert query(hub, "SELECT count(*) FROM hub_message WHERE state = 'queued'") == [(0,)]
    assert query(hub, "SELECT kind, task FROM hub_message WHERE kind = 'package'") == [("package", 1)]
    assert query(node2, "SELECT state FROM exchange_inbox WHERE kind = 'package'") == [("task",)]


def execute(node, sql, *params):
    import sqlite3

    con = sqlite3.connect(node.data_dir / "vanban.db", timeout=10)
    try:
        with con:
            con.execute(sql, params)
    finally:
        con.close()


# ---------------------------------------------------------------------------------------------- in-process
import io  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402

from vanban.exchange import Attachment, Organization, Package, build_package, build_status  # noqa: E402
from vanban.exchange.edxml import ResponseFor, StatusMessage  # noqa: E402

NOTICE_ID = "H19.50,2026/03/09,7/NHIEMVU"


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    from exchange_lab import node_identities

    return node_identities(tmp_path_factory.mktemp("task-keys"))


def signer(keys, name="node2"):
    from exchange_lab import dsig_signer

    return dsig_signer(keys, name)


@pytest.fixture
def node_ctx(app, data_dir, keys):
    from vanban.exchange.config import write_config

    shutil.copytree(keys / "node1", data_dir / "pki" / "exchange")
    write_config(data_dir, node_name="node1", hub_url="https://127.0.0.1:9")
    return app.ctx


def notice(keys, part=None, steering=1, number="7"):
    from vanban.exchange.tasks import TASK_PART_TYPE

    body = json.dumps(part if part is not None else {"version": 1, "task_id": 7, "title": "Báo cáo tiến độ",
                                                      "instruction": "Gửi báo cáo", "deadline": "2026-03-20"})
    atts = (Attachment("nhiemvu-json", "nhiem-vu.json", body.encode(), TASK_PART_TYPE),) if part != "none" else \
        (Attachment("a1", "cv.pdf", b"%PDF-1.4 steering"),)
    pkg = Package(from_org=Organization("H19.50", "UBND tỉnh"), to_orgs=(Organization("H19.42"),), code_number=number,
                  code_notation="NHIEMVU", promulgation_date=dt.date(2026, 3, 9), subject="Báo cáo tiến độ",
                  type_name="Phiếu giao nhiệm vụ", steering_type=steering, attachments=atts)
    return build_package(pkg, *signer(keys))


def status(keys, code, text, document_id=NOTICE_ID, frm="H19.50"):
    msg = StatusMessage(response_for=ResponseFor("H19.42", document_id=document_id), from_org=Organization(frm),
                        status_code=code, timestamp=dt.datetime(2026, 3, 10, 10, 0, tzinfo=dt.timezone.utc),
                        description=text)
    return build_status(msg, *signer(keys))


def deliver(ctx, data, hub_id):
    from vanban.exchange import node

    return node.receive(ctx, {"id": str(hub_id), "to": "H19.42", "message_id": f"m{hub_id}xxxxxxxx"}, io.BytesIO(data))


def received():
    from vanban.models.work import ReceivedTask

    return list(ReceivedTask.select())


def test_a_notice_becomes_a_received_task_once_and_is_answered_01(node_ctx, keys):
    from vanban.models.exchange import ExchangeInbox, ExchangeOutbox

    assert deliver(node_ctx, notice(keys), 1) == "received"
    assert deliver(node_ctx, notice(keys), 2) == "duplicate"
    (t,) = received()
    assert (t.title, t.deadline, t.status, t.from_organ, t.document_id) == (
        "Báo cáo tiến độ", dt.date(2026, 3, 20), "open", "H19.50", NOTICE_ID)
    assert [r.state for r in ExchangeInbox.select()] == ["task"]
    assert [(o.status_code, o.recipient) for o in ExchangeOutbox.select()] == [("01", "H19.50")]


def test_a_steering_document_without_the_task_part_goes_to_the_clerk(node_ctx, keys):
    from vanban.models.exchange import ExchangeInbox

    assert deliver(node_ctx, notice(keys, part="none"), 1) == "received"
    assert received() == [] and [r.state for r in ExchangeInbox.select()] == ["pending"]


def test_a_notice_with_an_unreadable_task_part_is_refused_02(node_ctx, keys):
    from vanban.models.exchange import ExchangeInbox, ExchangeOutbox

    assert deliver(node_ctx, notice(keys, part={"title": "x", "deadline": "20/03"}), 1) == "refused"
    assert received() == [] and ExchangeInbox.get().reason.startswith("task_part_invalid")
    assert [o.status_code for o in ExchangeOutbox.select()] == ["02"]


def test_follow_ups_apply_once_and_odd_ones_are_kept_without_effect(node_ctx, keys):
    from vanban.models.exchange import ExchangeInbox, ExchangeReceipt
    from vanban.models.work import ReceivedTaskEvent

    deliver(node_ctx, notice(keys), 1)
    (t,) = received()
    assert deliver(node_ctx, status(keys, "94", "Duyệt"), 2) == "received"  # nothing answered yet: ignored
    assert deliver(node_ctx, status(keys, "92", "20/3 thêm"), 3) == "received"  # no date: ignored
    assert deliver(node_ctx, status(keys, "97", "Mã lạ"), 4) == "received"  # unknown code: kept, no effect
    assert deliver(node_ctx, status(keys, "91", "Nhắc lần 1", frm="H19.51"), 5) == "received"  # not the assigner
    assert deliver(node_ctx, status(keys, "92", "2026/03/25 Thêm thời gian"), 6) == "received"
    assert deliver(node_ctx, status(keys, "92", "2026/03/25 Thêm thời gian"), 7) == "duplicate"
    (t,) = received()
    assert (t.status, t.deadline) == ("open", dt.date(2026, 3, 25))
    assert [e.kind for e in ReceivedTaskEvent.select().order_by(ReceivedTaskEvent.id)] == ["create", "extend"]
    reasons = [r.reason for r in ExchangeInbox.select().where(ExchangeInbox.kind == "status").order_by(ExchangeInbox.id)]
    assert reasons[:3] == [f"rtask:{t.id}:ignored:open", f"rtask:{t.id}:ignored:bad_date", f"rtask:{t.id}:unknown:97"]
    # H19.51 did not give this task: its status is an ordinary document status (a receipt), not a task event.
    assert reasons[3] == "" and ExchangeReceipt.get().recipient == "H19.51"


def test_an_answer_from_another_agency_does_not_touch_the_task(node_ctx, keys, world):
    from vanban.core import tasks
    from vanban.exchange.tasks import notice_document_id
    from vanban.models.schema import User

    leader = User.get(User.username == "leader")
    (task,) = tasks.create_tasks(node_ctx, leader, {"title": "Việc cho tỉnh", "instruction": "Làm ngay",
                                                    "deadline": "2026-03-20", "targets": ["agency:H19.50"]})
    document_id = notice_document_id(task)
    assert document_id == f"H19.42,2026/03/10,{task.id}/NHIEMVU"
    deliver(node_ctx, status(keys, "06", "Xong", document_id=document_id, frm="H19.51"), 1)
    assert tasks.Task.get_by_id(task.id).status == "open"
    deliver(node_ctx, status(keys, "06", "Đã làm xong", document_id=document_id), 2)
    deliver(node_ctx, status(keys, "06", "Làm lại lần nữa", document_id=document_id), 3)  # already submitted
    t = tasks.Task.get_by_id(task.id)
    assert (t.status, t.answer) == ("submitted", "Đã làm xong")
    assert [e.kind for e in tasks.events(t)] == ["create", "external_answer"]


def test_task_messages_wait_in_work_outbox_until_the_node_can_sign(node_ctx, keys, world):
    from vanban.core import tasks
    from vanban.exchange.tasks import drain_work_outbox
    from vanban.models.exchange import ExchangeOutbox
    from vanban.models.schema import User
    from vanban.models.work import WorkOutbox

    leader = User.get(User.username == "leader")
    (task,) = tasks.create_tasks(node_ctx, leader, {"title": "Việc cho tỉnh", "instruction": "Làm ngay",
                                                    "deadline": "2026-03-20", "targets": ["agency:H19.50"]})
    tasks.urge(node_ctx, leader, task.id, "Nhắc")
    key = node_ctx.settings.data_path / "pki" / "exchange" / "dsig.key"
    from vanban.exchange import node

    node._configs.clear()
    key.rename(key.with_suffix(".off"))
    assert drain_work_outbox(node_ctx) == {"queued": 0, "blocked": WorkOutbox.select().first().id}
    assert [w.state for w in WorkOutbox.select()] == ["pending", "pending"] and ExchangeOutbox.select().count() == 0
    key.with_suffix(".off").rename(key)
    node._configs.clear()
    assert drain_work_outbox(node_ctx) == {"queued": 2}
    assert drain_work_outbox(node_ctx) == {"queued": 0}
    rows = list(ExchangeOutbox.select().order_by(ExchangeOutbox.id))
    assert [(r.kind, r.status_code, r.recipient) for r in rows] == [("package", "", "H19.50"), ("status", "91", "H19.50")]


def test_a_broken_task_message_is_set_aside_and_the_push_goes_on(node_ctx, keys, world):
    from vanban.core import tasks
    from vanban.exchange.tasks import drain_work_outbox
    from vanban.models.schema import User
    from vanban.models.work import WorkOutbox

    leader = User.get(User.username == "leader")
    (task,) = tasks.create_tasks(node_ctx, leader, {"title": "Việc cho tỉnh", "instruction": "Làm ngay",
                                                    "deadline": "2026-03-20", "targets": ["agency:H19.50"]})
    tasks.urge(node_ctx, leader, task.id, "Nhắc")
    WorkOutbox.update(payload="{}").where(WorkOutbox.kind == "task_notice").execute()
    assert drain_work_outbox(node_ctx) == {"queued": 1}
    assert [(w.kind, w.state) for w in WorkOutbox.select().order_by(WorkOutbox.id)] == [
        ("task_notice", "failed"), ("task_urge", "queued")]


def test_a_delivered_notice_is_tracked_work_for_the_agency(node_ctx, keys, world):
    """Through the signed edXML path: the received task is on the clerk's dashboard (to answer), counted in the
    tracking report, and extended by a 92 its due-soon notice follows the new deadline (core/tracking.py)."""
    from vanban.core import tracking, work_reports
    from vanban.models.schema import User
    from vanban.models.work import Notification

    deliver(node_ctx, notice(keys), 1)
    (t,) = received()
    clerk = User.get(User.username == "clerk")
    today = node_ctx.clock.today()  # 10/03; deadline 20/03
    board = tracking.dashboard(clerk, today)
    assert [(i.kind, i.id, i.link) for i in board["to_answer"]] == [("received", t.id, f"/tasks/received/{t.id}")]
    assert board["counts"]["open"] == 1
    rows = work_reports.tracking_rows(clerk, "unit", None, None, today)
    assert [(r["group"], r["total"], r["open_on_time"]) for r in rows] == [("UBND huyện Nhơn Trạch", 1, 1)]
    node_ctx.clock.advance(days=8)  # 18/03: due soon
    assert tracking.scan_deadlines(node_ctx) == {"due_soon": 2, "overdue": 0}
    deliver(node_ctx, status(keys, "92", "2026/03/31 Thêm thời gian"), 2)
    assert tracking.scan_deadlines(node_ctx) == {"due_soon": 0, "overdue": 0}  # the new deadline is 31/03
    assert {n.link for n in Notification.select().where(Notification.kind == "due_soon")} == {
        f"/tasks/received/{t.id}"}
