"""Report rendering: tabular reports and registers to PDF and XLSX, with simple charts.

Pure library (no web framework, no database): callers build a Report (or use a register builder from
`vanban.reports.registers`) from rows they fetched, then call render_pdf / render_xlsx for bytes.
"""

from .table import Chart, Column, HeaderBlock, Report, ReportError, format_value

# The renderers load fpdf2, fontTools, Pillow and openpyxl (tens of MB): they are imported on first use, not
# by every web worker that merely links to a report.
_LAZY = {"FontSet": "pdf", "find_fonts": "pdf", "render_pdf": "pdf", "render_xlsx": "xlsx"}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(name)


def render_pdf(report, **kwargs) -> bytes:
    from .pdf import render_pdf as render

    return render(report, **kwargs)


def render_xlsx(report) -> bytes:
    from .xlsx import render_xlsx as render

    return render(report)

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
