"""Charts for reports: vector drawing with fpdf2 primitives for PDF, native openpyxl charts for XLSX.

No plotting library: matplotlib pulls numpy, which the appliance cannot carry (old CPUs, see pyproject).
"""

from __future__ import annotations

import math

from openpyxl.chart import BarChart, LineChart, PieChart, Reference
from openpyxl.chart.label import DataLabelList
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from .table import Chart, format_number, truncate_to_width, wrap_lines

# Muted colours that stay distinguishable when printed in greyscale (dark, mid, light alternate).
PALETTE = [
    (31, 78, 121), (192, 80, 77), (112, 150, 60), (230, 160, 40),
    (110, 84, 148), (45, 150, 160), (120, 120, 120), (150, 95, 55),
]
GRID_GREY = 210
AXIS_GREY = 80


def hex_colour(rgb) -> str:
    return "{:02X}{:02X}{:02X}".format(*rgb)


def nice_ticks(low: float, high: float, target: int = 5) -> list[float]:
    """Round axis ticks (steps of 1, 2 or 5 x 10^k) covering [low, high]; low and high may be equal."""
    low, high = min(low, 0.0), max(high, 0.0)
    if high == low:
        high = low + 1
    raw = (high - low) / target
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    start = math.floor(low / step) * step
    ticks, value = [], start
    while value < high + step * 0.999:
        ticks.append(round(value, 10))
        value += step
    return ticks


# --- PDF ---------------------------------------------------------------------------------------------------


def draw_pdf_chart(pdf, chart: Chart, x: float, y: float, w: float, h: float) -> None:
    """Draw `chart` inside the box (x, y, w, h) of a report PDF (an object with `use(style, size)`)."""
    pdf.use("B", 11)
    pdf.set_xy(x, y)
    pdf.cell(w, 6, chart.title, align="C")
    top = y + 8
    if chart.kind == "pie":
        _draw_pie(pdf, chart, x, top, w, y + h - top)
        return
    legend_h = _draw_legend(pdf, list(chart.series), x, y + h, w)
    _draw_axes_chart(pdf, chart, x, top, w, y + h - legend_h - top - 2)


def _draw_legend(pdf, names, x, bottom, w) -> float:
    """Legend centred under the plot, wrapped onto as many rows as needed; returns its height."""
    pdf.use("", 9)
    items = [(name, pdf.get_string_width(name) + 9) for name in names]
    rows, current = [], []
    for item in items:
        if current and sum(i[1] for i in current) + item[1] > w:
            rows.append(current)
            current = []
        current.append(item)
    rows.append(current)
    height = len(rows) * 5.5
    ly = bottom - height
    index = 0
    for row in rows:
        lx = x + (w - sum(i[1] for i in row)) / 2
        for name, item_w in row:
            pdf.set_fill_color(*PALETTE[index % len(PALETTE)])
            pdf.rect(lx, ly + 1.2, 3.2, 3.2, style="F")
            pdf.set_xy(lx + 4.2, ly)
            pdf.cell(item_w - 4.2, 5.5, name)
            lx += item_w
            index += 1
        ly += 5.5
    return height


def _series_range(chart):
    values = [v for vals in chart.series.values() for v in vals if v is not None]
    return (min(values), max(values)) if values else (0.0, 1.0)


def _category_label_lines(pdf, text, width, max_lines=3):
    lines = wrap_lines(pdf, text, width)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1].rstrip()[:-1] + "…"
    return lines


ROTATE_BELOW_MM = 14.0  # narrower category slots get vertical labels
ROTATED_LABEL_MM = 30.0


def _draw_axes_chart(pdf, chart, x, top, w, h):
    ticks = nice_ticks(*_series_range(chart))
    pdf.use("", 8)
    label_w = max(pdf.get_string_width(format_number(t, True)) for t in ticks) + 2.5
    n = max(len(chart.categories), 1)
    plot_x, plot_w = x + label_w, w - label_w - 2
    slot = plot_w / n
    rotated = slot < ROTATE_BELOW_MM
    if rotated:
        pdf.use("", 7)
        labels = [truncate_to_width(pdf, c, ROTATED_LABEL_MM) for c in chart.categories]
        labels_h = max((pdf.get_string_width(t) for t in labels), default=0) + 3
    else:
        labels = [_category_label_lines(pdf, c, slot - 1) for c in chart.categories]
        labels_h = max((len(ls) for ls in labels), default=1) * 3.6 + 1.5
    plot_y, plot_h = top, h - labels_h

    def y_of(value):
        return plot_y + plot_h - (value - ticks[0]) / (ticks[-1] - ticks[0]) * plot_h

    _draw_grid(pdf, ticks, plot_x, plot_w, y_of)
    if chart.kind == "bar":
        _draw_bars(pdf, chart, plot_x, slot, y_of)
    else:
        _draw_lines(pdf, chart, plot_x, slot, y_of)
    pdf.set_draw_color(AXIS_GREY)
    pdf.line(plot_x, plot_y, plot_x, plot_y + plot_h)
    pdf.line(plot_x, y_of(0), plot_x + plot_w, y_of(0))
    if rotated:
        _draw_rotated_labels(pdf, labels, plot_x, slot, plot_y + plot_h + 1.5)
        return
    pdf.use("", 8)
    for i, lines in enumerate(labels):
        for j, line in enumerate(lines):
            pdf.set_xy(plot_x + i * slot, plot_y + plot_h + 1.2 + j * 3.6)
            pdf.cell(slot, 3.6, line, align="C")


def _draw_rotated_labels(pdf, labels, plot_x, slot, axis_y):
    """Vertical labels reading upwards, each ending just under the axis."""
    pdf.use("", 7)
    for i, text in enumerate(labels):
        px = plot_x + (i + 0.5) * slot + 1.0  # +1 mm: the baseline, so the glyphs centre on the slot
        py = axis_y + pdf.get_string_width(text)
        with pdf.rotation(90, px, py):
            pdf.text(px, py, text)


def _draw_grid(pdf, ticks, plot_x, plot_w, y_of):
    pdf.use("", 8)
    pdf.set_line_width(0.15)
    for tick in ticks:
        ty = y_of(tick)
        pdf.set_draw_color(GRID_GREY)
        pdf.line(plot_x, ty, plot_x + plot_w, ty)
        text = format_number(tick, True)
        pdf.set_xy(plot_x - pdf.get_string_width(text) - 1.5, ty - 1.8)
        pdf.cell(pdf.get_string_width(text) + 0.5, 3.6, text)
    pdf.set_line_width(0.2)


def _draw_bars(pdf, chart, plot_x, slot, y_of):
    series = list(chart.series.values())
    # Cap bar width: with few categories full-slot bars look like blocks and waste ink.
    bar_w = min(slot * 0.72 / len(series), 18.0)
    group_offset = (slot - bar_w * len(series)) / 2
    show_values = bar_w >= 5
    pdf.use("", 7)
    for s_index, values in enumerate(series):
        pdf.set_fill_color(*PALETTE[s_index % len(PALETTE)])
        for c_index, value in enumerate(values):
            if value is None:
                continue
            bx = plot_x + c_index * slot + group_offset + s_index * bar_w
            y_top, y_bottom = sorted((y_of(value), y_of(0)))
            pdf.rect(bx, y_top, bar_w, max(y_bottom - y_top, 0.01), style="F")
            if show_values:
                text = format_number(value, True)
                pdf.set_xy(bx - 2, (y_top - 3.4) if value >= 0 else y_bottom)
                pdf.cell(bar_w + 4, 3.4, text, align="C")


def _draw_lines(pdf, chart, plot_x, slot, y_of):
    pdf.set_line_width(0.6)
    for s_index, values in enumerate(chart.series.values()):
        colour = PALETTE[s_index % len(PALETTE)]
        pdf.set_draw_color(*colour)
        pdf.set_fill_color(*colour)
        points = [
            (plot_x + (i + 0.5) * slot, y_of(v)) if v is not None else None for i, v in enumerate(values)
        ]
        # A None value breaks the line: draw each run of known values separately.
        run = []
        for point in points + [None]:
            if point is not None:
                run.append(point)
                continue
            if len(run) > 1:
                pdf.polyline(run)
            for px, py in run:
                pdf.circle(px, py, 0.9, style="F")
            run = []
    pdf.set_line_width(0.2)


def _draw_pie(pdf, chart, x, top, w, h):
    name, values = next(iter(chart.series.items()))
    parts = [(c, v) for c, v in zip(chart.categories, values, strict=True) if v and v > 0]
    total = sum(v for _, v in parts)
    if not total:
        pdf.use("I", 10)
        pdf.set_xy(x, top + h / 2)
        pdf.cell(w, 5, "Không có dữ liệu", align="C")
        return
    radius = min(h / 2 - 2, w * 0.2)
    cx, cy = x + w * 0.32, top + h / 2
    angle = 90.0  # start at 12 o'clock and go clockwise, as readers expect
    pdf.set_draw_color(255)
    for index, (_, value) in enumerate(parts):
        sweep = value / total * 360
        pdf.set_fill_color(*PALETTE[index % len(PALETTE)])
        steps = max(int(sweep / 2), 2)
        arc = [
            (cx + radius * math.cos(math.radians(angle - sweep * k / steps)),
             cy - radius * math.sin(math.radians(angle - sweep * k / steps)))
            for k in range(steps + 1)
        ]
        pdf.polygon([(cx, cy), *arc], style="DF")
        angle -= sweep
    pdf.set_draw_color(AXIS_GREY)
    _draw_pie_legend(pdf, parts, total, cx + radius + 12, cy, x + w - (cx + radius + 12))


def _draw_pie_legend(pdf, parts, total, lx, cy, width):
    pdf.use("", 9)
    ly = cy - len(parts) * 5.5 / 2
    for index, (category, value) in enumerate(parts):
        pdf.set_fill_color(*PALETTE[index % len(PALETTE)])
        pdf.rect(lx, ly + 1.2, 3.2, 3.2, style="F")
        share = format_number(round(value / total * 100, 1))
        pdf.set_xy(lx + 4.5, ly)
        pdf.cell(width - 4.5, 5.5, f"{category}: {format_number(value, True)} ({share}%)")
        ly += 5.5


# --- XLSX --------------------------------------------------------------------------------------------------

XLSX_CHART_ROWS = 22  # rows one chart occupies on the chart sheet (15 cm at the default row height)


def add_xlsx_chart(ws, chart: Chart, top_row: int) -> int:
    """Write the chart's data at `top_row` of `ws` and anchor a native chart beside it.

    Returns the first free row below both. The data stays visible: Excel charts need cell references,
    and a clerk checking a figure wants the numbers next to the picture.
    """
    ws.cell(top_row, 1, chart.title).font = Font(bold=True, size=12)
    head = top_row + 1
    ws.cell(head, 1, "")
    for j, name in enumerate(chart.series, start=2):
        ws.cell(head, j, name).font = Font(bold=True)
    for i, category in enumerate(chart.categories, start=1):
        ws.cell(head + i, 1, category)
        for j, values in enumerate(chart.series.values(), start=2):
            ws.cell(head + i, j, values[i - 1])
    last = head + len(chart.categories)
    n_series = 1 if chart.kind == "pie" else len(chart.series)
    native = _native_chart(chart)
    data = Reference(ws, min_col=2, max_col=1 + n_series, min_row=head, max_row=last)
    native.add_data(data, titles_from_data=True)
    native.set_categories(Reference(ws, min_col=1, min_row=head + 1, max_row=last))
    if chart.kind != "pie":
        for index, series in enumerate(native.series):
            colour = hex_colour(PALETTE[index % len(PALETTE)])
            series.graphicalProperties.solidFill = colour
            series.graphicalProperties.line.solidFill = colour
    anchor_col = 3 + len(chart.series)
    ws.add_chart(native, f"{get_column_letter(anchor_col)}{top_row}")
    return max(last + 2, top_row + XLSX_CHART_ROWS)


def _native_chart(chart: Chart):
    if chart.kind == "bar":
        native = BarChart()
        native.type = "col"
        native.grouping = "clustered"
    elif chart.kind == "line":
        native = LineChart()
    else:
        native = PieChart()
        native.dataLabels = DataLabelList()
        native.dataLabels.showPercent = True
    native.title = chart.title
    native.width, native.height = 20, 11
    if chart.kind != "pie":
        native.legend.position = "b"
        # openpyxl >= 3.1 hides axes unless told otherwise; an unlabelled chart is no use in a report.
        native.x_axis.delete = False
        native.y_axis.delete = False
    return native
