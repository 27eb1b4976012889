"""Report rendering: tabular reports and registers to PDF and XLSX, with simple charts.

Pure library (no web framework, no database): callers build a Report (or use a register builder from
`vanban.reports.registers`) from rows they fetched, then call render_pdf / render_xlsx for bytes.
"""

from .pdf import FontSet, find_fonts, render_pdf
from .table import Chart, Column, HeaderBlock, Report, ReportError, format_value
from .xlsx import render_xlsx

__all__ = [
    "Chart",
    "Column",
    "FontSet",
    "HeaderBlock",
    "Report",
    "ReportError",
    "find_fonts",
    "format_value",
    "render_pdf",
    "render_xlsx",
]
