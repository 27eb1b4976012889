"""The hub's fleet pages (issue 6): every node at a glance (/fleet) and one node's charts (/fleet/{node}).

Only on a hub (settings.role == "hub"), only for its administrators. Data comes from the fleet Prometheus
(vanban.fleet); when it cannot answer, the page says so in Vietnamese with status 503 instead of failing.
"""
from __future__ import annotations

import time
from datetime import datetime
from zoneinfo import ZoneInfo

import falcon

from ... import fleet
from ...core.accounts import require_role
from ...errors import NotFound
from .base import Page


def prometheus_url(settings) -> str:
    # fleet_prometheus_url is declared in settings.py by the lead; older settings objects lack it.
    return getattr(settings, "fleet_prometheus_url", fleet.DEFAULT_URL) or fleet.DEFAULT_URL


class _FleetPage(Page):
    default_range = "6h"

    def _prepare(self, req):
        if self.ctx.settings.role != "hub":
            raise falcon.HTTPNotFound()  # nodes have no fleet: the page does not exist there
        require_role(req.context.user, "admin")
        range_key = req.get_param("range") or self.default_range
        if range_key not in fleet.RANGES:
            range_key = self.default_range
        tz = ZoneInfo(self.ctx.settings.timezone)
        url = prometheus_url(self.ctx.settings)
        return fleet.Prometheus(url), range_key, tz, url

    def _common(self, range_key, tz, url) -> dict:
        now = time.time()
        return {"range_key": range_key, "ranges": fleet.RANGE_LABELS, "prometheus_url": url, "now": now,
                "updated": datetime.fromtimestamp(now, tz).strftime("%H:%M:%S %d/%m/%Y"),
                "level_labels": fleet.LEVEL_LABELS, "fmt_ago": lambda ts: fleet.fmt_duration(now - ts),
                "sparkline": fleet.sparkline, "start": now - fleet.RANGES[range_key]}


class FleetOverview(_FleetPage):
    def on_get(self, req, resp):
        prom, range_key, tz, url = self._prepare(req)
        values = self._common(range_key, tz, url)
        try:
            nodes, error = fleet.fleet_status(prom, range_key, now=values["now"]), None
        except fleet.FleetUnavailable as exc:
            nodes, error = [], exc.message
        self.render(req, resp, "fleet.html", status=503 if error else 200, nodes=nodes, error=error,
                    counts=fleet.summary(nodes), checks=fleet.CHECKS, common_version=fleet.common_version(nodes),
                    **values)


class FleetNode(_FleetPage):
    default_range = "24h"

    def on_get(self, req, resp, node):
        prom, range_key, tz, url = self._prepare(req)
        if not fleet.valid_node(node):
            raise NotFound("Không có máy chủ này trong danh sách giám sát.", code="fleet_node_not_found")
        values = self._common(range_key, tz, url)
        status, charts, alerts, error = None, [], [], None
        try:
            status = next((s for s in fleet.fleet_status(prom, range_key, now=values["now"], sparks=False)
                           if s.node == node), None)
            if status is None:
                raise NotFound("Không có máy chủ này trong danh sách giám sát.", code="fleet_node_not_found")
            charts = fleet.node_charts(prom, node, range_key, now=values["now"])
            alerts = fleet.node_alerts(prom, node)
        except fleet.FleetUnavailable as exc:
            error = exc.message
        self.render(req, resp, "fleet_node.html", status=503 if error else 200, node=node, s=status,
                    charts=[(c, c.geometry(tz=tz)) for c in charts], alerts=alerts, error=error,
                    checks=fleet.CHECKS, **values)


def add_routes(app, page: dict) -> None:
    app.add_route("/fleet", FleetOverview(**page))
    app.add_route("/fleet/{node}", FleetNode(**page))
