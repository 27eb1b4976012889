"""Calendar programs subscribe through a secret address; a wrong token or a changed password closes it."""
from __future__ import annotations


def test_subscription_address_serves_the_feed_without_login(client, world, data_dir):
    b = client.web_login("spec")
    page = b.get("/calendar/subscribe")
    assert page.status_code == 200
    url = page.text.split('id="feed-mine">')[1].split("<")[0]
    path = url.split("://", 1)[1].split("/", 1)[1]
    r = client.simulate_get("/" + path)
    assert r.status_code == 200 and r.text.startswith("BEGIN:VCALENDAR")
    assert (data_dir / "secret.key").stat().st_mode & 0o777 == 0o600
    forged = "/" + path[:-8] + "00000000.ics"
    assert client.simulate_get(forged).status_code == 404
    other_scope = "/" + path.replace("/mine/", "/agency/")
    assert client.simulate_get(other_scope).status_code == 404  # a token is bound to its scope
    admin = client.api_login("admin")
    client.simulate_patch(f"/api/v1/admin/users/{world.users['spec']}", json={"full_name": "Đặng Quốc Bảo"},
                          headers=admin)
    assert client.simulate_get("/" + path).status_code == 200  # other changes keep the address
    import os

    from vanban.cli import main

    os.environ["VANBAN_PASSWORD"] = "mat-khau-moi-dai"
    try:
        assert main(["--data", str(data_dir), "reset-password", "spec"]) == 0
    finally:
        del os.environ["VANBAN_PASSWORD"]
    assert client.simulate_get("/" + path).status_code == 404  # a new password revokes it
