"""Issue 2 in a real browser: clerk → leader → unit head → specialist through the Vietnamese web UI, served by a
real gunicorn with a real clamd, driven in Debian's headless Chromium.

Time is the only injected part (tests/browser.py FileClock): the document arrives on 10/03/2026, and the test
moves the server's clock to 16/03/2026 so the co-handler's deadline of 12/03 has passed. A leader cannot enter a
past deadline, so moving time is the honest way to see a red node.
"""
from __future__ import annotations

import re
import subprocess
import time
from datetime import datetime
from pathlib import Path

import pytest

from browser import FileClock, Server, launch_chromium, login
from conftest import PASSWORD, T0, make_pdf

pytestmark = pytest.mark.browser

SUBJECT = "Quyết định về việc giao đất đai tại xã Phú Hữu, tỉnh Đồng Nai"
# Words that appear only inside the attached PDF, never in the form fields.
PDF_TEXT = ("ỦY BAN NHÂN DÂN TỈNH ĐỒNG NAI\nQUYẾT ĐỊNH\nVề việc giao đất cho hộ gia đình tại xã Phú Hữu.\n"
            "Điều 1. Giao 1.250 m² đất tại thửa số 247, tờ bản đồ số 12, sau khi kiểm đếm hiện trạng "
            "cùng Hội đồng bồi thường.\nĐiều 2. Phòng Tài nguyên và Môi trường hướng dẫn thực hiện.")
SHOTS = "/tmp/vanban-browser"
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 1, "is_mobile": True,
         "has_touch": True}


@pytest.fixture
def server(data_dir, clamd, tmp_path):
    clock_file = tmp_path / "now"
    FileClock.set(clock_file, T0)
    srv = Server(data_dir, clock_file, tmp_path / "gunicorn.log", clamd_socket=str(clamd.socket)).start()
    yield srv
    srv.stop()
    print(srv.log())  # shown by pytest only when the test failed


@pytest.fixture
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        yield browser
        browser.close()


def _rgb(css: str) -> tuple[int, int, int]:
    r, g, b = (int(v) for v in re.findall(r"\d+", css)[:3])
    return r, g, b


def diagram_states(page) -> dict[str, set]:
    """state → set of computed fill colours of its nodes' boxes, read from the rendered SVG."""
    rows = page.eval_on_selector_all(
        "svg g.node[data-state]",
        "gs => gs.map(g => [g.dataset.state, getComputedStyle(g.querySelector('rect')).fill])")
    out: dict[str, set] = {}
    for state, fill in rows:
        out.setdefault(state, set()).add(_rgb(fill))
    return out


def check_colours(states: dict[str, set]) -> None:
    """Each state has one colour, different from the others: green, blue, grey, red."""
    colours = {s: next(iter(c)) for s, c in states.items()}
    assert all(len(c) == 1 for c in states.values()), states
    assert len(set(colours.values())) == len(colours), colours
    for state, (r, g, b) in colours.items():
        if state == "done":
            assert g > r + 40 and g > b, (state, r, g, b)
        elif state == "in_progress":
            assert b > r + 60 and b > g, (state, r, g, b)
        elif state == "overdue":
            assert r > g + 80 and r > b + 80, (state, r, g, b)
        elif state == "waiting":
            assert max(r, g, b) - min(r, g, b) < 40, (state, r, g, b)


def register_document(page, world, pdf_path):
    page.click("header nav >> text=Vào sổ văn bản đến")
    page.wait_for_url("**/documents/new")
    page.select_option("select[name=register_id]", str(world.register_id))
    page.fill("input[name=issuer_name]", "UBND tỉnh Đồng Nai")
    page.fill("input[name=issuer_code]", "H19")
    page.fill("input[name=number_notation]", "125/UBND-VX")
    page.fill("input[name=doc_date]", "2026-03-05")
    page.select_option("select[name=doc_type]", label="Quyết định")
    page.fill("textarea[name=subject]", SUBJECT)
    page.select_option("select[name=urgency]", label="Khẩn")
    page.fill("input[name=deadline]", "2026-03-20")
    page.set_input_files("input[name=files]", str(pdf_path))
    page.click("form[action='/documents'] button[type=submit]")
    page.wait_for_url(re.compile(r"/documents/\d+\?registered=1"))
    assert "Đã vào sổ: số đến 1" in page.inner_text("p.ok")
    return int(re.search(r"/documents/(\d+)", page.url).group(1))


def leader_assigns(page, world, doc_id):
    page.click(f"table.inbox a[href='/documents/{doc_id}']")
    page.wait_for_url(f"**/documents/{doc_id}")
    form = page.locator("#form-assign")
    form.locator("textarea[name=instruction]").fill("Giao Phòng TNMT chủ trì, kiểm tra hồ sơ và tham mưu trước 20/3.")
    form.locator("select[name=lead_to]").select_option(f"dept:{world.dept_tnmt}")
    form.locator("input[name=lead_deadline]").fill("2026-03-20")
    form.locator("select[name=co_to]").first.select_option(f"user:{world.users['vpspec']}")
    form.locator("input[name=co_deadline]").first.fill("2026-03-12")
    form.locator("select[name=info_to]").select_option([f"user:{world.users['spec2']}"])
    form.locator("button[type=submit]").click()
    page.wait_for_url(f"**/documents/{doc_id}")
    assert page.inner_text("#doc-status") == "Đang xử lý"


def test_clerk_leader_specialist_flow(server, chromium, world, tmp_path):
    started = time.monotonic()
    Path(SHOTS).mkdir(parents=True, exist_ok=True)
    pdf = tmp_path / "QD-125-UBND-VX.pdf"
    pdf.write_bytes(make_pdf(PDF_TEXT))
    report_pdf = tmp_path / "bao-cao-kiem-tra.pdf"
    report_pdf.write_bytes(make_pdf("Báo cáo kết quả kiểm tra hiện trạng thửa đất số 247."))

    # 1. the clerk registers and presents to the leader
    clerk = login(chromium, server.url, "clerk", PASSWORD)
    doc_id = register_document(clerk, world, pdf)
    clerk.locator("#form-present select[name=leader_id]").select_option(label="Lê Văn Hùng")
    clerk.click("#form-present button[type=submit]")
    clerk.wait_for_url(f"**/documents/{doc_id}")
    assert clerk.inner_text("#doc-status") == "Chờ chỉ đạo"

    # 2. the leader opens it from the inbox and assigns lead, co-handler and reader
    leader = login(chromium, server.url, "leader", PASSWORD)
    leader_assigns(leader, world, doc_id)

    # 3. the unit head hands the unit's lead part to a specialist
    head = login(chromium, server.url, "head", PASSWORD)
    head.click(f"table.inbox a[href='/documents/{doc_id}']")
    head.wait_for_url(f"**/documents/{doc_id}")
    form = head.locator("#form-reassign")
    form.locator("select[name=lead_to]").select_option(f"user:{world.users['spec']}")
    form.locator("input[name=lead_deadline]").fill("2026-03-18")
    form.locator("button[type=submit]").click()
    head.wait_for_url(f"**/documents/{doc_id}")

    # the co-handler's deadline (12/03) passes without her acting
    FileClock.set(server.clock_file, datetime(2026, 3, 16, 8, 30, tzinfo=T0.tzinfo))

    spec = login(chromium, server.url, "spec", PASSWORD, **PHONE)
    spec.screenshot(path=f"{SHOTS}/inbox-phone.png", full_page=True)
    spec.click(f"table.inbox a[href='/documents/{doc_id}']")
    spec.wait_for_url(f"**/documents/{doc_id}")
    spec.locator("#form-comment textarea[name=text]").fill("Đã kiểm tra hiện trạng, gửi báo cáo kèm theo.")
    spec.set_input_files("#form-comment input[name=files]", str(report_pdf))
    spec.click("#form-comment button[type=submit]")
    spec.wait_for_url(f"**/documents/{doc_id}")
    assert "bao-cao-kiem-tra.pdf" in spec.inner_text("ul.files")

    # 4. the diagram while work is under way: all four states, each its own colour
    states = diagram_states(spec)
    assert set(states) == {"done", "in_progress", "waiting", "overdue"}, states
    check_colours(states)
    spec.screenshot(path=f"{SHOTS}/document-phone.png", full_page=True)

    spec.locator("#form-complete input[name=note]").fill("Đã trình UBND ký giao đất.")
    spec.click("#form-complete button[type=submit]")
    spec.wait_for_url(f"**/documents/{doc_id}")
    assert spec.inner_text("#doc-status") == "Hoàn thành"
    states = diagram_states(spec)
    assert set(states) == {"done", "waiting", "overdue"}, states  # the reader has not looked, the co-handler is late
    check_colours(states)

    # sessions last a working day: after the clock moved, the leader and the clerk log in again
    leader = login(chromium, server.url, "leader", PASSWORD, viewport={"width": 1280, "height": 900})
    leader.goto(f"/documents/{doc_id}")
    leader.screenshot(path=f"{SHOTS}/document-desktop.png", full_page=True)
    leader.goto("/inbox?tab=done")
    leader.screenshot(path=f"{SHOTS}/inbox-desktop.png", full_page=True)

    # 5. search without diacritics, then by a word found only in the PDF
    clerk = login(chromium, server.url, "clerk", PASSWORD)
    clerk.click("header nav >> text=Tra cứu")
    clerk.fill("input[name=q]", "quyet dinh dat dai dong nai")
    clerk.click("form.search button[type=submit]")
    assert clerk.locator(f"ol.results a[href='/documents/{doc_id}']").inner_text() == SUBJECT
    clerk.fill("input[name=q]", "kiem dem")
    clerk.click("form.search button[type=submit]")
    clerk.wait_for_url("**q=kiem+dem*")
    assert clerk.locator(f"ol.results a[href='/documents/{doc_id}']").count() == 1

    # 6. the incoming register for March as PDF, read back with poppler's pdftotext
    clerk.click("header nav >> text=Sổ sách")
    book = clerk.locator("form[action='/reports/incoming']")
    book.locator("input[name=from]").fill("2026-03-01")
    book.locator("input[name=to]").fill("2026-03-31")
    with clerk.expect_download() as dl:
        book.locator("button[value=pdf]").click()
    path = tmp_path / "so-den.pdf"
    dl.value.save_as(path)
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True,
                          text=True).stdout
    assert "SỔ ĐĂNG KÝ VĂN BẢN ĐẾN" in text.upper()
    row = next(line for line in text.splitlines() if "125/UBND-VX" in line)
    # columns 1-4 of the register: arrival date, arrival number 1, issuer, number and notation
    assert re.match(r"\s*10/03/2026\s+1\s+UBND tỉnh", row), row

    print(f"browser flow took {time.monotonic() - started:.1f} s")
