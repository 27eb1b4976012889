"""Render a Report to XLSX with openpyxl: real dates and numbers, frozen header, filter, print setup."""

from __future__ import annotations

import datetime as dt
import io
import math
import re
from decimal import Decimal

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter

from .charts import add_xlsx_chart
from .table import (
    NATIONAL_MOTTO,
    NATIONAL_NAME,
    NO_DATA,
    Report,
    cell_value,
    format_value,
    printable_width,
    scaled_widths,
    vietnam_wall_clock,
)

FONT_NAME = "Times New Roman"
BODY_PT = 11
MM_PER_CHAR = 1.9  # Excel width unit is one '0' of the default font, about 1.9 mm at 100 %
LINE_PT = 15.0  # row height of one line of 11 pt text
HEADER_FILL = PatternFill("solid", fgColor="E8ECF1")
THIN = Side(style="thin", color="5A5A5A")
BOX = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
_ALIGN = {"L": "left", "C": "center", "R": "right"}
_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")


def render_xlsx(report: Report) -> bytes:
    """The report as XLSX bytes: table on the first sheet, charts (with their data) on a second one."""
    wb = Workbook()
    ws = wb.active
    ws.title = _sheet_title(report.sheet_name, "Báo cáo")
    wb.properties.title = report.title
    wb.properties.creator = "vanban"
    widths = scaled_widths(report.columns, printable_width(report.orientation))
    for index, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(index)].width = round(width / MM_PER_CHAR, 1)
    row = _write_heading(ws, report)
    header_row = row
    row = _write_header(ws, report, row, widths)
    first_data = row
    row = _write_body(ws, report, row, widths)
    _write_notes(ws, report, row + 1, widths)
    filter_row = header_row + 1 if report.number_columns else header_row
    ws.freeze_panes = ws.cell(first_data, 1)
    last_col = get_column_letter(len(report.columns))
    # The filter buttons sit on the (1), (2)... row when there is one, so they never cover a header text.
    ws.auto_filter.ref = f"A{filter_row}:{last_col}{max(first_data + len(report.rows) - 1, filter_row)}"
    _page_setup(ws, report, header_row, first_data - 1)
    if report.charts:
        _write_charts(wb, report)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _sheet_title(name: str, default: str) -> str:
    clean = _SHEET_FORBIDDEN.sub(" ", name or "").strip()[:31]
    return clean or default


def _merged(ws, row, first_col, last_col, value, font, align="center", height=None):
    cell = ws.cell(row, first_col, value)
    cell.font = font
    cell.alignment = Alignment(horizontal=align, vertical="center", wrap_text=True)
    if last_col > first_col:
        ws.merge_cells(start_row=row, start_column=first_col, end_row=row, end_column=last_col)
    if height:
        ws.row_dimensions[row].height = height


def _font(bold=False, italic=False, size=BODY_PT, underline=None):
    return Font(name=FONT_NAME, bold=bold, italic=italic, size=size, underline=underline)


def _write_heading(ws, report) -> int:
    """Header block, title and subtitles; returns the row where the table header goes."""
    n = len(report.columns)
    row = 1
    header = report.header
    if header is not None:
        left_last = max(1, round(n * 0.42)) if n > 1 else 1
        right_first = left_last + 1 if n > 1 else 1
        lines_left = [(header.parent_agency.upper(), _font(size=12)),
                      (header.agency_name.upper(), _font(bold=True, size=12, underline="single"))]
        lines_right = [(NATIONAL_NAME, _font(bold=True, size=12)),
                       (NATIONAL_MOTTO, _font(bold=True, size=13, underline="single"))] if header.motto else []
        lines_left = [line for line in lines_left if line[0]]
        if n == 1:
            for text, font in lines_right + lines_left:
                _merged(ws, row, 1, 1, text, font)
                row += 1
        else:
            for i in range(max(len(lines_left), len(lines_right))):
                if i < len(lines_left):
                    _merged(ws, row, 1, left_last, lines_left[i][0], lines_left[i][1])
                if i < len(lines_right):
                    _merged(ws, row, right_first, n, lines_right[i][0], lines_right[i][1])
                row += 1
        row += 1
    _merged(ws, row, 1, n, report.title.upper(), _font(bold=True, size=14), height=21)
    row += 1
    for line in report.subtitles:
        _merged(ws, row, 1, n, format_value(line), _font(italic=True, size=12))
        row += 1
    return row + 1


def _estimate_lines(text: str, width_mm: float) -> int:
    chars = max(1, int(width_mm / MM_PER_CHAR))
    return sum(max(1, math.ceil(len(part) / chars)) for part in text.split("\n"))


def _write_header(ws, report, row, widths) -> int:
    lines = 1
    for col, (column, width) in enumerate(zip(report.columns, widths, strict=True), start=1):
        cell = ws.cell(row, col, format_value(column.header))
        cell.font = _font(bold=True)
        cell.fill = HEADER_FILL
        cell.border = BOX
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        lines = max(lines, _estimate_lines(column.header, width - 2))
    ws.row_dimensions[row].height = lines * LINE_PT + 4
    row += 1
    if report.number_columns:
        for col in range(1, len(report.columns) + 1):
            cell = ws.cell(row, col, f"({col})")
            cell.font = _font(italic=True, size=10)
            cell.fill = HEADER_FILL
            cell.border = BOX
            cell.alignment = Alignment(horizontal="center", vertical="center")
        row += 1
    return row


def _write_body(ws, report, row, widths) -> int:
    if not report.rows:
        _merged(ws, row, 1, len(report.columns), NO_DATA, _font(italic=True))
        for col in range(1, len(report.columns) + 1):
            ws.cell(row, col).border = BOX
        return row + 1
    for data in report.rows:
        _write_row(ws, report, row, data, widths, bold=False)
        row += 1
    if report.totals:
        _write_row(ws, report, row, report.totals, widths, bold=True)
        row += 1
    return row


def _write_row(ws, report, row, data, widths, bold):
    lines = 1
    for col, (column, width) in enumerate(zip(report.columns, widths, strict=True), start=1):
        value = cell_value(data, column.key)
        cell = ws.cell(row, col)
        text = _set_value(cell, value, column.group_digits)
        cell.font = _font(bold=bold)
        cell.border = BOX
        cell.alignment = Alignment(
            horizontal=_ALIGN[column.pdf_align], vertical="top", wrap_text=column.wrap
        )
        if column.wrap and text:
            lines = max(lines, _estimate_lines(text, width - 2))
    # openpyxl cannot measure text, and Excel does not re-fit rows of a file it did not write itself:
    # set an estimated height so wrapped subjects are not clipped to one line.
    ws.row_dimensions[row].height = lines * LINE_PT + 2


def _set_value(cell, value, group_digits) -> str:
    """Store dates as dates and numbers as numbers; everything else as text. Returns the displayed text."""
    if isinstance(value, dt.datetime):
        value = vietnam_wall_clock(value)  # Excel has no time zones
        cell.value = value
        has_time = (value.hour, value.minute, value.second) != (0, 0, 0)
        cell.number_format = "dd/mm/yyyy hh:mm" if has_time else "dd/mm/yyyy"
        return "00/00/0000 00:00"
    if isinstance(value, dt.date):
        cell.value = value
        cell.number_format = "dd/mm/yyyy"
        return "00/00/0000"
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        if not math.isfinite(value):
            return ""
        cell.value = value
        whole = value == int(value)
        cell.number_format = ("#,##0" if group_digits else "0") if whole else "#,##0.0#"
        return format_value(value, group_digits)
    text = format_value(value, group_digits)
    cell.value = text or None
    if text:
        # A subject starting with "=" is text from a sender, never a formula to evaluate.
        cell.data_type = "s"
    return text


def _write_notes(ws, report, row, widths):
    for note in report.notes:
        text = format_value(note)
        height = _estimate_lines(text, sum(widths)) * LINE_PT + 2
        _merged(ws, row, 1, len(report.columns), text, _font(italic=True), align="left", height=height)
        row += 1


def _page_setup(ws, report, first_title_row, last_title_row):
    ws.page_setup.orientation = report.orientation
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0  # as many pages tall as needed
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_title_rows = f"{first_title_row}:{last_title_row}"
    ws.print_options.horizontalCentered = True
    ws.page_margins.left, ws.page_margins.right = 0.79, 0.59  # 20 mm / 15 mm, as in the PDF
    ws.page_margins.top = ws.page_margins.bottom = 0.59
    ws.oddFooter.center.text = "Trang &P/&N"
    ws.oddFooter.center.font = FONT_NAME


def _write_charts(wb, report):
    ws = wb.create_sheet("Biểu đồ")
    ws.column_dimensions["A"].width = 34
    row = 1
    for chart in report.charts:
        row = add_xlsx_chart(ws, chart, row)
