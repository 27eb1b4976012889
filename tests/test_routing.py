"""Routing end to end (clerk → leader → unit head → specialist), inbox tabs, overdue against the clock,
the permission matrix and confidential visibility."""
from __future__ import annotations

from datetime import datetime

import pytest

from conftest import incoming_fields, make_pdf, multipart
from vanban.clock import VN


def register(client, h, world, **over):
    body, ctype = multipart(incoming_fields(world, **over), [("files", "vb.pdf", make_pdf("Văn bản"), "application/pdf")])
    r = client.simulate_post("/api/v1/documents", body=body, headers={**h, "Content-Type": ctype})
    assert r.status_code == 201, r.text
    return r.json["id"]


def act(client, h, doc_id, action, **body):
    return client.simulate_post(f"/api/v1/documents/{doc_id}/actions/{action}", json=body, headers=h)


@pytest.fixture
def people(client):
    return {u: client.api_login(u) for u in ("clerk", "leader", "head", "spec", "spec2", "vpspec", "otherclerk")}


def states(client, h, doc_id):
    root = client.simulate_get(f"/api/v1/documents/{doc_id}/routing", headers=h).json["root"]
    out = {}

    def walk(n):
        out[n["label"]] = n["state"]
        for c in n["children"]:
            walk(c)

    walk(root)
    return out


def test_full_flow_closes_the_document(client, world, people):
    doc = register(client, people["clerk"], world)
    assert act(client, people["clerk"], doc, "present", leader_id=world.users["leader"]).status_code == 200
    assert client.simulate_get("/api/v1/inbox", headers=people["leader"]).json["counters"]["todo"] == 1
    r = act(client, people["leader"], doc, "assign", instruction="Giao phòng TNMT chủ trì, báo cáo trước hạn.",
            lead={"to": f"dept:{world.dept_tnmt}", "deadline": "2026-03-18"},
            co=[{"to": f"user:{world.users['vpspec']}", "deadline": "2026-03-16"}],
            info=[{"to": f"user:{world.users['spec2']}"}])
    assert r.status_code == 200, r.text
    assert [a["role"] for a in r.json["assignments"]] == ["lead", "co", "info"]
    assert client.simulate_get("/api/v1/inbox", headers=people["leader"]).json["counters"]["todo"] == 0
    head_inbox = client.simulate_get("/api/v1/inbox", headers=people["head"]).json
    assert head_inbox["counters"]["todo"] == 1 and head_inbox["items"][0]["role"] == "lead"
    assert client.simulate_get("/api/v1/inbox?tab=info", headers=people["spec2"]).json["counters"]["info"] == 1
    r = act(client, people["head"], doc, "reassign", instruction="Đồng chí Bảo xử lý.",
            lead={"to": f"user:{world.users['spec']}", "deadline": "2026-03-17"})
    assert r.status_code == 200, r.text
    assert act(client, people["spec"], doc, "comment", text="Đã kiểm tra hồ sơ.").status_code == 200
    assert act(client, people["spec"], doc, "forward", to_user_id=world.users["spec2"], role="co",
               note="Nhờ chị Mai rà soát").status_code == 200
    s = states(client, people["spec"], doc)
    assert s["Đặng Quốc Bảo"] == "in_progress" and s["Huỳnh Ngọc Mai"] in ("waiting",)
    r = act(client, people["spec"], doc, "complete", note="Đã dự thảo văn bản trả lời.")
    assert r.status_code == 200 and r.json["document"]["status"] == "done"
    s = states(client, people["clerk"], doc)
    assert s["Đặng Quốc Bảo"] == "done" and s["Phòng Tài nguyên và Môi trường (Võ Thanh Tùng)"] == "done"
    assert s["Mai Thị Kim"] == "waiting"  # the co-handler's own part is still open
    assert client.simulate_get("/api/v1/inbox?tab=done", headers=people["spec"]).json["counters"]["done"] == 1


def test_overdue_follows_the_injected_clock(client, world, people, clock):
    doc = register(client, people["clerk"], world, deadline="2026-03-12")
    act(client, people["clerk"], doc, "present", leader_id=world.users["leader"])
    act(client, people["leader"], doc, "assign", instruction="Xử lý.",
        lead={"to": f"user:{world.users['spec']}", "deadline": "2026-03-12"})
    inbox = client.simulate_get("/api/v1/inbox", headers=people["spec"]).json
    assert inbox["counters"]["overdue"] == 0 and inbox["items"][0]["status"] == "waiting"
    clock.set(datetime(2026, 3, 12, 17, 0, tzinfo=VN))  # the deadline day itself is not late
    people["spec"] = client.api_login("spec")  # two days later: a new session
    assert client.simulate_get("/api/v1/inbox", headers=people["spec"]).json["counters"]["overdue"] == 0
    clock.set(datetime(2026, 3, 13, 8, 0, tzinfo=VN))
    people["spec"] = client.api_login("spec")
    inbox = client.simulate_get("/api/v1/inbox?tab=overdue", headers=people["spec"]).json
    assert inbox["counters"]["overdue"] == 1 and inbox["items"][0]["status"] == "overdue"
    assert states(client, people["spec"], doc)["Đặng Quốc Bảo"] == "overdue"


# (actor, action, expected status) on a document presented to the leader
MATRIX = [
    ("spec", "present", 403), ("head", "assign", 403), ("clerk", "assign", 403), ("spec", "assign", 403),
    ("spec", "complete", 403), ("vpspec", "comment", 403), ("spec", "reassign", 403),
]


def test_permission_matrix(client, world, people):
    doc = register(client, people["clerk"], world)
    act(client, people["clerk"], doc, "present", leader_id=world.users["leader"])
    bodies = {"present": {"leader_id": world.users["leader"]}, "comment": {"text": "x"},
              "assign": {"instruction": "x", "lead": {"to": f"user:{world.users['spec']}"}},
              "reassign": {"instruction": "x", "lead": {"to": f"user:{world.users['spec']}"}}, "complete": {}}
    for actor, action, expected in MATRIX:
        r = act(client, people[actor], doc, action, **bodies[action])
        assert r.status_code == expected, (actor, action, r.text)
    # another agency's clerk sees nothing of it: the id answers "not found"
    assert client.simulate_get(f"/api/v1/documents/{doc}", headers=people["otherclerk"]).status_code == 404
    assert act(client, people["otherclerk"], doc, "assign", **bodies["assign"]).status_code == 404
    # the unit head may only hand the unit's part to people of the unit
    act(client, people["leader"], doc, "assign", instruction="x", lead={"to": f"dept:{world.dept_tnmt}"})
    r = act(client, people["head"], doc, "reassign", instruction="x", lead={"to": f"user:{world.users['vpspec']}"})
    assert r.status_code == 422 and r.json["error"]["code"] == "assignee_outside_unit"


def test_confidential_document_only_for_its_assignees(client, world, people):
    doc = register(client, people["clerk"], world, confidentiality="1", register_id=str(world.secret_register_id),
                   subject="Kế hoạch bảo vệ bí mật nhà nước về đất đai")
    for user in ("spec", "head", "vpspec", "leader"):
        assert client.simulate_get(f"/api/v1/documents/{doc}", headers=people[user]).status_code == 404, user
    act(client, people["clerk"], doc, "present", leader_id=world.users["leader"])
    assert client.simulate_get(f"/api/v1/documents/{doc}", headers=people["leader"]).status_code == 200
    act(client, people["leader"], doc, "assign", instruction="Mật.", lead={"to": f"user:{world.users['spec']}"})
    assert client.simulate_get(f"/api/v1/documents/{doc}", headers=people["spec"]).status_code == 200
    assert client.simulate_get(f"/api/v1/documents/{doc}", headers=people["spec2"]).status_code == 404
    found = lambda who: client.simulate_get("/api/v1/search?q=bi mat nha nuoc", headers=people[who]).json["total"]  # noqa: E731
    assert found("spec") == 1 and found("spec2") == 0 and found("vpspec") == 0


def test_bad_routing_input(client, world, people):
    doc = register(client, people["clerk"], world)
    act(client, people["clerk"], doc, "present", leader_id=world.users["leader"])
    cases = [
        ({"instruction": "x"}, "missing:lead"),
        ({"instruction": "x", "lead": {"to": "user:99999"}}, "assignee_invalid"),
        ({"instruction": "x", "lead": {"to": f"user:{world.users['otherclerk']}"}}, "assignee_invalid"),
        ({"instruction": "x", "lead": {"to": f"user:{world.users['spec']}", "deadline": "2026-01-01"}}, "bad_date:deadline"),
        ({"instruction": "x", "lead": {"to": f"user:{world.users['spec']}"},
          "co": [{"to": f"user:{world.users['spec']}"}]}, "assignee_duplicate"),
        ({"instruction": "", "lead": {"to": f"user:{world.users['spec']}"}}, "missing:i"),
        ({"instruction": "x", "lead": "spec"}, "invalid:lead"),
    ]
    for body, code in cases:
        r = act(client, people["leader"], doc, "assign", **body)
        assert r.status_code == 422 and r.json["error"]["code"] == code, (body, r.text)
    assert states(client, people["leader"], doc)["Lê Văn Hùng"] == "waiting"  # nothing was assigned
    assert act(client, people["leader"], doc, "explode").status_code == 404


def test_web_pages_show_inbox_and_diagram(client, world, people):
    doc = register(client, people["clerk"], world)
    act(client, people["clerk"], doc, "present", leader_id=world.users["leader"])
    b = client.web_login("leader")
    inbox = b.get("/inbox")
    assert inbox.status_code == 200 and "Quyết định về việc giao đất đai" in inbox.text
    r = b.post_form(f"/documents/{doc}/assign", {"instruction": "Giao TNMT", "lead_to": f"dept:{world.dept_tnmt}",
                                                 "lead_deadline": "2026-03-20", "co_to": ["", ""], "co_deadline": ["", ""],
                                                 "info_to": [f"user:{world.users['spec2']}"]})
    assert r.status_code == 303, r.text
    page = b.get(f"/documents/{doc}")
    assert 'data-state="waiting"' in page.text and 'data-state="done"' in page.text
    assert "Giao TNMT" in page.text


def test_document_page_for_every_role_in_the_flow(client, world, people):
    """Each participant opens the page while their part is open: the page offers them their own actions."""
    doc = register(client, people["clerk"], world)
    act(client, people["clerk"], doc, "present", leader_id=world.users["leader"])
    act(client, people["leader"], doc, "assign", instruction="x", lead={"to": f"dept:{world.dept_tnmt}"},
        info=[{"to": f"user:{world.users['vpspec']}"}])
    head_page = client.web_login("head").get(f"/documents/{doc}")
    assert head_page.status_code == 200 and 'id="form-reassign"' in head_page.text
    act(client, people["head"], doc, "reassign", instruction="x", lead={"to": f"user:{world.users['spec']}"})
    spec_page = client.web_login("spec").get(f"/documents/{doc}")
    assert spec_page.status_code == 200
    assert all(f'id="form-{f}"' in spec_page.text for f in ("comment", "forward", "complete"))
    info_page = client.web_login("vpspec").get(f"/documents/{doc}")
    assert info_page.status_code == 200 and "Đánh dấu đã xem" in info_page.text


def test_cached_inbox_page_follows_every_change(client, world, people, data_dir):
    """The rendered inbox is cached per session until the database changes: a change made through the app
    (this connection) or by another process (another connection) shows on the next load."""
    import sqlite3

    b = client.web_login("spec")
    assert "Không có văn bản" in b.get("/inbox").text
    doc = register(client, people["clerk"], world)
    act(client, people["clerk"], doc, "present", leader_id=world.users["leader"])
    act(client, people["leader"], doc, "assign", instruction="x", lead={"to": f"user:{world.users['spec']}"})
    assert "Quyết định về việc giao đất đai" in b.get("/inbox").text
    con = sqlite3.connect(data_dir / "vanban.db")  # another process's connection
    con.execute("UPDATE document SET subject = 'Trích yếu đã sửa ở nơi khác' WHERE id = ?", (doc,))
    con.commit()
    con.close()
    assert "Trích yếu đã sửa ở nơi khác" in b.get("/inbox").text
    con = sqlite3.connect(data_dir / "vanban.db")
    con.execute("DELETE FROM session")  # sessions ended elsewhere (e.g. password reset by the CLI)
    con.commit()
    con.close()
    assert b.get("/inbox").status_code == 303
