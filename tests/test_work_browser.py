"""Issue 9 in a real browser: task tracking (assign → answer → approve, a refused extension, an overdue task once the
server's clock moves) and the work calendar (room, meeting, refused double booking, conflict shown, published
week), served by a real gunicorn and driven in Debian's headless Chromium (helpers: tests/browser.py)."""
from __future__ import annotations

from datetime import datetime

import pytest

from browser import FileClock, Server, launch_chromium, login
from conftest import PASSWORD, T0

pytestmark = pytest.mark.browser


@pytest.fixture
def server(data_dir, tmp_path):
    clock_file = tmp_path / "now"
    FileClock.set(clock_file, T0)
    srv = Server(data_dir, clock_file, tmp_path / "gunicorn.log").start()  # no uploads here: no clamd needed
    yield srv
    srv.stop()
    print(srv.log())


@pytest.fixture
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        yield browser
        browser.close()


def test_tracking_and_calendar_in_the_browser(server, chromium, world):
    leader = login(chromium, server.url, "leader", PASSWORD)
    spec = login(chromium, server.url, "spec", PASSWORD)
    _tracking(chromium, server, leader, spec)
    _received(chromium, server)
    _calendar(chromium, server, world)


def _assign(page, title, deadline, target):
    page.goto("/tasks/new")
    page.fill("input[name=title]", title)
    page.fill("textarea[name=instruction]", "Báo cáo kết quả bằng văn bản")
    page.fill("input[name=deadline]", deadline)
    page.select_option("select[name=targets]", [target])
    page.click("#task-form button[type=submit]")
    page.wait_for_url("**/tasks/*")
    return page.url.rsplit("/", 1)[1]


def _tracking(chromium, server, leader, spec):
    from vanban.models.schema import User

    spec_id = User.get(User.username == "spec").id
    task_id = _assign(leader, "Rà soát quỹ đất công xã Phú Hữu", "2026-03-20", f"user:{spec_id}")
    assert leader.inner_text("#task-state") == "Đang thực hiện"
    # The assignee sees the new task on the counter, answers it.
    spec.goto("/tasks")
    assert spec.inner_text("#notification-count") == "1"
    spec.click(f"tr[data-task='{task_id}'] a")
    spec.fill("#answer-form textarea[name=text]", "Đã rà soát 14 thửa, lập danh sách kèm theo")
    spec.click("#answer-form button[type=submit]")
    spec.wait_for_selector("#task-state[data-state=submitted]")
    # The leader cannot extend further than 30 days past the original deadline: a clear refusal.
    leader.goto(f"/tasks/{task_id}")
    leader.fill("#extend-form input[name=deadline]", "2026-05-01")
    leader.fill("#extend-form input[name=reason]", "Chờ ý kiến Sở")
    leader.click("#extend-form button[type=submit]")
    assert "tối đa 30 ngày" in leader.inner_text("p.error")
    leader.goto(f"/tasks/{task_id}")
    assert leader.inner_text("#task-deadline") == "20/03/2026"
    leader.click("#approve-form button[type=submit]")
    leader.wait_for_selector("#task-state[data-state=done]")
    assert [e.get_attribute("data-kind") for e in leader.query_selector_all("#task-events li")] == [
        "create", "answer", "approve"]
    # A second task passes its deadline when the server's clock moves on: red on the dashboard.
    late_id = _assign(leader, "Tổng hợp số liệu quý I", "2026-03-12", f"user:{spec_id}")
    FileClock.set(server.clock_file, datetime(2026, 3, 13, 8, 0, tzinfo=T0.tzinfo))
    leader = login(chromium, server.url, "leader", PASSWORD)  # three days idle: the session has expired
    leader.goto("/tasks")
    row = leader.locator(f"tr[data-task='{late_id}']")
    assert row.get_attribute("data-state") == "overdue"
    colour = row.locator(".pill").evaluate("e => getComputedStyle(e).backgroundColor")
    r, g, b = (int(x) for x in colour[colour.index("(") + 1:-1].split(",")[:3])
    assert r > g + 80 and r > b + 80, colour
    assert leader.inner_text(".card.overdue .num") == "1"
    leader.screenshot(path="/tmp/vanban-work-tasks.png", full_page=True)


def _received(chromium, server):
    """A task given by an agency on another server (as the exchange applies its notice) is on the clerk's
    dashboard among the due-soon work and the work to answer, and its page says it is due soon."""
    from exchange_lab import use_db
    from vanban.core import received_tasks
    from vanban.models import write_transaction

    db = use_db(server.data_dir)  # the server's own file (this process's database may point at the template)
    with write_transaction():  # the server's clock stands at 13/03: due on 15/03 is due soon
        task = received_tasks.create_from_notice(
            datetime(2026, 3, 13, 8, 5, tzinfo=T0.tzinfo), agency_code="H19.42", from_organ="H19.50",
            from_name="UBND tỉnh Đồng Nai", document_id="H19.50,2026/03/13,9/NHIEMVU",
            title="Báo cáo tình hình mưa lũ", instruction="Gửi số liệu thiệt hại", deadline=datetime(2026, 3, 15).date())
    db.close()
    clerk = login(chromium, server.url, "clerk", PASSWORD)
    clerk.goto("/tasks")
    assert clerk.inner_text(".card.due_soon .num") == "1"
    item = clerk.locator(f"#board-due-soon li[data-kind=received][data-id='{task.id}']")
    assert "UBND tỉnh Đồng Nai" in item.inner_text()
    assert clerk.locator(f"#board-to-answer li[data-kind=received][data-id='{task.id}']").count() == 1
    item.locator("a").click()
    clerk.wait_for_url(f"**/tasks/received/{task.id}")
    assert clerk.get_attribute("#received-status", "data-state") == "due_soon"
    assert clerk.locator("#answer-form").count() == 1


def _calendar(chromium, server, world):
    clerk = login(chromium, server.url, "clerk", PASSWORD)
    clerk.goto("/calendar?week=2026-03-16")
    clerk.click("text=Thêm phòng họp")
    clerk.fill("form[action='/calendar/rooms'] input[name=name]", "Phòng họp số 1")
    clerk.click("form[action='/calendar/rooms'] button[type=submit]")
    clerk.wait_for_url("**/calendar")

    def add(title, start, end, scope="agency", room="Phòng họp số 1", people=()):
        clerk.goto("/calendar?week=2026-03-16")
        if not clerk.is_visible("form[action='/calendar/events'] input[name=title]"):
            clerk.click("#new-event summary")
        form = "form[action='/calendar/events']"
        clerk.fill(f"{form} input[name=title]", title)
        clerk.select_option(f"{form} select[name=scope]", scope)
        clerk.fill(f"{form} input[name=start]", start)
        clerk.fill(f"{form} input[name=end]", end)
        if room:
            clerk.select_option(f"{form} select[name=room_id]", label=room)
        if scope == "unit":
            clerk.select_option(f"{form} select[name=department_id]", str(world.dept_tnmt))
        if people:
            clerk.select_option(f"{form} select[name=participants]", [str(world.users[p]) for p in people])
        clerk.click(f"{form} button[type=submit]")

    add("Giao ban UBND huyện", "2026-03-16T08:00", "2026-03-16T10:00", people=("leader", "head"))
    clerk.wait_for_selector("text=Giao ban UBND huyện")
    add("Tiếp công dân", "2026-03-16T09:00", "2026-03-16T11:00")  # same room, overlapping
    assert "đã có lịch" in clerk.inner_text("p.error")
    add("Họp phòng TNMT", "2026-03-16T09:30", "2026-03-16T10:30", scope="unit", room=None, people=("head",))
    clerk.wait_for_selector(".ev.conflict")
    day = clerk.inner_text(".day[data-date='2026-03-16']")
    assert "Trùng lịch: Võ Thanh Tùng" in day and "Tiếp công dân" not in day
    clerk.screenshot(path="/tmp/vanban-work-calendar.png", full_page=True)
    # The published week: read-only, the agency's events only.
    clerk.goto("/calendar/published?week=2026-03-16")
    text = clerk.inner_text("#published")
    assert "Giao ban UBND huyện" in text and "Họp phòng TNMT" not in text
    assert clerk.locator("main form").count() == 0
