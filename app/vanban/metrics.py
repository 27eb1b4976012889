"""All Prometheus metrics of the app (names: vanban_<noun>_<unit>[_total], bounded labels only).

Under gunicorn the workers share values through prometheus_client's multiprocess mode
(PROMETHEUS_MULTIPROC_DIR, set by gunicorn_conf before workers start)."""
from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

from . import __version__

REQUESTS = Counter("vanban_http_requests_total", "HTTP requests by route template, method and status",
                   ["route", "method", "status"])
LATENCY = Histogram("vanban_http_request_duration_seconds", "HTTP request latency by route template",
                    ["route", "method"], buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10))
AV_SCANS = Counter("vanban_av_scans_total", "Antivirus scans of uploads by result", ["result"])
BUILD_INFO = Gauge("vanban_build_info", "Build of the running app", ["version", "role"],
                   multiprocess_mode="liveall")




def _extra_collectors(role: str, clock) -> list:
    """Scrape-time collectors of subsystems (objects with collect(), as prometheus_client expects)."""
    from .exchange.stats import OutboxCollector

    collectors = [OutboxCollector(clock)]
    if role == "hub":  # the relay queue per server; audit-log heads witnessed per node, conflicts to acknowledge
        from .exchange.stats import HubQueueCollector
        from .exchange.witness import AuditHeadCollector

        collectors += [HubQueueCollector(clock), AuditHeadCollector()]
    return collectors


class BusinessCollector:
    """Gauges read from the database at scrape time (cheap indexed counts), so every worker agrees."""

    def __init__(self, today):
        self.today = today

    def collect(self):
        from .core.metrics_queries import document_gauges

        pending = GaugeMetricFamily("vanban_documents_pending", "Open documents per agency", labels=["agency"])
        overdue = GaugeMetricFamily("vanban_documents_overdue", "Overdue documents per agency", labels=["agency"])
        for agency, n_pending, n_overdue in document_gauges(self.today):
            pending.add_metric([agency], n_pending)
            overdue.add_metric([agency], n_overdue)
        yield pending
        yield overdue


def render(role: str, clock) -> bytes:
    BUILD_INFO.labels(__version__, role).set(1)
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
    else:
        from prometheus_client import REGISTRY

        registry = REGISTRY
    out = generate_latest(registry)
    business = CollectorRegistry()
    business.register(BusinessCollector(clock.today()))
    for collector in _extra_collectors(role, clock):
        business.register(collector)
    return out + generate_latest(business)
