"""Task tracking (nhắc việc) through the JSON API: assign from an instruction or a document to people, units and
agencies; urge, extend within limits, answer, approve or return; deadlines against the injected clock;
dashboards, notifications and the tracking report. Refusals change nothing."""
from __future__ import annotations

import io
import zipfile
from datetime import datetime

import pytest
from openpyxl import load_workbook

from conftest import incoming_fields, make_pdf, multipart


class Logins(dict):
    """Bearer headers per user name, logged in on first use (each login costs an argon2 verification)."""

    def __init__(self, client):
        super().__init__()
        self.client = client

    def __missing__(self, name):
        self[name] = self.client.api_login(name)
        return self[name]


@pytest.fixture
def h(client):
    return Logins(client)


def register_doc(client, headers, world, text="Quyết định giao đất", **over):
    """An incoming document registered by the clerk through the API, with a real PDF (scanned by clamd)."""
    files = [("files", "van-ban.pdf", make_pdf(text), "application/pdf")]
    body, ctype = multipart(incoming_fields(world, **over), files)
    r = client.simulate_post("/api/v1/documents", body=body, headers={**headers, "Content-Type": ctype})
    assert r.status_code == 201, r.text
    return r.json


def create(client, headers, **body):
    body.setdefault("instruction", "Tổng hợp báo cáo tình hình giải phóng mặt bằng quý I")
    body.setdefault("deadline", "2026-03-20")
    return client.simulate_post("/api/v1/tasks", json=body, headers=headers)


def act(client, headers, task_id, action, **body):
    return client.simulate_post(f"/api/v1/tasks/{task_id}/actions/{action}", json=body, headers=headers)


def unread(client, headers):
    return client.simulate_get("/api/v1/notifications", headers=headers).json


def test_assign_answer_approve_with_history_and_notifications(client, world, h):
    r = create(client, h["leader"], title="Báo cáo GPMB", targets=[f"dept:{world.dept_tnmt}",
                                                                     f"user:{world.users['vpspec']}"])
    assert r.status_code == 201, r.text
    dept_task, person_task = r.json["tasks"]
    assert dept_task["target_name"] == "Phòng Tài nguyên và Môi trường" and dept_task["state"] == "open"
    # The unit's head is told; so is the person.
    assert any("Báo cáo GPMB" in n["title"] for n in unread(client, h["head"])["items"])
    assert unread(client, h["head"])["unread"] == 1
    # A member of the unit answers for it; the leader approves.
    r = act(client, h["spec"], dept_task["id"], "answer", text="Đã hoàn thành, gửi kèm biểu số liệu.")
    assert r.status_code == 200 and r.json["task"]["status"] == "submitted"
    assert unread(client, h["leader"])["items"][0]["kind"] == "answered"
    r = act(client, h["leader"], dept_task["id"], "approve", note="Đồng ý")
    assert r.status_code == 200 and r.json["task"]["state"] == "done"
    assert [e["kind"] for e in r.json["events"]] == ["create", "answer", "approve"]
    # Someone outside the task does not even see it.
    assert client.simulate_get(f"/api/v1/tasks/{person_task['id']}", headers=h["spec"]).status_code == 404


def test_task_from_a_document(client, world, h):
    doc = register_doc(client, h["clerk"], world)
    r = create(client, h["leader"], source="document", document_id=doc["id"], instruction="",
               targets=[f"user:{world.users['spec']}"])
    assert r.status_code == 201, r.text
    task = r.json["tasks"][0]
    assert task["document_id"] == doc["id"] and task["title"].startswith("Quyết định về việc giao đất")
    # Another agency's document is not found, and nothing is created.
    before = client.simulate_get("/api/v1/tasks", headers=h["leader"]).json["total"]
    r = create(client, h["leader"], source="document", document_id=999999, targets=[f"user:{world.users['spec']}"])
    assert r.status_code == 404
    assert client.simulate_get("/api/v1/tasks", headers=h["leader"]).json["total"] == before


def test_urge_is_logged_and_reaches_the_assignee(client, world, h):
    t = create(client, h["leader"], title="Rà soát hồ sơ đất", targets=[f"user:{world.users['spec2']}"]).json["tasks"][0]
    r = act(client, h["leader"], t["id"], "urge", text="Đề nghị khẩn trương hoàn thành")
    assert r.status_code == 200
    assert r.json["events"][-1]["kind"] == "urge" and "khẩn trương" in r.json["events"][-1]["text"]
    kinds = [n["kind"] for n in unread(client, h["spec2"])["items"]]
    assert kinds.count("urged") == 1 and kinds.count("assigned") == 1
    # The assignee cannot urge himself.
    assert act(client, h["spec2"], t["id"], "urge").status_code == 403


def test_extension_limits_per_role(client, world, h):
    t = create(client, h["clerk"], title="Cập nhật danh bạ", deadline="2026-03-20",
               targets=[f"user:{world.users['vpspec']}"]).json["tasks"][0]
    # A clerk may move a deadline 5 days past the original one, no further, and needs a reason.
    r = act(client, h["clerk"], t["id"], "extend", deadline="2026-03-26", reason="Chờ số liệu")
    assert r.status_code == 403 and r.json["error"]["code"] == "extension_beyond_limit"
    assert "25/03/2026" in r.json["error"]["message"]
    assert act(client, h["clerk"], t["id"], "extend", deadline="2026-03-24", reason="").status_code == 422
    after = client.simulate_get(f"/api/v1/tasks/{t['id']}", headers=h["clerk"]).json
    assert after["task"]["deadline"] == "2026-03-20" and [e["kind"] for e in after["events"]] == ["create"]
    r = act(client, h["clerk"], t["id"], "extend", deadline="2026-03-25", reason="Chờ số liệu của xã")
    assert r.status_code == 200 and r.json["task"]["deadline"] == "2026-03-25"
    assert r.json["task"]["original_deadline"] == "2026-03-20"
    # Counted from the original deadline: a second small step past the limit is refused too.
    assert act(client, h["clerk"], t["id"], "extend", deadline="2026-03-26", reason="x").status_code == 403
    # The leader may grant up to 30 days.
    assert act(client, h["leader"], t["id"], "extend", deadline="2026-04-19", reason="Theo đề nghị").status_code == 200
    assert act(client, h["leader"], t["id"], "extend", deadline="2026-04-20", reason="x").status_code == 403
    # The assignee cannot extend her own deadline.
    assert act(client, client.api_login("vpspec"), t["id"], "extend", deadline="2026-04-25",
               reason="x").status_code == 403


def test_approving_ones_own_task_is_refused(client, world, h):
    t = create(client, h["leader"], title="Tự kiểm tra", targets=[f"user:{world.users['leader']}"]).json["tasks"][0]
    assert act(client, h["leader"], t["id"], "answer", text="Đã xong").status_code == 200
    r = act(client, h["leader"], t["id"], "approve")
    assert r.status_code == 403 and r.json["error"]["code"] == "approve_own_task"
    assert "chính mình" in r.json["error"]["message"]
    after = client.simulate_get(f"/api/v1/tasks/{t['id']}", headers=h["leader"]).json
    assert after["task"]["status"] == "submitted" and after["events"][-1]["kind"] == "answer"


def test_return_reopens_and_tells_why(client, world, h):
    t = create(client, h["leader"], title="Báo cáo tiến độ", targets=[f"user:{world.users['spec']}"]).json["tasks"][0]
    act(client, h["spec"], t["id"], "answer", text="Sơ bộ")
    r = act(client, h["leader"], t["id"], "return", reason="Thiếu số liệu xã Phú Hữu")
    assert r.status_code == 200 and r.json["task"]["status"] == "open"
    assert any(n["kind"] == "returned" for n in unread(client, h["spec"])["items"])
    assert act(client, h["leader"], t["id"], "approve").status_code == 409  # nothing to approve now


def test_deadlines_follow_the_injected_clock(client, world, h, clock):
    from vanban.core import tasks

    ctx = client.app.ctx
    t = create(client, h["leader"], title="Kiểm kê tài sản", deadline="2026-03-12",
               targets=[f"user:{world.users['spec']}"]).json["tasks"][0]
    board = client.simulate_get("/api/v1/tasks", headers=h["leader"]).json
    assert t["id"] in board["lists"]["due_soon"] and board["counts"]["overdue"] == 0
    assert tasks.scan_deadlines(ctx) == {"due_soon": 1, "overdue": 0}
    assert tasks.scan_deadlines(ctx) == {"due_soon": 0, "overdue": 0}  # once per task and deadline
    clock.advance(days=3)  # 13/03: one day late (sessions expire after 10 idle hours: log in again)
    h.update(leader=client.api_login("leader"))
    board = client.simulate_get("/api/v1/tasks", headers=h["leader"]).json
    assert t["id"] in board["lists"]["overdue"] and board["counts"]["overdue"] == 1
    assert tasks.scan_deadlines(ctx) == {"due_soon": 0, "overdue": 2}  # assignee and assigner
    kinds = [n["kind"] for n in unread(client, h["leader"])["items"]]
    assert "overdue" in kinds
    # A deadline in the past is refused at creation, against the same clock.
    r = create(client, h["leader"], title="x", deadline="2026-03-12", targets=[f"user:{world.users['spec']}"])
    assert r.status_code == 422 and r.json["error"]["code"] == "bad_date:deadline"


def test_agencies_local_and_remote(client, world, h):
    from vanban.core import tasks
    from vanban.models.work import WorkOutbox

    r = create(client, h["leader"], title="Phối hợp cắm mốc ranh giới", targets=["agency:H19.43", "agency:H19.99"])
    assert r.status_code == 201, r.text
    local, remote = r.json["tasks"]
    assert local["target_name"] == "UBND huyện Long Thành" and remote["target_name"] == "H19.99"
    # The agency hosted on this server answers in the app.
    board = client.simulate_get("/api/v1/tasks", headers=h["otherclerk"]).json
    assert local["id"] in board["lists"]["to_answer"]
    assert act(client, h["otherclerk"], local["id"], "answer", text="Đã cử cán bộ phối hợp").status_code == 200
    assert act(client, h["otherclerk"], local["id"], "approve").status_code == 403  # not the assigning side
    # The one elsewhere gets the task over the exchange (work_outbox) and its answer comes back the same way.
    rows = list(WorkOutbox.select().where(WorkOutbox.task == remote["id"]))
    assert [(w.kind, w.recipient_code, w.state) for w in rows] == [("task_notice", "H19.99", "pending")]
    assert act(client, h["leader"], remote["id"], "urge", text="Nhắc").status_code == 200
    assert WorkOutbox.select().where(WorkOutbox.task == remote["id"]).count() == 2
    from vanban.errors import NotFound

    with pytest.raises(NotFound):  # only the agency the task went to may answer it
        tasks.record_external_answer(client.app.ctx, remote["id"], "H19.50", "giả mạo")
    tasks.record_external_answer(client.app.ctx, remote["id"], "H19.99", "Đã thực hiện xong")
    got = client.simulate_get(f"/api/v1/tasks/{remote['id']}", headers=h["leader"]).json
    assert got["task"]["status"] == "submitted" and got["events"][-1]["kind"] == "external_answer"
    # Bad targets: own agency, unknown code, nothing created.
    for bad in (["agency:H19.42"], ["agency:not a code"], ["user:99999"], []):
        assert create(client, h["leader"], title="x", targets=bad).status_code == 422


def test_tracking_report_by_unit_person_period(client, world, h, clock):
    create(client, h["leader"], title="A", deadline="2026-03-11", targets=[f"user:{world.users['spec']}",
                                                                            f"user:{world.users['vpspec']}"])
    done = create(client, h["leader"], title="B", targets=[f"dept:{world.dept_tnmt}"]).json["tasks"][0]
    act(client, h["head"], done["id"], "answer", text="xong")
    act(client, h["leader"], done["id"], "approve")
    clock.advance(days=5)
    h.update(leader=client.api_login("leader"))
    rows = client.simulate_get("/api/v1/work-reports/tasks?group=unit&from=2026-03-01&to=2026-03-31",
                               headers=h["leader"]).json["rows"]
    by = {r["group"]: r for r in rows}
    assert by["Phòng Tài nguyên và Môi trường"]["total"] == 2
    assert by["Phòng Tài nguyên và Môi trường"]["done_on_time"] == 1
    assert by["Phòng Tài nguyên và Môi trường"]["open_overdue"] == 1
    assert by["Văn phòng HĐND và UBND"]["open_overdue"] == 1
    people = client.simulate_get("/api/v1/work-reports/tasks?group=person&from=2026-03-01",
                                 headers=h["leader"]).json["rows"]
    assert {r["group"] for r in people} >= {"Đặng Quốc Bảo", "Mai Thị Kim"}
    months = client.simulate_get("/api/v1/work-reports/tasks?group=period&from=2026-03-01",
                                 headers=h["leader"]).json["rows"]
    assert months == [{**months[0], "group": "03/2026", "total": 3}]
    x = client.simulate_get("/api/v1/work-reports/tasks?group=unit&from=2026-03-01&format=xlsx", headers=h["leader"])
    assert x.status_code == 200 and x.headers["content-type"].startswith("application/vnd.openxmlformats")
    ws = load_workbook(io.BytesIO(x.content)).active
    cells = [c for row in ws.iter_rows(values_only=True) for c in row if c is not None]
    assert "Báo cáo theo dõi, đôn đốc thực hiện nhiệm vụ".upper() in [str(c).upper() for c in cells]
    assert any(n.startswith("xl/charts/chart") for n in zipfile.ZipFile(io.BytesIO(x.content)).namelist())
    pdf = client.simulate_get("/api/v1/work-reports/tasks?group=person&format=pdf", headers=h["leader"])
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert client.simulate_get("/api/v1/work-reports/tasks?group=weekday", headers=h["leader"]).status_code == 422


def test_web_pages_render(client, world):
    b = client.web_login("leader")
    r = b.post_form("/tasks", {"source": "instruction", "title": "Kiểm tra", "instruction": "Kiểm tra thực địa",
                               "deadline": "2026-03-25", "targets": [f"user:{world.users['spec']}",
                                                                     f"dept:{world.dept_vp}"]})
    assert r.status_code == 303 and r.headers["location"].endswith("/tasks")
    page = b.get("/tasks")
    assert page.status_code == 200 and page.text.count('data-task="') == 2
    assert "Nhắc việc" in page.text and 'id="nav-notifications"' in page.text
    assert b.get("/tasks/new").status_code == 200
    assert b.get("/work-reports/tasks?group=unit").status_code == 200


def test_created_at_is_local_time(client, world, h):
    t = create(client, h["leader"], title="x", targets=[f"user:{world.users['spec']}"]).json["tasks"][0]
    assert datetime.fromisoformat(t["created_at"]) == datetime(2026, 3, 10, 9, 0)


def _system_signing_key(data_dir):
    """A throwaway XML-DSig key for this node, generated at test time (exchange.toml defaults: pki/exchange)."""
    from datetime import timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    pki = data_dir / "pki" / "exchange"
    pki.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "node1")])
    now = datetime(2026, 1, 1)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + timedelta(days=3650))
            .sign(key, hashes.SHA256()))
    (pki / "dsig.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                     serialization.NoEncryption()))
    (pki / "dsig.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def test_answer_to_an_exchanged_document_goes_back_over_the_exchange(client, world, h, data_dir, clock):
    """A document that came from another agency through the exchange becomes a task; the approved answer
    returns to the sender as a signed edXML status 06 in the exchange's outbox."""
    from vanban.exchange import parse_status
    from vanban.models.exchange import ExchangeInbox, ExchangeOutbox

    _system_signing_key(data_dir)
    doc = register_doc(client, h["clerk"], world)
    ExchangeInbox.create(hub_id="7", dedup_key="H19.10,2026/03/05,125/UBND-VX|H19.42", kind="package",
                         agency_code="H19.42", sender="H19.10", sender_name="UBND tỉnh Đồng Nai",
                         document_id="H19.10,2026/03/05,125/UBND-VX", subject=doc["subject"], state="accepted",
                         local_document=doc["id"], received_at=clock.local())
    t = create(client, h["leader"], source="document", document_id=doc["id"], instruction="Báo cáo tỉnh",
               targets=[f"dept:{world.dept_tnmt}"]).json["tasks"][0]
    act(client, h["head"], t["id"], "answer", text="Đã giao 1.250 m² cho hộ ông Nguyễn Văn A")
    assert ExchangeOutbox.select().count() == 0  # nothing leaves before the assigning side approves
    assert act(client, h["leader"], t["id"], "approve").status_code == 200
    row = ExchangeOutbox.get()
    assert (row.kind, row.status_code, row.recipient, row.agency_code) == ("status", "06", "H19.10", "H19.42")
    from cryptography import x509

    ours = x509.load_pem_x509_certificates((data_dir / "pki" / "exchange" / "dsig.crt").read_bytes())
    msg = parse_status(client.app.ctx.blobs.path(row.blob_sha).read_bytes(), trusted_certs=ours)
    assert "1.250 m²" in msg.description and msg.response_for.document_id == "H19.10,2026/03/05,125/UBND-VX"


def test_handling_reports_and_agency_figures(client, world, h, clock):
    """DOMAIN §10 handling reports and the §12 per-agency figures, as rows, XLSX (with a chart) and PDF."""
    doc = register_doc(client, h["clerk"], world, deadline="2026-03-12")
    register_doc(client, h["clerk"], world, number_notation="126/UBND-VX")
    client.simulate_post(f"/api/v1/documents/{doc['id']}/actions/present", json={"leader_id": world.users["leader"]},
                         headers=h["clerk"])
    client.simulate_post(f"/api/v1/documents/{doc['id']}/actions/assign", json={
        "instruction": "TNMT chủ trì", "lead": {"to": f"dept:{world.dept_tnmt}", "deadline": "2026-03-12"}},
        headers=h["leader"])
    clock.advance(days=3)
    admin, leader = client.api_login("admin"), client.api_login("leader")
    rows = client.simulate_get("/api/v1/work-reports/incoming-handling?from=2026-03-01", headers=leader).json["rows"]
    by = {r["unit"]: r for r in rows}
    assert by["Phòng Tài nguyên và Môi trường"]["pending_overdue"] == 1
    assert by["Chưa giao xử lý"]["pending_on_time"] == 1
    out = client.simulate_get("/api/v1/work-reports/outgoing-handling?from=2026-03-01", headers=leader)
    assert out.status_code == 200 and out.json["rows"] == []  # nothing issued in this period
    figures = client.simulate_get("/api/v1/work-reports/agency-figures?from=2026-03-01", headers=admin).json["rows"]
    ours = next(r for r in figures if r["agency"] == "UBND huyện Nhơn Trạch")
    assert ours["incoming"] == 2 and ours["incoming_electronic_rate"] == 100.0
    assert ours["incoming_handled_rate"] == 50.0 and ours["users_active_rate"] > 0
    assert client.simulate_get("/api/v1/work-reports/agency-figures", headers=leader).status_code == 403
    for name in ("incoming-handling", "outgoing-handling", "agency-figures"):
        x = client.simulate_get(f"/api/v1/work-reports/{name}?from=2026-03-01&format=xlsx", headers=admin)
        assert x.status_code == 200 and zipfile.ZipFile(io.BytesIO(x.content)).namelist()
        p = client.simulate_get(f"/api/v1/work-reports/{name}?from=2026-03-01&format=pdf", headers=admin)
        assert p.status_code == 200 and p.content.startswith(b"%PDF")
    x = client.simulate_get("/api/v1/work-reports/agency-figures?from=2026-03-01&format=xlsx", headers=admin)
    assert any(n.startswith("xl/charts/") for n in zipfile.ZipFile(io.BytesIO(x.content)).namelist())
