"""Exchange pages: on a node, the outbox and recipients' statuses, and the clerk's queue of received documents;
on the hub, the provincial figures (DOMAIN §12) with charts and an XLSX export."""
from __future__ import annotations

from datetime import datetime, timedelta

import falcon

from ...core.accounts import require_role
from ...core.forms import parse_date
from ...errors import Invalid
from ...exchange.codes import status_label
from ...reports import render_xlsx
from ..forms import read_form
from .base import Page


class _OnUse:
    """The exchange modules load lxml, signxml and requests: imported when an exchange page is first used."""

    def __init__(self, name):
        self._name = name

    def __getattr__(self, attr):
        import importlib

        return getattr(importlib.import_module(self._name), attr)


clerk, node, stats = (_OnUse(f"vanban.exchange.{m}") for m in ("clerk", "node", "stats"))


def _range(req, today):
    params = {"from": req.get_param("from"), "to": req.get_param("to")}
    date_to = parse_date(params, "to", "Đến ngày", required=False) or today
    date_from = parse_date(params, "from", "Từ ngày", required=False) or date_to.replace(month=1, day=1)
    if date_from > date_to:
        raise Invalid("Từ ngày sau đến ngày.", code="bad_date:range", field="from")
    return date_from, date_to


class ExchangeHome(Page):
    def on_get(self, req, resp):
        user = req.context.user
        if self.ctx.settings.role == "hub":
            return self._hub(req, resp, user)
        require_role(user, "clerk", "leader", "admin")
        code = user.agency.code
        overview = node.outbox_overview(self.ctx.clock.now()).get(code, {"depth": 0, "oldest_age": 0.0})
        queue = clerk.queue(user) if "clerk" in user.role_set else []
        self.render(req, resp, "exchange_node.html", overview=overview, queue=queue,
                    receipts=node.receipts(code), history=clerk.history(user, 50), status_label=status_label,
                    business_labels=clerk.BUSINESS_LABELS, agency_name=clerk.agency_name)

    def _hub(self, req, resp, user):
        require_role(user, "admin", "leader")
        date_from, date_to = _range(req, self.ctx.clock.today())
        start, end = datetime.combine(date_from, datetime.min.time()), datetime.combine(date_to, datetime.min.time())
        report, per_agency, per_level = stats.report(start, end + timedelta(days=1),
                                                     f"Từ {date_from:%d/%m/%Y} đến {date_to:%d/%m/%Y}")
        if req.get_param("format") == "xlsx":
            resp.content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            resp.data = render_xlsx(report)
            resp.downloadable_as = f"lien-thong-{date_from:%Y%m%d}-{date_to:%Y%m%d}.xlsx"
            return
        self.render(req, resp, "exchange_hub.html", per_agency=per_agency, per_level=per_level,
                    columns=stats.COLUMNS, charts=[(c, _peak(c)) for c in report.charts], date_from=date_from, date_to=date_to)


def _peak(chart) -> float:
    return max([1.0] + [v for values in chart.series.values() for v in values if v is not None])


class ExchangeItem(Page):
    def on_get(self, req, resp, item_id):
        result = clerk.inspect(self.ctx, req.context.user, item_id)
        self.render(req, resp, "exchange_item.html", item=result.row, pkg=result.package, error=result.error,
                    pdf_checks=result.pdf_checks, business_labels=clerk.BUSINESS_LABELS, status_label=status_label)


class ExchangeAction(Page):
    """POST /exchange/inbox/{id}/{action}: accept | refuse | recall_agree | recall_refuse."""

    def on_post(self, req, resp, item_id, action):
        user = req.context.user
        form, _ = read_form(req, self.ctx)
        if action == "accept":
            doc = clerk.accept(self.ctx, user, item_id, register_id=form.get("register_id") or None,
                               confirm_duplicate=form.get("confirm_duplicate") == "1")
            self.redirect(f"/documents/{doc.id}?registered=1")
        elif action == "refuse":
            clerk.refuse(self.ctx, user, item_id, form.get("reason", ""))
        elif action in ("recall_agree", "recall_refuse"):
            clerk.answer_recall(self.ctx, user, item_id, action == "recall_agree", form.get("note", ""))
        else:
            raise falcon.HTTPNotFound()
        self.redirect("/exchange")


def add_routes(app, page: dict) -> None:
    """The pages, and on a hub the /exchange/v1 protocol (exchange/api.py: a node does not load the hub's code)."""
    if page["ctx"].settings.role == "hub":
        from ...exchange import api

        api.add_routes(app, page["ctx"])
    app.add_route("/exchange", ExchangeHome(**page))
    app.add_route("/exchange/inbox/{item_id:int}", ExchangeItem(**page))
    app.add_route("/exchange/inbox/{item_id:int}/{action}", ExchangeAction(**page))
