"""Render a Report to PDF with fpdf2: A4, a Times New Roman look, header repeated on every page.

The table is laid out by hand rather than with fpdf2's table(): registers need the (1), (2)... numbering row
repeated with the header, and a row taller than a page (a very long trích yếu) must split across pages instead
of running off the bottom.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

from fontTools.ttLib import TTFont
from fpdf import FPDF

from .charts import draw_pdf_chart
from .table import (
    MARGINS_MM,
    NATIONAL_MOTTO,
    NATIONAL_NAME,
    NO_DATA,
    Report,
    ReportError,
    printable_width,
    row_texts,
    scaled_widths,
    truncate_to_width,
    wrap_lines,
)

BODY_PT = 10
HEAD_PT = 10
NUMBERING_PT = 9
LINE_MM = 4.6  # 10 pt text with 1.3 leading
PAD_X = 1.4
PAD_Y = 1.1
HEADER_FILL = (232, 236, 241)
BORDER_GREY = 90
MIN_SPLIT_LINES = 3  # never start a split row with fewer lines than this at the foot of a page
# Two charts fit on one landscape page (180 mm printable height) and on one portrait page.
CHART_HEIGHT_MM = {"landscape": 88.0, "portrait": 110.0}


@dataclass(frozen=True)
class FontSet:
    family: str
    regular: str
    bold: str
    italic: str | None = None
    bold_italic: str | None = None


# Liberation Serif is metric-compatible with Times New Roman, the face NĐ 30/2020 prescribes (TCVN 6909:2001).
# Only version 2 has Vietnamese: Debian bookworm's fonts-liberation is 1.07 (no ế, ư, ạ...), its 2.x is the
# package fonts-liberation2 (liberation2/); from trixie on, fonts-liberation itself is 2.x. Each candidate is
# therefore checked for Vietnamese glyphs before use.
FONT_CANDIDATES = (
    (
        "LiberationSerif",
        ("/usr/share/fonts/truetype/liberation2", "/usr/share/fonts/truetype/liberation"),
        ("LiberationSerif-Regular.ttf", "LiberationSerif-Bold.ttf",
         "LiberationSerif-Italic.ttf", "LiberationSerif-BoldItalic.ttf"),
    ),
    (
        "DejaVuSerif",
        ("/usr/share/fonts/truetype/dejavu",),
        ("DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSerif-Italic.ttf", "DejaVuSerif-BoldItalic.ttf"),
    ),
)


# Letters a font must have to print Vietnamese (every tone mark on every vowel shape, ơ ư đ).
VIETNAMESE_PROBE = "ẠảÃấẦẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹĐđƠơƯư"


@functools.lru_cache(maxsize=32)
def covers_vietnamese(path: str) -> bool:
    try:
        with TTFont(path, lazy=True) as font:
            cmap = font.getBestCmap() or {}
    except Exception:  # unreadable or not a font: unusable, look further
        return False
    return all(ord(ch) in cmap for ch in VIETNAMESE_PROBE)


def _first_usable(dirs, name):
    for directory in dirs:
        path = os.path.join(directory, name)
        if os.path.isfile(path) and covers_vietnamese(path):
            return path
    return None


def find_fonts(candidates=FONT_CANDIDATES) -> FontSet:
    """The first serif family whose regular and bold faces print Vietnamese; italics are optional."""
    for family, dirs, names in candidates:
        found = [_first_usable(dirs, n) for n in names]
        if found[0] and found[1]:
            return FontSet(family, *found)
    raise ReportError(
        "report.font_missing",
        "Không tìm thấy phông chữ có đủ dấu tiếng Việt để xuất PDF (Liberation Serif 2 hoặc DejaVu Serif). "
        "Hãy cài gói fonts-liberation2 (hoặc fonts-liberation bản 2 trở lên) hoặc fonts-dejavu-core.",
    )


class _ReportPDF(FPDF):
    def __init__(self, orientation: str, fonts: FontSet):
        super().__init__(orientation="L" if orientation == "landscape" else "P", unit="mm", format="A4")
        self.report_family = fonts.family
        self.add_font(fonts.family, "", fonts.regular)
        self.add_font(fonts.family, "B", fonts.bold)
        # Missing italic faces fall back to the upright ones so callers can always ask for "I".
        self.add_font(fonts.family, "I", fonts.italic or fonts.regular)
        self.add_font(fonts.family, "BI", fonts.bold_italic or fonts.bold)
        self.set_margins(MARGINS_MM["left"], MARGINS_MM["top"], MARGINS_MM["right"])
        self.set_auto_page_break(True, MARGINS_MM["bottom"])
        self.set_draw_color(BORDER_GREY)
        self.set_line_width(0.2)

    def footer(self):
        self.set_y(-11)
        self.set_font(self.report_family, "", 9)
        self.cell(0, 5, f"Trang {self.page_no()}/{{nb}}", align="C")

    def use(self, style: str = "", size: float = BODY_PT):
        self.set_font(self.report_family, style, size)


def render_pdf(report: Report, *, fonts: FontSet | None = None) -> bytes:
    """The report as PDF bytes. `fonts` defaults to the system's Liberation Serif (or DejaVu Serif)."""
    pdf = _ReportPDF(report.orientation, fonts or find_fonts())
    pdf.set_title(report.title)
    pdf.set_lang("vi")
    pdf.set_creator("vanban")
    pdf.add_page()
    _draw_heading(pdf, report)
    _TableWriter(pdf, report).draw()
    _draw_notes(pdf, report)
    _draw_charts(pdf, report)
    return bytes(pdf.output())


# --- heading -----------------------------------------------------------------------------------------------


def _centered_lines(pdf, x, w, texts_styles, line_h):
    """Centred multi-line text in a band starting at the current y; returns the y below it."""
    y = pdf.get_y()
    for text, style, size in texts_styles:
        if not text:
            continue
        pdf.use(style, size)
        pdf.set_xy(x, y)
        pdf.multi_cell(w, line_h, text, align="C")
        y = pdf.get_y()
    return y


def _rule_under(pdf, x, w, y, text_w):
    """The short solid line NĐ 30 draws under the agency name and under the motto."""
    pdf.set_draw_color(0)
    pdf.line(x + (w - text_w) / 2, y + 0.6, x + (w + text_w) / 2, y + 0.6)
    pdf.set_draw_color(BORDER_GREY)


def _draw_header_block(pdf, header):
    x0, top = pdf.l_margin, pdf.get_y()
    width = pdf.epw
    left_w = width * 0.42
    right_x, right_w = x0 + left_w, width - left_w
    pdf.set_y(top)
    left_bottom = _centered_lines(
        pdf, x0, left_w,
        [(header.parent_agency.upper(), "", 12), (header.agency_name.upper(), "B", 12)], 5.4,
    )
    if header.agency_name:
        pdf.use("B", 12)
        _rule_under(pdf, x0, left_w, left_bottom, min(left_w * 0.6, pdf.get_string_width("M" * 10)))
    right_bottom = top
    if header.motto:
        pdf.set_y(top)
        right_bottom = _centered_lines(pdf, right_x, right_w, [(NATIONAL_NAME, "B", 12), (NATIONAL_MOTTO, "B", 13)], 5.4)
        pdf.use("B", 13)
        _rule_under(pdf, right_x, right_w, right_bottom, pdf.get_string_width(NATIONAL_MOTTO))
    pdf.set_y(max(left_bottom, right_bottom) + 6)


def _draw_heading(pdf, report):
    if report.header is not None:
        _draw_header_block(pdf, report.header)
    pdf.use("B", 14)
    pdf.multi_cell(0, 6.6, report.title.upper() if report.title else "", align="C",
                   new_x="LMARGIN", new_y="NEXT")
    pdf.use("I", 12)
    for line in report.subtitles:
        pdf.multi_cell(0, 5.6, line, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)


# --- table -------------------------------------------------------------------------------------------------


class _TableWriter:
    def __init__(self, pdf: _ReportPDF, report: Report):
        self.pdf = pdf
        self.report = report
        self.x0 = pdf.l_margin
        self.widths = scaled_widths(report.columns, printable_width(report.orientation))
        self.aligns = [c.pdf_align for c in report.columns]
        self.wraps = [c.wrap for c in report.columns]
        self._header = None

    @property
    def bottom(self):
        return self.pdf.page_break_trigger

    def draw(self):
        self._draw_header()
        if not self.report.rows:
            self._draw_no_data()
        for row in self.report.rows:
            self._draw_row(row_texts(self.report, row), "")
        if self.report.totals:
            self._draw_row(row_texts(self.report, self.report.totals), "B")
        self.pdf.set_xy(self.x0, self.pdf.get_y() + 3)

    # A cell's text broken into the lines that fit its width, measured with the font it will be drawn in.
    def _lines(self, text, width, wrap):
        inner = width - 2 * PAD_X
        if not text:
            return [""]
        if wrap:
            return wrap_lines(self.pdf, text, inner)
        return [truncate_to_width(self.pdf, text.replace("\n", " "), inner)]

    def _cell_lines(self, texts, wraps=None):
        wraps = wraps or self.wraps
        return [self._lines(t, w, wrap) for t, w, wrap in zip(texts, self.widths, wraps, strict=True)]

    def _header_height(self):
        if self._header is None:  # measured once: it is redrawn on every page and checked for every row
            self.pdf.use("B", HEAD_PT)
            lines = self._cell_lines([c.header for c in self.report.columns], [True] * len(self.widths))
            self._header = lines, max(len(cell) for cell in lines) * LINE_MM + 2 * PAD_Y
        return self._header

    def _draw_header(self):
        lines, h = self._header_height()
        numbering_h = LINE_MM + 2 * PAD_Y if self.report.number_columns else 0
        # Keep the header with at least one body line: a header alone at the foot of a page is useless.
        if self.pdf.get_y() + h + numbering_h + LINE_MM + 2 * PAD_Y > self.bottom:
            self.pdf.add_page()
        y = self.pdf.get_y()
        self.pdf.use("B", HEAD_PT)
        self._draw_cells(y, lines, h, ["C"] * len(lines), fill=HEADER_FILL, valign="middle")
        y += h
        if self.report.number_columns:
            self.pdf.use("I", NUMBERING_PT)
            numbers = [[f"({i})"] for i in range(1, len(self.widths) + 1)]
            self._draw_cells(y, numbers, numbering_h, ["C"] * len(lines), fill=HEADER_FILL, valign="middle")
            y += numbering_h
        self.pdf.set_y(y)

    def _draw_no_data(self):
        h = LINE_MM + 4 * PAD_Y
        y = self.pdf.get_y()
        self.pdf.use("I", BODY_PT)
        self.pdf.rect(self.x0, y, sum(self.widths), h)
        self.pdf.set_xy(self.x0, y + 2 * PAD_Y)
        self.pdf.cell(sum(self.widths), LINE_MM, NO_DATA, align="C")
        self.pdf.set_y(y + h)

    def _draw_row(self, texts, style):
        self.pdf.use(style, BODY_PT)
        lines = self._cell_lines(texts)
        remaining = max(len(cell) for cell in lines)
        fresh_page_lines = int((self.bottom - self._body_top()) / LINE_MM - 2 * PAD_Y / LINE_MM)
        while remaining:
            fit = int((self.bottom - self.pdf.get_y() - 2 * PAD_Y) / LINE_MM)
            if fit < remaining and (remaining <= fresh_page_lines or fit < MIN_SPLIT_LINES):
                self._new_page()
                continue
            take = min(fit, remaining)
            chunk = [cell[:take] for cell in lines]
            lines = [cell[take:] for cell in lines]
            h = take * LINE_MM + 2 * PAD_Y
            self.pdf.use(style, BODY_PT)
            y = self.pdf.get_y()
            self._draw_cells(y, chunk, h, self.aligns, valign="top")
            self.pdf.set_y(y + h)
            remaining -= take

    def _body_top(self):
        """Where body rows start on a continuation page (below the repeated header)."""
        _, h = self._header_height()
        numbering_h = LINE_MM + 2 * PAD_Y if self.report.number_columns else 0
        return self.pdf.t_margin + h + numbering_h

    def _new_page(self):
        self.pdf.add_page()
        self._draw_header()

    def _draw_cells(self, y, lines, h, aligns, fill=None, valign="top"):
        pdf = self.pdf
        x = self.x0
        if fill:
            pdf.set_fill_color(*fill)
        for cell, width, align in zip(lines, self.widths, aligns, strict=True):
            pdf.rect(x, y, width, h, style="DF" if fill else "D")
            text_h = len(cell) * LINE_MM
            ty = y + PAD_Y if valign == "top" else y + (h - text_h) / 2
            for line in cell:
                pdf.set_xy(x + PAD_X, ty)
                pdf.cell(width - 2 * PAD_X, LINE_MM, line, align=align)
                ty += LINE_MM
            x += width


# --- notes and charts --------------------------------------------------------------------------------------


def _draw_notes(pdf, report):
    if not report.notes:
        return
    pdf.use("I", 11)
    for note in report.notes:
        pdf.multi_cell(0, 5.4, note, new_x="LMARGIN", new_y="NEXT")


def _draw_charts(pdf, report):
    height = CHART_HEIGHT_MM[report.orientation]
    for chart in report.charts:
        if pdf.get_y() + height > pdf.page_break_trigger:
            pdf.add_page()
        top = pdf.get_y() + 4
        draw_pdf_chart(pdf, chart, pdf.l_margin, top, pdf.epw, height - 4)
        pdf.set_y(top + height)
