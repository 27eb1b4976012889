"""Report rendering: registers and statistics to PDF (checked with poppler's pdftotext) and XLSX (re-read
with openpyxl). Real fonts from the system, real poppler tools, nothing mocked."""

from __future__ import annotations

import datetime as dt
import io
import re
import subprocess
import zipfile
from decimal import Decimal

import openpyxl
import pytest
from pypdf import PdfReader

from vanban.reports import (
    Chart,
    Column,
    HeaderBlock,
    Report,
    ReportError,
    find_fonts,
    registers,
    render_pdf,
    render_xlsx,
)
from vanban.reports.pdf import FONT_CANDIDATES, covers_vietnamese
from vanban.reports.table import scaled_widths

PROBE = "Quyết định về việc giao đất đai tại Đồng Nai; Thượng khẩn; Hỏa tốc; Tuyệt mật"
AGENCY = "Văn phòng HĐND và UBND huyện Long Thành"
PARENT = "UBND tỉnh Đồng Nai"
Q1 = (dt.date(2026, 1, 1), dt.date(2026, 3, 31))
PT_PER_MM = 72 / 25.4

# --- data builders: realistic, deterministic ---------------------------------------------------------------

AUTHORS = ["UBND tỉnh Đồng Nai", "Sở Tài nguyên và Môi trường", "Sở Nội vụ tỉnh Đồng Nai",
           "Văn phòng Chính phủ", "Bộ Thông tin và Truyền thông", "Công an huyện Long Thành"]
TYPES = [("Quyết định", "QĐ-UBND"), ("Công văn", "UBND-VP"), ("Kế hoạch", "KH-STNMT"),
         ("Thông báo", "TB-SNV"), ("Giấy mời", "GM-VPCP")]
SUBJECTS = [
    "về việc giao đất đai tại Đồng Nai cho hộ gia đình, cá nhân để sử dụng vào mục đích đất ở tại xã Bình Sơn",
    "v/v triển khai thực hiện Nghị định số 30/2020/NĐ-CP về công tác văn thư trên địa bàn huyện",
    "thực hiện chuyển đổi số trong cơ quan nhà nước năm 2026; Thượng khẩn",
    "kết quả kiểm tra công tác cải cách hành chính quý I năm 2026 đối với các phòng, ban chuyên môn",
    "mời dự hội nghị tổng kết công tác phòng, chống thiên tai và tìm kiếm cứu nạn; Hỏa tốc",
    "phê duyệt phương án bồi thường, hỗ trợ và tái định cư dự án Cảng hàng không quốc tế Long Thành "
    "(đợt 12), gồm danh sách 148 hộ bị ảnh hưởng; Tuyệt mật",
]
UNITS = ["Phòng Tài nguyên và Môi trường", "Phòng Nội vụ", "Phòng Tài chính - Kế hoạch",
         "Văn phòng HĐND và UBND", "Phòng Giáo dục và Đào tạo", "Ông Nguyễn Văn Hùng, Phó Chủ tịch"]


def incoming_rows(n=60):
    rows = []
    for i in range(n):
        type_name, notation = TYPES[i % len(TYPES)]
        day = dt.date(2026, 1, 2) + dt.timedelta(days=i)
        rows.append({
            "arrival_date": day, "arrival_number": i + 1, "author": AUTHORS[i % len(AUTHORS)],
            "number": i % 40 + 1, "notation": notation, "doc_date": day - dt.timedelta(days=2),
            "type_name": type_name, "subject": SUBJECTS[i % len(SUBJECTS)],
            "recipient": UNITS[i % len(UNITS)], "transfer_date": day + dt.timedelta(days=1),
            "notes": "Thượng khẩn" if i % 7 == 0 else None,
        })
    rows[0]["subject"] = PROBE
    return rows


def tracking_rows(n=60):
    rows = incoming_rows(n)
    for i, row in enumerate(rows):
        row["deadline"] = row["arrival_date"] + dt.timedelta(days=10)
        row["progress"] = ["Đang giải quyết", "Đã giải quyết, trả lời bằng văn bản", "Quá hạn 3 ngày"][i % 3]
        row["reply_number_notation"] = f"{i + 100}/UBND-VP" if i % 3 == 1 else None
    return rows


def outgoing_rows(n=60):
    rows = []
    for i in range(n):
        type_name, notation = TYPES[i % len(TYPES)]
        rows.append({
            "number": i + 1, "notation": notation, "doc_date": dt.date(2026, 1, 5) + dt.timedelta(days=i),
            "type_name": type_name, "subject": SUBJECTS[(i + 2) % len(SUBJECTS)],
            "signer": "Trần Thị Mai, Phó Chủ tịch" if i % 2 else "Lê Văn Đức, Chủ tịch",
            "recipients": ["Sở Nội vụ", "Các phòng, ban chuyên môn", "UBND các xã, thị trấn", "Lưu: VT"],
            "file_copy_holder": "Văn thư; Phòng Nội vụ", "copies": 5 + i % 20,
            "transfer_date": dt.date(2026, 1, 5) + dt.timedelta(days=i),
        })
    rows[3]["subject"] = PROBE
    return rows


def unit_stats(n=60):
    return [{"unit": f"{UNITS[i % len(UNITS)]} (điểm {i + 1})", "done_on_time": 120 + i, "done_late": i % 9,
             "pending_on_time": 15 + i % 5, "pending_overdue": i % 4, "electronic_only": 900 + i * 10,
             "electronic_and_paper": 300 - i, "paper_only": i % 11, "digitally_signed": 1100 + i * 9}
            for i in range(n)]


def dossier_docs(n=60):
    rows = outgoing_rows(n)
    for i, row in enumerate(rows):
        row.update(author=AUTHORS[i % len(AUTHORS)], sheet_number=i * 3 + 1, page_count=3)
    return rows


def dossier_rows(n=60):
    return [{"file_code": f"{i + 1:02d}.TCCB", "title": f"Hồ sơ {SUBJECTS[i % len(SUBJECTS)]}",
             "start_date": dt.date(2026, 1, 1 + i % 28), "end_date": dt.date(2026, 12, 1 + i % 28),
             "doc_total": 10 + i, "page_total": 120 + i * 7, "retention": "Vĩnh viễn" if i % 3 == 0 else 10,
             "creator": "Nguyễn Thị Hồng Nhung"} for i in range(n)]


BUILDERS = {
    "incoming": lambda: registers.incoming_register(incoming_rows(), AGENCY, *Q1, parent_agency=PARENT),
    "tracking": lambda: registers.tracking_book(tracking_rows(), AGENCY, *Q1, parent_agency=PARENT),
    "outgoing": lambda: registers.outgoing_register(outgoing_rows(), AGENCY, *Q1, parent_agency=PARENT),
    "incoming_handling": lambda: registers.incoming_handling_report(unit_stats(), AGENCY, *Q1),
    "outgoing_handling": lambda: registers.outgoing_handling_report(unit_stats(), AGENCY, *Q1),
    "dossier_documents": lambda: registers.dossier_documents(
        dossier_docs(), AGENCY, "01.TCCB", "Hồ sơ giao đất năm 2026", start_date=Q1[0], end_date=Q1[1],
        retention=20),
    "dossier_list": lambda: registers.dossier_list(dossier_rows(), AGENCY, 2026),
}


def pdftotext(pdf: bytes, *args) -> str:
    done = subprocess.run(["pdftotext", "-layout", *args, "-", "-"], input=pdf, capture_output=True, check=True)
    return done.stdout.decode("utf-8")


def flat_text(pdf: bytes, *args) -> str:
    """Text in drawing order with line breaks folded, so a subject wrapped inside its cell reads whole."""
    done = subprocess.run(["pdftotext", "-raw", *args, "-", "-"], input=pdf, capture_output=True, check=True)
    return " ".join(done.stdout.decode("utf-8").split())


def page_words(pdf: bytes):
    """(page height in pt, [(word, yMin, yMax)] per page) from pdftotext -bbox."""
    html = subprocess.run(["pdftotext", "-bbox", "-", "-"], input=pdf, capture_output=True, check=True)
    pages = re.split(r"<page ", html.stdout.decode("utf-8"))[1:]
    out = []
    for page in pages:
        height = float(re.search(r'height="([\d.]+)"', page).group(1))
        words = [(w, float(y0), float(y1)) for y0, y1, w in
                 re.findall(r'yMin="([\d.]+)" xMax="[\d.]+" yMax="([\d.]+)">([^<]*)</word>', page)]
        out.append((height, words))
    return out


@pytest.fixture(scope="module")
def rendered():
    """Each standard book rendered once in both formats (the slow part, about 2 s in all)."""
    out = {}
    for name, build in BUILDERS.items():
        report = build()
        out[name] = (report, render_pdf(report), render_xlsx(report))
    return out


# --- PDF -----------------------------------------------------------------------------------------------------


def test_pdf_keeps_vietnamese_text_intact(rendered):
    text = flat_text(rendered["incoming"][1])
    assert PROBE in text
    for phrase in ["Quyết định về việc giao đất đai tại Đồng Nai;", "Thượng khẩn;", "Hỏa tốc;", "Tuyệt mật",
                   "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc",
                   "SỔ ĐĂNG KÝ VĂN BẢN ĐẾN", "Từ ngày 01/01/2026 đến ngày 31/03/2026", "UBND TỈNH ĐỒNG NAI"]:
        assert phrase in text


@pytest.mark.parametrize("name", list(BUILDERS))
def test_every_book_spans_pages_with_header_repeated(rendered, name):
    report, pdf, _ = rendered[name]
    pages = len(PdfReader(io.BytesIO(pdf)).pages)
    assert pages > 1
    page2 = flat_text(pdf, "-f", "2", "-l", "2")
    for column in report.columns:
        assert column.header in page2
    assert "(1)" in page2 and f"({len(report.columns)})" in page2
    assert f"Trang 2/{pages}" in page2


@pytest.mark.parametrize("name", ["incoming", "outgoing", "dossier_documents"])
def test_no_text_runs_below_the_bottom_margin(rendered, name):
    pdf = rendered[name][1]
    for height, words in page_words(pdf):
        footer_top = height - 13 * PT_PER_MM  # the "Trang x/y" line sits 11 mm from the bottom edge
        body = [w for w in words if w[2] < footer_top]
        assert body, "page without body text"
        lowest = max(y1 for _, _, y1 in body)
        assert lowest <= height - 15 * PT_PER_MM + 1
        assert [w for w in words if w[1] >= footer_top][0][0] == "Trang"


def test_every_row_is_printed(rendered):
    text = pdftotext(rendered["outgoing"][1])
    for i in range(1, 61):
        assert f"{i:02d}/" in text
    assert "01/QĐ-UBND" in text and "02/UBND-VP" in text  # number + notation joined, leading zero
    assert not re.search(r"\d\d/\d\d/\d{3}\s", text)  # no date broken over two lines


def test_dossier_documents_are_portrait_and_list_is_landscape(rendered):
    docs = PdfReader(io.BytesIO(rendered["dossier_documents"][1])).pages[0].mediabox
    assert docs.width < docs.height
    books = PdfReader(io.BytesIO(rendered["dossier_list"][1])).pages[0].mediabox
    assert books.width > books.height
    text = pdftotext(rendered["dossier_list"][1])
    assert "DANH MỤC HỒ SƠ NĂM 2026" in text and "Vĩnh viễn" in text and "10 năm" in text


def test_statistics_have_totals_rates_and_chart(rendered):
    report, pdf, _ = rendered["incoming_handling"]
    assert report.totals["unit"] == "Tổng cộng"
    assert report.totals["done_on_time"] == sum(120 + i for i in range(60))
    first = report.rows[0]
    assert first["total"] == 120 + 0 + 15 + 0 and first["on_time_rate"] == 100.0
    text = pdftotext(pdf)
    assert "Tổng cộng" in text and "Tình hình giải quyết văn bản đến theo đơn vị" in text
    assert "8.970" in text  # 60 units' done_on_time, Vietnamese thousands separator
    out = registers.outgoing_handling_report(unit_stats(2), AGENCY)
    assert out.rows[1]["electronic_rate"] == round((910 + 299) * 100 / (910 + 299 + 1), 1)


# --- XLSX ----------------------------------------------------------------------------------------------------


def header_row_of(ws, report):
    headers = [c.header for c in report.columns]
    for row in ws.iter_rows(min_row=1, max_row=15):
        if [c.value for c in row[: len(headers)]] == headers:
            return row[0].row
    raise AssertionError("header row not found")


@pytest.mark.parametrize("name", list(BUILDERS))
def test_xlsx_has_headers_freeze_filter_and_print_titles(rendered, name):
    report, _, data = rendered[name]
    ws = openpyxl.load_workbook(io.BytesIO(data)).worksheets[0]
    head = header_row_of(ws, report)
    assert ws.freeze_panes == f"A{head + 2}"
    assert ws.auto_filter.ref.startswith(f"A{head + 1}:")
    assert ws.print_title_rows == f"${head}:${head + 1}"
    assert ws.page_setup.fitToWidth == 1 and ws.sheet_properties.pageSetUpPr.fitToPage
    assert ws.cell(head + 1, 1).value == "(1)"


def test_xlsx_dates_are_dates_and_numbers_are_numbers(rendered):
    report, _, data = rendered["incoming"]
    ws = openpyxl.load_workbook(io.BytesIO(data)).worksheets[0]
    first = header_row_of(ws, report) + 2
    arrival = ws.cell(first, 1)
    assert isinstance(arrival.value, dt.datetime) and arrival.value.date() == dt.date(2026, 1, 2)
    assert arrival.number_format == "dd/mm/yyyy"
    assert ws.cell(first, 2).value == 1
    assert ws.cell(first, 4).value == "01/QĐ-UBND"
    assert ws.cell(first, 6).value.startswith(PROBE)
    assert ws.cell(first, 6).alignment.wrap_text
    assert ws.row_dimensions[first].height > 15  # long subject: taller than one line


def test_xlsx_keeps_formula_like_text_as_text():
    report = Report("Thử", [Column("s", "Trích yếu")], [{"s": '=HYPERLINK("http://x","bấm")'}])
    ws = openpyxl.load_workbook(io.BytesIO(render_xlsx(report))).worksheets[0]
    cells = [c for row in ws.iter_rows() for c in row if c.value and str(c.value).startswith("=")]
    assert cells and all(c.data_type == "s" for c in cells)


# --- charts --------------------------------------------------------------------------------------------------


def chart_report(kind="bar"):
    return Report(
        "Số liệu văn bản quý I", [Column("m", "Tháng"), Column("n", "Số văn bản", align="right")],
        [{"m": "Tháng 1", "n": 120}],
        charts=[Chart(kind, "Văn bản đến và đi theo tháng", ["Tháng 1", "Tháng 2", "Tháng 3"],
                      {"Văn bản đến": [120, 95, 130], "Văn bản đi": [80, None, 101]})],
    )


@pytest.mark.parametrize("kind", ["bar", "line", "pie"])
def test_chart_renders_in_both_formats(kind):
    report = chart_report(kind)
    text = pdftotext(render_pdf(report))
    assert "Văn bản đến và đi theo tháng" in text and "Tháng 3" in text
    data = render_xlsx(report)
    wb = openpyxl.load_workbook(io.BytesIO(data))
    assert wb.sheetnames[1] == "Biểu đồ"
    assert wb["Biểu đồ"]["B2"].value == "Văn bản đến"
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        charts = [n for n in zf.namelist() if n.startswith("xl/charts/chart")]
        assert len(charts) == 1
        assert f"<{kind}Chart>" in zf.read(charts[0]).decode()


def test_bad_chart_is_refused_with_a_code():
    with pytest.raises(ReportError) as err:
        Chart("bar", "Lệch", ["A", "B"], {"x": [1]})
    assert err.value.code == "report.chart_series_length"
    with pytest.raises(ReportError) as err:
        Chart("radar", "Lạ", ["A"], {"x": [1]})
    assert err.value.code == "report.chart_kind"
    with pytest.raises(ReportError) as err:
        Chart("bar", "Chữ", ["A"], {"x": ["nhiều"]})
    assert err.value.code == "report.chart_value"


# --- bad input -----------------------------------------------------------------------------------------------


def test_odd_values_render_instead_of_crashing():
    columns = [Column("a", "Cột A"), Column("b", "Cột B"), Column("c", "Cột C"), Column("d", "Cột D")]
    rows = [
        {"a": dt.date(2026, 3, 9), "b": None, "c": Decimal("97.30"), "d": ["Sở Nội vụ", None, "Lưu: VT"]},
        {"a": "chỉ có cột A"},  # b, c, d missing
        {"a": dt.datetime(2026, 3, 9, 1, 30, tzinfo=dt.UTC), "b": True, "c": float("nan"), "d": object},
        {"a": "ký tự điều khiển\x07 và dấu tách rời: Ho\u0302\u0300ng", "b": 1234567, "c": 0.5, "d": "🙂"},
    ]
    report = Report("Dữ liệu lạ", columns, rows)
    text = pdftotext(render_pdf(report))
    assert "09/03/2026" in text and "97,3" in text and "Sở Nội vụ; Lưu: VT" in text
    assert "09/03/2026 08:30" in text  # UTC stored, Vietnam time shown
    assert "chỉ có cột A" in text and "None" not in text and "nan" not in text
    assert "Hồng" in text and "1234567" in text and "0,5" in text
    ws = openpyxl.load_workbook(io.BytesIO(render_xlsx(report))).worksheets[0]
    values = [c.value for row in ws.iter_rows() for c in row]
    assert dt.datetime(2026, 3, 9, 8, 30) in values and Decimal("97.30") not in [None]
    assert "ký tự điều khiển và dấu tách rời: Hồng" in values


def test_zero_rows_say_no_data():
    report = registers.incoming_register([], AGENCY, *Q1)
    text = pdftotext(render_pdf(report))
    assert "Không có dữ liệu" in text and "Ngày đến" in text
    ws = openpyxl.load_workbook(io.BytesIO(render_xlsx(report))).worksheets[0]
    assert "Không có dữ liệu" in [c.value for row in ws.iter_rows() for c in row]
    stats = registers.incoming_handling_report([], AGENCY, *Q1)
    assert stats.totals is None and not stats.charts
    assert "Không có dữ liệu" in pdftotext(render_pdf(stats))


def test_bad_structure_is_refused_with_a_code():
    with pytest.raises(ReportError) as err:
        Column("a", "A", align="giữa")
    assert err.value.code == "report.column_align"
    with pytest.raises(ReportError) as err:
        Report("Trùng", [Column("a", "A"), Column("a", "B")])
    assert err.value.code == "report.duplicate_key"
    with pytest.raises(ReportError) as err:
        Report("Hướng", [Column("a", "A")], orientation="sideways")
    assert err.value.code == "report.orientation"


def test_missing_fonts_give_a_clear_error():
    with pytest.raises(ReportError) as err:
        find_fonts(candidates=(("Nope", ("/nonexistent",), ("a.ttf", "b.ttf", "c.ttf", "d.ttf")),))
    assert err.value.code == "report.font_missing" and "fonts-liberation2" in err.value.message


def test_fonts_without_vietnamese_are_skipped():
    # Debian bookworm's fonts-liberation (1.07) has no ế/ư/ạ: it must never be picked.
    old = "/usr/share/fonts/truetype/liberation/LiberationSerif-Regular.ttf"
    chosen = find_fonts()
    assert covers_vietnamese(chosen.regular) and covers_vietnamese(chosen.bold)
    liberation_dirs = FONT_CANDIDATES[0][1]
    assert liberation_dirs[0].endswith("liberation2")
    try:
        old_ok = covers_vietnamese(old)
    except FileNotFoundError:  # pragma: no cover - machines without fonts-liberation
        return
    if not old_ok:
        assert chosen.regular != old


def test_header_block_is_optional_and_portrait_works():
    report = Report("Danh sách", [Column("a", "Tên")], [{"a": PROBE}], header=None, orientation="portrait",
                    number_columns=False, notes=["Ghi chú: số liệu tạm tính."])
    pdf = render_pdf(report)
    text = pdftotext(pdf)
    assert "CỘNG HÒA" not in text and PROBE in text and "(1)" not in text and "số liệu tạm tính" in text
    report.header = HeaderBlock(AGENCY, motto=False)
    text = pdftotext(render_pdf(report))
    assert "CỘNG HÒA" not in text and "VĂN PHÒNG HĐND VÀ UBND" in text


def test_narrow_columns_break_at_hyphens_and_never_fail():
    columns = [Column("n", "Số, ký hiệu", 14), Column("t", "Tên", 1), Column("x", "Ngắn", 20, wrap=False),
               Column("s", "Trích yếu", 120)]
    rows = [{"n": "1234/QĐ-UBND-VPĐKĐĐ", "t": "Đồng Nai", "x": "Một dòng rất dài bị cắt bớt ở cuối", "s": PROBE}]
    pdf = render_pdf(Report("Cột hẹp", columns, rows, orientation="portrait"))
    raw = subprocess.run(["pdftotext", "-raw", "-", "-"], input=pdf, capture_output=True, check=True)
    lines = raw.stdout.decode().splitlines()
    assert "QĐ-" in lines and "UBND-" in lines  # broken after '-' or '/', not inside a word
    assert any(line.startswith("Một dòng") and "…" in line for line in lines)
    assert "ở cuối" not in raw.stdout.decode()  # wrap=False: cut to one line
    assert [round(w, 1) for w in scaled_widths(columns, 175)][1] == 8.0
    assert round(sum(scaled_widths(columns, 175)), 6) == 175
    assert scaled_widths([Column(str(i), "x", 1) for i in range(40)], 175) == [175 / 40] * 40


def test_tracking_book_describes_the_document():
    report = registers.tracking_book(tracking_rows(3), AGENCY)
    assert report.rows[0]["doc_description"] == (
        "Quyết định số 01/QĐ-UBND ngày 31/12/2025 của UBND tỉnh Đồng Nai")
    assert report.subtitles == []  # no period given: no empty line
    own = registers.tracking_book([{"doc_description": "Tự ghi", "type_name": "Công văn"}], AGENCY)
    assert own.rows[0]["doc_description"] == "Tự ghi"


# --- the outgoing handling report counts each form of sending (work_reports.outgoing_handling) -------------

def _issued(world, doc_type, medium="electronic", signed=True, dept=None, day=dt.datetime(2026, 3, 5, 10, 0)):
    """An issued outgoing document as issuing.py leaves it (a Draft with its Document). Built directly: issuing
    through the API needs the signing PKI and passphrases, which test_signing_flow.py exercises."""
    from vanban.models.outgoing import Draft
    from vanban.models.schema import Document

    doc = Document.create(agency=world.agency_id, direction="out", year=2026, issuer_name="UBND", number="1",
                          notation="UBND", doc_date=day.date(), doc_type=doc_type, subject="Văn bản đi",
                          medium=medium, status="issued", created_by=world.users["clerk"], created_at=day)
    Draft.create(agency=world.agency_id, department=dept, drafter=world.users["spec"], doc_type=doc_type,
                 subject="Văn bản đi", status="issued", document=doc, issued_at=day,
                 signed_blob="ab" * 32 if signed else None, created_at=day, updated_at=day)


def test_outgoing_handling_counts_electronic_with_paper(client, world):
    """Paper = 1 by type (exchange.outgoing.PAPER_BY_DEFAULT, e.g. HDG hợp đồng) is "điện tử kèm bản giấy";
    a paper medium is "chỉ bản giấy"; the rest fully electronic. Rows, totals, rate, XLSX and PDF agree."""
    from vanban.exchange.outgoing import PAPER_BY_DEFAULT

    assert PAPER_BY_DEFAULT.get("HDG") == 1 and not PAPER_BY_DEFAULT.get("CV")
    _issued(world, "CV", dept=world.dept_tnmt)
    _issued(world, "CV", dept=world.dept_tnmt, signed=False)
    _issued(world, "HDG", dept=world.dept_tnmt)
    _issued(world, "HDG", dept=world.dept_vp)
    _issued(world, "CV", medium="paper", dept=world.dept_vp, signed=False)
    _issued(world, "CV", dept=world.dept_vp, day=dt.datetime(2026, 4, 2, 9, 0))  # outside the period
    leader = client.api_login("leader")
    r = client.simulate_get("/api/v1/work-reports/outgoing-handling?from=2026-03-01&to=2026-03-31", headers=leader)
    assert r.status_code == 200, r.text
    by = {row["unit"]: row for row in r.json["rows"]}
    tnmt, vp = by["Phòng Tài nguyên và Môi trường"], by["Văn phòng HĐND và UBND"]
    assert (tnmt["electronic_only"], tnmt["electronic_and_paper"], tnmt["paper_only"]) == (2, 1, 0)
    assert (vp["electronic_only"], vp["electronic_and_paper"], vp["paper_only"]) == (0, 1, 1)
    assert (tnmt["issued_total"], tnmt["digitally_signed"], tnmt["electronic_rate"]) == (3, 2, 100.0)
    assert (vp["issued_total"], vp["electronic_rate"]) == (2, 50.0)
    x = client.simulate_get("/api/v1/work-reports/outgoing-handling?from=2026-03-01&to=2026-03-31&format=xlsx",
                            headers=leader)
    ws = openpyxl.load_workbook(io.BytesIO(x.content)).active
    header = next(row for row in ws.iter_rows(values_only=True) if "Gửi điện tử kèm bản giấy" in row)
    col = header.index("Gửi điện tử kèm bản giấy")
    total = next(row for row in ws.iter_rows(values_only=True) if "Tổng cộng" in row)
    assert total[col] == 2
    p = client.simulate_get("/api/v1/work-reports/outgoing-handling?from=2026-03-01&to=2026-03-31&format=pdf",
                            headers=leader)
    text = " ".join((page.extract_text() or "") for page in PdfReader(io.BytesIO(p.content)).pages)
    assert "Tổng cộng" in text and "kèm bản giấy" in text
