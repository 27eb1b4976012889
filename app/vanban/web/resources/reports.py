from __future__ import annotations

import falcon

from ...core.forms import parse_date
from ...core.registers import register_rows
from ...reports import format_value, registers, render_pdf, render_xlsx
from .base import Page

BOOKS = {"incoming": ("Sổ đăng ký văn bản đến", registers.incoming_register),
         "tracking": ("Sổ theo dõi giải quyết văn bản đến", registers.tracking_book)}


class ReportsIndex(Page):
    def on_get(self, req, resp):
        self.render(req, resp, "reports.html", books=BOOKS)


class Report(Page):
    def on_get(self, req, resp, name):
        if name not in BOOKS:
            raise falcon.HTTPNotFound()
        fmt = req.get_param("format") or "html"
        if fmt not in ("html", "pdf", "xlsx"):
            raise falcon.HTTPBadRequest(title="Định dạng không hợp lệ", description="invalid:format")
        params = {"from": req.get_param("from"), "to": req.get_param("to")}
        agency, date_from, date_to, rows = register_rows(
            req.context.user, parse_date(params, "from", "Từ ngày", required=False),
            parse_date(params, "to", "Đến ngày", required=False), self.ctx.clock.today())
        title, builder = BOOKS[name]
        report = builder(rows, agency.name, date_from, date_to)
        stem = f"{name}-{date_from:%Y%m%d}-{date_to:%Y%m%d}"
        if fmt == "pdf":
            resp.content_type, resp.data = "application/pdf", render_pdf(report)
            resp.downloadable_as = f"{stem}.pdf"
        elif fmt == "xlsx":
            resp.content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            resp.data, resp.downloadable_as = render_xlsx(report), f"{stem}.xlsx"
        else:
            self.render(req, resp, "report.html", fmt=format_value, name=name, title=title, report=report, rows=rows,
                        date_from=date_from, date_to=date_to)
