"""The report model shared by the PDF and XLSX renderers, and value formatting.

A report is plain data: a title, optional header block (national motto and agency), subtitles, columns, rows
(dicts), an optional bold totals row, footer notes and charts. Renderers never raise on odd row contents: a
missing key renders empty, dates render dd/mm/yyyy, numbers in the Vietnamese convention (1.234,5).
Bad report *structure* (unknown alignment, duplicate keys, mismatched chart series) raises ReportError.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

NATIONAL_NAME = "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"
NATIONAL_MOTTO = "Độc lập - Tự do - Hạnh phúc"
NO_DATA = "Không có dữ liệu"

_ALIGNS = {"left": "L", "center": "C", "right": "R", "l": "L", "c": "C", "r": "R"}
CHART_KINDS = ("bar", "line", "pie")
ORIENTATIONS = ("landscape", "portrait")


class ReportError(ValueError):
    """Bad report structure. `code` is stable for machines, the message is Vietnamese for users."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Column:
    """One table column. `width_mm` is relative: renderers scale all widths to fill the printable width.

    `group_digits` prints integers as 1.234 (counts in statistics); leave it off for document numbers,
    where "Số đến 1234" must not become "1.234".
    """

    key: str
    header: str
    width_mm: float = 30.0
    align: str = "left"
    wrap: bool = True
    group_digits: bool = False

    def __post_init__(self):
        if not self.key or not isinstance(self.key, str):
            raise ReportError("report.column_key", "Cột báo cáo phải có khóa (key) dạng chuỗi.")
        if self.align.lower() not in _ALIGNS:
            raise ReportError(
                "report.column_align",
                f"Căn lề cột '{self.key}' không hợp lệ: '{self.align}' (chỉ nhận left, center, right).",
            )
        if not (isinstance(self.width_mm, int | float) and self.width_mm > 0):
            raise ReportError("report.column_width", f"Độ rộng cột '{self.key}' phải là số dương (mm).")

    @property
    def pdf_align(self) -> str:
        return _ALIGNS[self.align.lower()]


@dataclass(frozen=True)
class HeaderBlock:
    """The heading of an administrative document (NĐ 30/2020 Phụ lục I): agency on the left,
    national name and motto on the right. `parent_agency` is the governing body (cơ quan chủ quản)."""

    agency_name: str = ""
    parent_agency: str = ""
    motto: bool = True


@dataclass
class Chart:
    """A simple chart. Every series has one value per category; None means no value (drawn as a gap).
    A pie chart uses the first series only."""

    kind: str
    title: str
    categories: list
    series: dict

    def __post_init__(self):
        if self.kind not in CHART_KINDS:
            raise ReportError(
                "report.chart_kind", f"Loại biểu đồ không hợp lệ: '{self.kind}' (chỉ nhận bar, line, pie)."
            )
        self.categories = [format_value(c) for c in self.categories]
        if not self.series:
            raise ReportError("report.chart_empty", f"Biểu đồ '{self.title}' không có chuỗi số liệu nào.")
        clean = {}
        for name, values in self.series.items():
            values = list(values)
            if len(values) != len(self.categories):
                raise ReportError(
                    "report.chart_series_length",
                    f"Chuỗi '{name}' của biểu đồ '{self.title}' có {len(values)} giá trị, "
                    f"cần {len(self.categories)} (bằng số nhóm).",
                )
            clean[format_value(name)] = [_chart_number(name, v) for v in values]
        self.series = clean


def _chart_number(name, value):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ReportError("report.chart_value", f"Chuỗi '{name}' có giá trị không phải số: {value!r}.")
    value = float(value)
    return None if math.isnan(value) else value


@dataclass
class Report:
    title: str
    columns: list
    rows: Iterable = ()
    subtitles: list = field(default_factory=list)
    header: HeaderBlock | None = None
    notes: list = field(default_factory=list)
    charts: list = field(default_factory=list)
    totals: Mapping | None = None
    orientation: str = "landscape"
    number_columns: bool = True  # the (1), (2)... row printed registers carry under the header
    sheet_name: str = "Báo cáo"

    def __post_init__(self):
        # Accept generators and peewee's .dicts() cursors; render twice (PDF and XLSX) from one list.
        self.rows = list(self.rows or ())
        self.columns = list(self.columns)
        self.title = format_value(self.title)
        self.subtitles = [format_value(s) for s in self.subtitles if s]
        self.notes = [format_value(n) for n in self.notes if n]
        if not self.columns:
            raise ReportError("report.no_columns", "Báo cáo phải có ít nhất một cột.")
        keys = [c.key for c in self.columns]
        duplicates = sorted({k for k in keys if keys.count(k) > 1})
        if duplicates:
            raise ReportError("report.duplicate_key", f"Khóa cột bị trùng: {', '.join(duplicates)}.")
        if self.orientation not in ORIENTATIONS:
            raise ReportError(
                "report.orientation", f"Hướng trang không hợp lệ: '{self.orientation}' (landscape hoặc portrait)."
            )
        for chart in self.charts:
            if not isinstance(chart, Chart):
                raise ReportError("report.chart_type", "Biểu đồ phải là đối tượng Chart.")


def cell_value(row, key):
    """The raw value of `key` in a row; a missing key (or a row that is not a mapping) gives None."""
    if isinstance(row, Mapping):
        return row.get(key)
    return getattr(row, key, None)


# Control characters (other than tab and newline) cannot be stored in XLSX and print as boxes in a PDF;
# they come from pasted text and old edXML packets.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def nfc(text: str) -> str:
    # Vietnamese typed on some systems arrives decomposed (base letter + combining marks); fonts and
    # pdftotext handle the precomposed form best, and search on the exported text expects it.
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    return _CONTROL.sub("", unicodedata.normalize("NFC", text))


# Vietnam has kept UTC+7 without daylight saving since 1975; a fixed offset needs no tz database.
VIETNAM_TZ = dt.timezone(dt.timedelta(hours=7))


def vietnam_wall_clock(value: dt.datetime) -> dt.datetime:
    """Aware datetimes (the database stores UTC) shown as Vietnam local time; naive ones as they are."""
    if value.tzinfo is None:
        return value
    return value.astimezone(VIETNAM_TZ).replace(tzinfo=None)


def format_date(value: dt.date) -> str:
    if isinstance(value, dt.datetime):
        value = vietnam_wall_clock(value)
        if (value.hour, value.minute, value.second) != (0, 0, 0):
            return value.strftime("%d/%m/%Y %H:%M")
    return value.strftime("%d/%m/%Y")


def format_number(value, group_digits: bool = False) -> str:
    """Vietnamese convention: '.' groups thousands, ',' marks decimals; at most two decimals."""
    if isinstance(value, float | Decimal) and not math.isfinite(value):
        return ""
    if isinstance(value, int) or (isinstance(value, float | Decimal) and value == int(value)):
        text = f"{int(value):,}" if group_digits else str(int(value))
        return text.replace(",", ".")
    text = f"{float(value):,.2f}".rstrip("0")
    whole, _, frac = text.partition(".")
    whole = whole.replace(",", ".") if group_digits else whole.replace(",", "")
    return f"{whole},{frac}" if frac else whole


def format_value(value, group_digits: bool = False) -> str:
    """Text shown for a value in a PDF cell (and in XLSX for values that are not numbers or dates)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return nfc(value)
    if isinstance(value, bool):
        return "Có" if value else "Không"
    if isinstance(value, dt.date):
        return format_date(value)
    if isinstance(value, int | float | Decimal):
        return format_number(value, group_digits)
    if isinstance(value, list | tuple | set | frozenset):
        return "; ".join(t for t in (format_value(v, group_digits) for v in value) if t)
    return nfc(str(value))


# Printable width of A4 (mm) with the margins both renderers use: NĐ 30 asks for a wider left margin
# (binding side) than right.
MARGINS_MM = {"left": 20.0, "right": 15.0, "top": 15.0, "bottom": 15.0}
A4_MM = (210.0, 297.0)


def printable_width(orientation: str) -> float:
    page_w = A4_MM[1] if orientation == "landscape" else A4_MM[0]
    return page_w - MARGINS_MM["left"] - MARGINS_MM["right"]


MIN_COLUMN_MM = 8.0  # room for "(10)" and one wide letter after the cell padding


def scaled_widths(columns, total_mm: float) -> list[float]:
    """Column widths scaled proportionally so the table spans exactly the printable width.

    Columns that would come out narrower than MIN_COLUMN_MM get that minimum and the others share the rest,
    so no text is ever drawn over a neighbouring cell.
    """
    declared = [c.width_mm for c in columns]
    floor = min(MIN_COLUMN_MM, total_mm / len(declared))
    pinned = [False] * len(declared)
    while True:
        free = total_mm - floor * sum(pinned)
        flexible = sum(w for w, pin in zip(declared, pinned, strict=True) if not pin)
        widths = [floor if pin else w * free / flexible for w, pin in zip(declared, pinned, strict=True)]
        too_narrow = [i for i, w in enumerate(widths) if not pinned[i] and w < floor - 1e-9]
        if not too_narrow:
            return widths
        for i in too_narrow:
            pinned[i] = True


def row_texts(report: Report, row) -> list[str]:
    return [format_value(cell_value(row, c.key), c.group_digits) for c in report.columns]


def wrap_lines(pdf, text: str, width: float) -> list[str]:
    """`text` broken into lines no wider than `width` (mm) in the pdf's current font.

    Own greedy wrapper rather than fpdf2's: a word wider than the column (a long notation such as
    "08/KH-STNMT" in a narrow cell) breaks after a '-' or '/' the way a clerk would write it, and a
    column narrower than one letter still prints instead of raising.
    """
    lines = []
    for paragraph in text.split("\n"):
        current = ""
        for word in paragraph.split():
            candidate = f"{current} {word}" if current else word
            if pdf.get_string_width(candidate) <= width:
                current = candidate
                continue
            if current:
                lines.append(current)
            *full, current = _split_word(pdf, word, width)
            lines.extend(full)
        lines.append(current)
    return lines or [""]


_BREAK_AFTER = "-/.,;"


def _split_word(pdf, word: str, width: float) -> list[str]:
    pieces = []
    while pdf.get_string_width(word) > width and len(word) > 1:
        fits = 1
        while fits < len(word) and pdf.get_string_width(word[: fits + 1]) <= width:
            fits += 1
        breaks = [i + 1 for i in range(fits) if word[i] in _BREAK_AFTER and i + 1 < len(word)]
        cut = breaks[-1] if breaks else fits
        pieces.append(word[:cut])
        word = word[cut:]
    pieces.append(word)
    return pieces


def truncate_to_width(pdf, text: str, width: float) -> str:
    """One line that fits `width`, ending in '…' when something was cut (for columns with wrap=False)."""
    if pdf.get_string_width(text) <= width:
        return text
    while text and pdf.get_string_width(text + "…") > width:
        text = text[:-1]
    return text + "…"
