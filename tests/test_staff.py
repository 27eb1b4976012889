"""Staff records (sơ yếu lý lịch) through the API: admins only; a move to another unit keeps the history."""
from __future__ import annotations

from test_tasks import Logins


def test_profile_move_and_history(client, world):
    h = Logins(client)
    spec = world.users["spec"]
    r = client.simulate_patch(f"/api/v1/staff/{spec}", json={
        "birth_date": "1990-05-12", "gender": "Nam", "birth_place": "Nhơn Trạch, Đồng Nai",
        "education": "Kỹ sư quản lý đất đai", "rank": "Chuyên viên"}, headers=h["admin"])
    assert r.status_code == 200, r.text
    assert r.json["profile"]["education"] == "Kỹ sư quản lý đất đai" and r.json["profile"]["birth_date"] == "1990-05-12"
    r = client.simulate_post(f"/api/v1/staff/{spec}/history", json={
        "kind": "education", "text": "Đại học Nông Lâm TP.HCM", "from_date": "2008-09-01",
        "to_date": "2012-07-01"}, headers=h["admin"])
    assert r.status_code == 200
    # Moved from TNMT to the office on 01/04: the old row closes the day before, the new one is current.
    r = client.simulate_post(f"/api/v1/staff/{spec}/move", json={
        "department_id": world.dept_vp, "position": "Phó Chánh Văn phòng", "effective": "2026-04-01"},
        headers=h["admin"])
    assert r.status_code == 200, r.text
    units = [x for x in r.json["history"] if x["kind"] == "unit"]
    assert [(u["department_id"], u["to_date"]) for u in units] == [(world.dept_tnmt, "2026-03-31"),
                                                                  (world.dept_vp, None)]
    assert units[1]["position"] == "Phó Chánh Văn phòng" and units[0]["unit_name"] == "Phòng Tài nguyên và Môi trường"
    assert r.json["user"]["department_id"] == world.dept_vp
    # A second move later keeps both earlier rows.
    r = client.simulate_post(f"/api/v1/staff/{spec}/move", json={"department_id": world.dept_tnmt,
                                                                 "effective": "2026-09-01"}, headers=h["admin"])
    assert [u["to_date"] for u in r.json["history"] if u["kind"] == "unit"] == ["2026-03-31", "2026-08-31", None]
    # Refusals change nothing: same unit and position, an effective date before the current one, another agency's unit.
    before = client.simulate_get(f"/api/v1/staff/{spec}", headers=h["admin"]).json
    for body in ({"department_id": world.dept_tnmt, "position": "Phó Chánh Văn phòng", "effective": "2026-10-01"},
                 {"department_id": world.dept_vp, "effective": "2026-08-01"},
                 {"department_id": 9999}):
        assert client.simulate_post(f"/api/v1/staff/{spec}/move", json=body, headers=h["admin"]).status_code == 422
    assert client.simulate_get(f"/api/v1/staff/{spec}", headers=h["admin"]).json == before


def test_admins_only(client, world):
    h = Logins(client)
    for who in ("leader", "head", "spec"):
        assert client.simulate_get("/api/v1/staff", headers=h[who]).status_code == 403
        assert client.simulate_post(f"/api/v1/staff/{world.users['spec2']}/move", json={
            "department_id": world.dept_vp}, headers=h[who]).status_code == 403
    # Another agency's admin does not find our people.
    assert client.simulate_get(f"/api/v1/staff/{world.users['spec']}", headers=h["otherclerk"]).status_code == 404
    assert len(client.simulate_get("/api/v1/staff", headers=h["admin"]).json["staff"]) == 7
    b = client.web_login("admin")
    assert "Huỳnh Ngọc Mai" in b.get("/staff").text
    page = b.get(f"/staff/{world.users['spec2']}")
    assert page.status_code == 200 and "Điều động" in page.text
    r = b.post_form(f"/staff/{world.users['spec2']}/move", {"department_id": str(world.dept_vp), "position": "",
                                                            "effective": "2026-03-15"})
    assert r.status_code == 303
    assert "Văn phòng HĐND và UBND" in b.get(f"/staff/{world.users['spec2']}").text
