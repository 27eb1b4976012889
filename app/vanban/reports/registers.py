"""The standard books and reports of the clerical office (NĐ 30/2020/NĐ-CP, Phụ lục IV and VI).

Each builder takes rows (dicts, or any objects with the attributes) and returns a Report ready for
render_pdf / render_xlsx. Row keys per builder are the `key`s of its column list below; a few are derived
when the caller supplies the parts instead (see `_derive`):

- number_notation  <- number + notation        (15, "QĐ-UBND" -> "15/QĐ-UBND"; NĐ 30 Điều 15: 05, not 5)
- type_subject     <- type_name + subject      ("Quyết định" + "về việc ..." -> "Quyết định về việc ...")
- doc_description  <- type_name, number_notation, doc_date, author (tracking book column 2)
Statistics reports compute `total`/`issued_total` and the rates when absent, and add a "Tổng cộng" row.
The caller's dicts are never modified.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from .table import Chart, Column, HeaderBlock, Report, format_value

# Widths are for A4 landscape (262 mm printable) unless noted; a date needs 22 mm to stay on one line.
STT = Column("stt", "STT", 12, "center")

# Sổ đăng ký văn bản đến: 10 columns (NĐ 30 Điều 22, Phụ lục IV).
INCOMING_REGISTER_COLUMNS = [
    Column("arrival_date", "Ngày đến", 22, "center"),
    Column("arrival_number", "Số đến", 14, "center"),
    Column("author", "Tác giả", 28),
    Column("number_notation", "Số, ký hiệu", 28, "center"),
    Column("doc_date", "Ngày tháng", 22, "center"),
    Column("type_subject", "Tên loại và trích yếu nội dung", 64),
    Column("recipient", "Đơn vị hoặc người nhận", 28),
    Column("transfer_date", "Ngày chuyển", 22, "center"),
    Column("receipt_signature", "Ký nhận", 16),
    Column("notes", "Ghi chú", 18),
]

# Sổ theo dõi giải quyết văn bản đến: 7 columns (NĐ 30 Điều 24).
TRACKING_BOOK_COLUMNS = [
    Column("arrival_number", "Số đến", 14, "center"),
    Column("doc_description", "Tên loại, số, ký hiệu, ngày tháng, cơ quan ban hành văn bản", 80),
    Column("recipient", "Đơn vị hoặc người nhận", 35),
    Column("deadline", "Thời hạn giải quyết", 22, "center"),
    Column("progress", "Tiến độ giải quyết", 50),
    Column("reply_number_notation", "Số, ký hiệu văn bản trả lời", 33, "center"),
    Column("notes", "Ghi chú", 28),
]

# Sổ đăng ký văn bản đi: 10 columns (NĐ 30 Điều 16, Phụ lục IV).
OUTGOING_REGISTER_COLUMNS = [
    Column("number_notation", "Số, ký hiệu văn bản", 28, "center"),
    Column("doc_date", "Ngày tháng văn bản", 22, "center"),
    Column("type_subject", "Tên loại và trích yếu nội dung văn bản", 62),
    Column("signer", "Người ký", 26),
    Column("recipients", "Nơi nhận văn bản", 36),
    Column("file_copy_holder", "Đơn vị, người nhận bản lưu", 24),
    Column("copies", "Số lượng bản", 14, "center", group_digits=True),
    Column("transfer_date", "Ngày chuyển", 22, "center"),
    Column("receipt_signature", "Ký nhận", 14),
    Column("notes", "Ghi chú", 14),
]

INCOMING_HANDLING_COLUMNS = [
    STT,
    Column("unit", "Đơn vị", 62),
    Column("total", "Tổng số văn bản đến", 24, "right", group_digits=True),
    Column("done_on_time", "Đã giải quyết đúng hạn", 24, "right", group_digits=True),
    Column("done_late", "Đã giải quyết quá hạn", 24, "right", group_digits=True),
    Column("pending_on_time", "Đang giải quyết trong hạn", 24, "right", group_digits=True),
    Column("pending_overdue", "Đang giải quyết quá hạn", 24, "right", group_digits=True),
    Column("on_time_rate", "Tỷ lệ giải quyết đúng hạn (%)", 24, "right"),
    Column("notes", "Ghi chú", 26),
]

# §12: what provinces report upward: electronic share, electronic-only vs with paper, digital signatures.
OUTGOING_HANDLING_COLUMNS = [
    STT,
    Column("unit", "Đơn vị", 62),
    Column("issued_total", "Tổng số văn bản đi", 24, "right", group_digits=True),
    Column("electronic_only", "Gửi điện tử hoàn toàn", 24, "right", group_digits=True),
    Column("electronic_and_paper", "Gửi điện tử kèm bản giấy", 24, "right", group_digits=True),
    Column("paper_only", "Chỉ gửi bản giấy", 24, "right", group_digits=True),
    Column("digitally_signed", "Có chữ ký số", 24, "right", group_digits=True),
    Column("electronic_rate", "Tỷ lệ gửi điện tử (%)", 24, "right"),
    Column("notes", "Ghi chú", 26),
]

# Mục lục văn bản trong hồ sơ (goes inside the dossier, A4 portrait: 175 mm printable).
DOSSIER_DOCUMENTS_COLUMNS = [
    STT,
    Column("number_notation", "Số, ký hiệu văn bản", 27, "center"),
    Column("doc_date", "Ngày tháng văn bản", 22, "center"),
    Column("author", "Tác giả văn bản", 27),
    Column("subject", "Trích yếu nội dung văn bản", 47),
    Column("sheet_number", "Tờ số", 12, "center"),
    Column("page_count", "Số trang", 14, "center"),
    Column("notes", "Ghi chú", 14),
]

# Danh mục hồ sơ (Chương IV; Phụ lục VI: FileCode, Title, StartDate, EndDate, DocTotal, PageTotal,
# Maintenance, Creator).
DOSSIER_LIST_COLUMNS = [
    STT,
    Column("file_code", "Số và ký hiệu hồ sơ", 24, "center"),
    Column("title", "Tiêu đề hồ sơ", 80),
    Column("start_date", "Ngày bắt đầu", 22, "center"),
    Column("end_date", "Ngày kết thúc", 22, "center"),
    Column("doc_total", "Số lượng văn bản", 16, "center", group_digits=True),
    Column("page_total", "Số trang", 14, "center", group_digits=True),
    Column("retention", "Thời hạn bảo quản", 20, "center"),
    Column("creator", "Người lập hồ sơ", 30),
    Column("notes", "Ghi chú", 22),
]


# --- shared helpers ----------------------------------------------------------------------------------------


def period_line(date_from: dt.date | None, date_to: dt.date | None) -> str:
    """'Từ ngày 01/01/2026 đến ngày 31/03/2026' (or the half that is known)."""
    if date_from and date_to:
        return f"Từ ngày {format_value(date_from)} đến ngày {format_value(date_to)}"
    if date_from:
        return f"Từ ngày {format_value(date_from)}"
    if date_to:
        return f"Đến ngày {format_value(date_to)}"
    return ""


def _header(agency_name, parent_agency, with_header):
    return HeaderBlock(agency_name or "", parent_agency or "") if with_header else None


# Keys the derived columns are built from; read from objects too, not only dicts.
_PART_KEYS = ("number", "notation", "number_notation", "type_name", "subject", "author", "doc_date")


def _as_dict(row, columns) -> dict:
    if isinstance(row, Mapping):
        return dict(row)
    return {key: getattr(row, key, None) for key in {c.key for c in columns} | set(_PART_KEYS)}


def _number_notation(row):
    number, notation = row.get("number"), row.get("notation")
    if isinstance(number, int) and not isinstance(number, bool):
        number = f"{number:02d}"  # NĐ 30 Điều 15: numbers below 10 carry a leading zero
    parts = [format_value(p) for p in (number, notation) if p not in (None, "")]
    return "/".join(parts) or None


def _type_subject(row):
    type_name, subject = format_value(row.get("type_name")), format_value(row.get("subject"))
    if type_name and subject.lower().startswith(type_name.lower()):
        return subject
    return " ".join(p for p in (type_name, subject) if p) or None


def _doc_description(row):
    parts = [format_value(row.get("type_name"))]
    number_notation = row.get("number_notation") or _number_notation(row)
    if number_notation:
        parts.append(f"số {format_value(number_notation)}")
    if row.get("doc_date"):
        parts.append(f"ngày {format_value(row['doc_date'])}")
    if row.get("author"):
        parts.append(f"của {format_value(row['author'])}")
    return " ".join(p for p in parts if p) or None


_DERIVED = {
    "number_notation": _number_notation,
    "type_subject": _type_subject,
    "doc_description": _doc_description,
}


def _derive(rows, columns, numbered):
    """Copies of the rows with derived keys filled in (only when the caller left them out) and STT."""
    keys = {c.key for c in columns}
    out = []
    for index, row in enumerate(rows, start=1):
        data = _as_dict(row, columns)
        for key, build in _DERIVED.items():
            if key in keys and data.get(key) in (None, ""):
                data[key] = build(data)
        if numbered:
            data["stt"] = index
        out.append(data)
    return out


# --- the books ---------------------------------------------------------------------------------------------


def incoming_register(rows, agency_name, date_from=None, date_to=None, *, parent_agency="", header=True) -> Report:
    """Sổ đăng ký văn bản đến. Keys: arrival_date, arrival_number, author, number_notation (or number +
    notation), doc_date, type_subject (or type_name + subject), recipient, transfer_date, receipt_signature,
    notes."""
    return Report(
        title="Sổ đăng ký văn bản đến",
        subtitles=[period_line(date_from, date_to)],
        header=_header(agency_name, parent_agency, header),
        columns=INCOMING_REGISTER_COLUMNS,
        rows=_derive(rows, INCOMING_REGISTER_COLUMNS, numbered=False),
        sheet_name="Sổ văn bản đến",
    )


def tracking_book(rows, agency_name, date_from=None, date_to=None, *, parent_agency="", header=True) -> Report:
    """Sổ theo dõi giải quyết văn bản đến. Keys: arrival_number, doc_description (or type_name,
    number_notation / number + notation, doc_date, author), recipient, deadline, progress,
    reply_number_notation, notes."""
    return Report(
        title="Sổ theo dõi giải quyết văn bản đến",
        subtitles=[period_line(date_from, date_to)],
        header=_header(agency_name, parent_agency, header),
        columns=TRACKING_BOOK_COLUMNS,
        rows=_derive(rows, TRACKING_BOOK_COLUMNS, numbered=False),
        sheet_name="Theo dõi giải quyết",
    )


def outgoing_register(rows, agency_name, date_from=None, date_to=None, *, parent_agency="", header=True) -> Report:
    """Sổ đăng ký văn bản đi. Keys: number_notation (or number + notation), doc_date, type_subject (or
    type_name + subject), signer, recipients (text or list), file_copy_holder, copies, transfer_date,
    receipt_signature, notes."""
    return Report(
        title="Sổ đăng ký văn bản đi",
        subtitles=[period_line(date_from, date_to)],
        header=_header(agency_name, parent_agency, header),
        columns=OUTGOING_REGISTER_COLUMNS,
        rows=_derive(rows, OUTGOING_REGISTER_COLUMNS, numbered=False),
        sheet_name="Sổ văn bản đi",
    )


# --- statistics --------------------------------------------------------------------------------------------


def _number(value) -> float:
    """Counts from the database; a missing or non-numeric count counts as 0 in sums and rates."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    return value


def _rate(part, whole):
    return round(part * 100 / whole, 1) if whole else None


def _sum_rows(rows, keys):
    return {key: sum(_number(r.get(key)) for r in rows) for key in keys}


_INCOMING_COUNTS = ("done_on_time", "done_late", "pending_on_time", "pending_overdue")


def _incoming_stats(data):
    if data.get("total") is None:
        data["total"] = sum(_number(data.get(k)) for k in _INCOMING_COUNTS)
    if data.get("on_time_rate") is None:
        done = _number(data.get("done_on_time")) + _number(data.get("done_late"))
        data["on_time_rate"] = _rate(_number(data.get("done_on_time")), done)
    return data


def incoming_handling_report(
    rows, agency_name, date_from=None, date_to=None, *, parent_agency="", header=True, chart=True
) -> Report:
    """Báo cáo tình hình giải quyết văn bản đến, one row per unit. Keys: unit, done_on_time, done_late,
    pending_on_time, pending_overdue, notes; optional total (default: the sum of the four) and
    on_time_rate (default: done_on_time / (done_on_time + done_late) in %)."""
    data = [_incoming_stats(r) for r in _derive(rows, INCOMING_HANDLING_COLUMNS, numbered=True)]
    totals = _incoming_stats({"unit": "Tổng cộng", **_sum_rows(data, _INCOMING_COUNTS)})
    totals["total"] = sum(_number(r.get("total")) for r in data)
    charts = []
    if chart and data:
        charts.append(Chart(
            "bar", "Tình hình giải quyết văn bản đến theo đơn vị",
            [r.get("unit") for r in data],
            {
                "Đã giải quyết đúng hạn": [_number(r.get("done_on_time")) for r in data],
                "Đã giải quyết quá hạn": [_number(r.get("done_late")) for r in data],
                "Đang giải quyết": [_number(r.get("pending_on_time")) + _number(r.get("pending_overdue"))
                                    for r in data],
            },
        ))
    return Report(
        title="Báo cáo tình hình giải quyết văn bản đến",
        subtitles=[period_line(date_from, date_to)],
        header=_header(agency_name, parent_agency, header),
        columns=INCOMING_HANDLING_COLUMNS,
        rows=data,
        totals=totals if data else None,
        charts=charts,
        sheet_name="Giải quyết văn bản đến",
    )


_OUTGOING_COUNTS = ("electronic_only", "electronic_and_paper", "paper_only", "digitally_signed")


def _outgoing_stats(data):
    if data.get("issued_total") is None:
        data["issued_total"] = sum(_number(data.get(k)) for k in _OUTGOING_COUNTS[:3])
    if data.get("electronic_rate") is None:
        electronic = _number(data.get("electronic_only")) + _number(data.get("electronic_and_paper"))
        data["electronic_rate"] = _rate(electronic, _number(data.get("issued_total")))
    return data


def outgoing_handling_report(
    rows, agency_name, date_from=None, date_to=None, *, parent_agency="", header=True, chart=True
) -> Report:
    """Báo cáo tình hình phát hành văn bản đi, one row per unit. Keys: unit, electronic_only,
    electronic_and_paper, paper_only, digitally_signed, notes; optional issued_total (default: the sum of
    the first three) and electronic_rate (default: electronic share of issued_total in %)."""
    data = [_outgoing_stats(r) for r in _derive(rows, OUTGOING_HANDLING_COLUMNS, numbered=True)]
    totals = {"unit": "Tổng cộng", **_sum_rows(data, _OUTGOING_COUNTS)}
    totals["issued_total"] = sum(_number(r.get("issued_total")) for r in data)
    totals = _outgoing_stats(totals)
    charts = []
    if chart and data:
        charts.append(Chart(
            "pie", "Cơ cấu văn bản đi theo hình thức gửi",
            ["Gửi điện tử hoàn toàn", "Gửi điện tử kèm bản giấy", "Chỉ gửi bản giấy"],
            {"Số văn bản": [totals["electronic_only"], totals["electronic_and_paper"], totals["paper_only"]]},
        ))
    return Report(
        title="Báo cáo tình hình phát hành văn bản đi",
        subtitles=[period_line(date_from, date_to)],
        header=_header(agency_name, parent_agency, header),
        columns=OUTGOING_HANDLING_COLUMNS,
        rows=data,
        totals=totals if data else None,
        charts=charts,
        sheet_name="Phát hành văn bản đi",
    )


# --- dossiers ----------------------------------------------------------------------------------------------


def _retention_text(value):
    # Phụ lục V: retention is "Vĩnh viễn" or a number of years.
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value} năm"
    return value


def dossier_documents(
    rows, agency_name, file_code, dossier_title, *, start_date=None, end_date=None, retention=None,
    parent_agency="", header=True,
) -> Report:
    """Mục lục văn bản trong hồ sơ, in the order given (callers pass chronological order, as the archive
    expects). Keys: number_notation (or number + notation), doc_date, author, subject, sheet_number,
    page_count, notes."""
    subtitles = [f"Hồ sơ số: {format_value(file_code)}", format_value(dossier_title)]
    if start_date or end_date:
        subtitles.append(f"Thời gian: {period_line(start_date, end_date).lower()}")
    if retention:
        subtitles.append(f"Thời hạn bảo quản: {format_value(_retention_text(retention))}")
    return Report(
        title="Mục lục văn bản",
        subtitles=subtitles,
        header=_header(agency_name, parent_agency, header),
        columns=DOSSIER_DOCUMENTS_COLUMNS,
        rows=_derive(rows, DOSSIER_DOCUMENTS_COLUMNS, numbered=True),
        orientation="portrait",
        sheet_name="Mục lục văn bản",
    )


def dossier_list(rows, agency_name, year=None, *, parent_agency="", header=True) -> Report:
    """Danh mục hồ sơ. Keys: file_code, title, start_date, end_date, doc_total, page_total, retention
    (years as int, or text such as "Vĩnh viễn"), creator, notes."""
    data = _derive(rows, DOSSIER_LIST_COLUMNS, numbered=True)
    for row in data:
        row["retention"] = _retention_text(row.get("retention"))
    return Report(
        title=f"Danh mục hồ sơ năm {year}" if year else "Danh mục hồ sơ",
        header=_header(agency_name, parent_agency, header),
        columns=DOSSIER_LIST_COLUMNS,
        rows=data,
        sheet_name="Danh mục hồ sơ",
    )
