"""What the province reports (DOMAIN §12), computed at the hub from the messages it relayed, and the outbox
gauges of a node (vanban_outbox_depth, vanban_outbox_oldest_age_seconds) and of the hub's queue
(vanban_hub_queue_depth, vanban_hub_queue_oldest_age_seconds).

The hub sees every electronic exchange between agencies and every status the recipients send back, so it
can say per agency and per level: how many documents went out and came in electronically, the share that
travelled fully electronic (Paper = 0) versus with a paper original, the share carrying a valid system
signature, the share of received documents registered (03) and completed (06) in the system, and the time from
arrival at the hub to completion.

Paper-only documents never reach the hub, nor does a document between two agencies of the same server, nor
the routing inside an agency: the shares *of all documents* come from the nodes' signed daily reports
(exchange/daily.py, table hub_daily_figure): documents received and sent electronically out of all received
and issued, outgoing fully electronic / with paper / paper only, signed, incoming and outgoing handled in the
system, and the processing time of completed incoming documents. An agency whose node sent no report for the
period shows no share (not 0%): silence is not a figure. Task notices (exchange/tasks.py) are not documents
and are left out.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from prometheus_client.core import GaugeMetricFamily

from ..models import database
from ..models.exchange import HubAgency, HubDailyFigure, HubMessage
from .daily_xml import FIELDS as REPORTED
from .hub import LEVELS

COLUMNS = [
    ("code", "Mã cơ quan"), ("name", "Cơ quan"), ("level_name", "Cấp"),
    # from the nodes' daily reports: every document, paper ones included
    ("reported_days", "Số ngày có báo cáo"), ("incoming_total", "VB đến (tổng)"),
    ("outgoing_total", "VB đi (tổng)"), ("exchanged_pct", "VB trao đổi điện tử / tổng (%)"),
    ("out_electronic_only_pct", "VB đi chỉ điện tử (%)"), ("out_electronic_paper_pct", "VB đi điện tử kèm giấy (%)"),
    ("out_paper_pct", "VB đi chỉ bản giấy (%)"), ("out_signed_pct", "VB đi có chữ ký số (%)"),
    ("incoming_handled_pct", "VB đến xử lý trên hệ thống (%)"),
    ("outgoing_handled_pct", "VB đi xử lý trên hệ thống (%)"), ("node_avg_days", "Thời gian xử lý VB đến TB (ngày)"),
    # what the hub relayed itself
    ("sent", "VB đi qua hub"), ("received", "VB đến qua hub"), ("electronic_only_pct", "Qua hub: chỉ điện tử (%)"),
    ("with_paper_pct", "Qua hub: kèm giấy (%)"), ("signed_pct", "Qua hub: chữ ký hệ thống hợp lệ (%)"),
    ("registered_pct", "Qua hub: đã vào sổ (%)"), ("completed_pct", "Qua hub: đã hoàn thành (%)"),
    ("avg_days", "Qua hub: thời gian xử lý TB (ngày)"),
]
_HUB_COUNTS = ("sent", "received", "paper", "signed", "registered", "completed")


def _pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def _new_row(agency) -> dict:
    return {"code": agency.code, "name": agency.name, "level": agency.level,
            "level_name": LEVELS.get(agency.level, agency.level), **dict.fromkeys(_HUB_COUNTS, 0), "days": [],
            **dict.fromkeys(REPORTED, 0), "reported_days": 0}


def _apply_reports(rows, date_from, date_to) -> None:
    """Add the nodes' reported totals per agency for the days in [date_from, date_to)."""
    q = HubDailyFigure.select()
    if date_from:
        q = q.where(HubDailyFigure.day >= date_from.date())
    if date_to:
        q = q.where(HubDailyFigure.day < date_to.date() if date_to.time() == datetime.min.time()
                    else HubDailyFigure.day <= date_to.date())
    for f in q:
        row = rows.get(f.agency)
        if row is None:
            continue
        row["reported_days"] += 1
        for key in REPORTED:
            row[key] += getattr(f, key)


def figures(date_from: datetime | None = None, date_to: datetime | None = None) -> tuple[list[dict], list[dict]]:
    """(rows per agency, rows per level) for packages that reached the hub between the two instants."""
    agencies = {a.code: a for a in HubAgency.select()}
    rows = {code: _new_row(a) for code, a in agencies.items()}
    q = HubMessage.select().where((HubMessage.business_type == 0) & (HubMessage.task == False))  # noqa: E712
    if date_from:
        q = q.where(HubMessage.received_at >= date_from)
    if date_to:
        q = q.where(HubMessage.received_at < date_to)
    packages = {}
    for m in q.where(HubMessage.kind == "package"):
        packages[(m.document_id, m.recipient)] = m
        if m.from_organ in rows:
            sender = rows[m.from_organ]
            sender["sent"] += 1
            sender["paper"] += m.paper
            sender["signed"] += int(m.signed)
        if m.recipient in rows:
            rows[m.recipient]["received"] += 1
    _apply_statuses(rows, packages)
    _apply_reports(rows, date_from, date_to)
    per_agency = [_finish(r) for r in sorted(rows.values(), key=lambda r: (list(LEVELS).index(r["level"])
                                                                           if r["level"] in LEVELS else 9, r["code"]))]
    return per_agency, _per_level(rows)


def _apply_statuses(rows, packages) -> None:
    """Statuses travel recipient → sender: From is the recipient, ResponseFor/OrganId (our `recipient`) the sender."""
    seen = set()
    for s in HubMessage.select().where((HubMessage.kind == "status") & HubMessage.status_code.in_(("03", "06"))):
        pkg = packages.get((s.document_id, s.from_organ))
        key = (s.document_id, s.from_organ, s.status_code)
        if pkg is None or key in seen or s.from_organ not in rows:
            continue
        seen.add(key)
        row = rows[s.from_organ]
        if s.status_code == "03":
            row["registered"] += 1
        else:
            row["completed"] += 1
            row["days"].append((s.received_at - pkg.received_at).total_seconds() / 86400)


def _finish(r: dict) -> dict:
    out = dict(r)
    out["electronic_only_pct"] = _pct(r["sent"] - r["paper"], r["sent"])
    out["with_paper_pct"] = _pct(r["paper"], r["sent"])
    out["signed_pct"] = _pct(r["signed"], r["sent"])
    out["registered_pct"] = _pct(r["registered"], r["received"])
    out["completed_pct"] = _pct(r["completed"], r["received"])
    out["avg_days"] = round(sum(r["days"]) / len(r["days"]), 2) if r["days"] else None
    out.update(_reported_shares(r))
    return out


def _reported_shares(r: dict) -> dict:
    """DOMAIN §12 shares over every document, from the nodes' reports (None where nothing was reported)."""
    incoming = r["incoming_paper"] + r["incoming_electronic"]
    outgoing = r["outgoing_electronic_only"] + r["outgoing_electronic_paper"] + r["outgoing_paper"]
    reported = r["reported_days"] > 0

    def share(part, whole):
        return _pct(part, whole) if reported else None

    return {
        "incoming_total": incoming if reported else None, "outgoing_total": outgoing if reported else None,
        "exchanged_pct": share(r["incoming_electronic"] + r["outgoing_exchanged"], incoming + outgoing),
        "out_electronic_only_pct": share(r["outgoing_electronic_only"], outgoing),
        "out_electronic_paper_pct": share(r["outgoing_electronic_paper"], outgoing),
        "out_paper_pct": share(r["outgoing_paper"], outgoing),
        "out_signed_pct": share(r["outgoing_signed"], outgoing),
        "incoming_handled_pct": share(r["incoming_handled"], incoming),
        "outgoing_handled_pct": share(r["outgoing_handled"], outgoing),
        "node_avg_days": (round(r["incoming_processing_seconds"] / r["incoming_completed"] / 86400, 2)
                          if reported and r["incoming_completed"] else None),
    }


def _per_level(rows) -> list[dict]:
    totals: dict[str, dict] = defaultdict(lambda: {**dict.fromkeys(_HUB_COUNTS + REPORTED, 0), "days": [],
                                                   "reported_days": 0})
    for r in rows.values():
        t = totals[r["level"]]
        for key in _HUB_COUNTS + REPORTED + ("reported_days",):
            t[key] += r[key]
        t["days"] += r["days"]
    out = []
    for level, name in LEVELS.items():
        t = totals.get(level)
        if t is not None:
            out.append(_finish({**t, "code": level, "name": name, "level": level, "level_name": name}))
    return out


def report(date_from=None, date_to=None, title_suffix: str = ""):
    """The figures as a vanban.reports Report with charts (PDF/XLSX renderers)."""
    from ..reports import Chart, Column, Report

    per_agency, per_level = figures(date_from, date_to)
    columns = [Column(key, header, width_mm=60 if key == "name" else 22,
                      align="left" if key in ("code", "name", "level_name") else "right") for key, header in COLUMNS]
    charts = []
    if per_level:
        charts.append(Chart("bar", "Văn bản điện tử theo cấp", [r["level_name"] for r in per_level],
                            {"Đi": [r["sent"] for r in per_level], "Đến": [r["received"] for r in per_level]}))
        charts.append(Chart("bar", "Tỷ lệ xử lý trên hệ thống theo cấp (%)", [r["level_name"] for r in per_level],
                            {"VB đến": [r["incoming_handled_pct"] for r in per_level],
                             "VB đi": [r["outgoing_handled_pct"] for r in per_level],
                             "Trao đổi điện tử": [r["exchanged_pct"] for r in per_level]}))
        charts.append(Chart("bar", "Văn bản liên thông qua hub: vào sổ, hoàn thành (%)",
                            [r["level_name"] for r in per_level],
                            {"Vào sổ": [r["registered_pct"] for r in per_level],
                             "Hoàn thành": [r["completed_pct"] for r in per_level]}))
    return Report(title="Số liệu liên thông văn bản điện tử của tỉnh", columns=columns, rows=per_level + per_agency,
                  subtitles=[title_suffix] if title_suffix else [], charts=charts, sheet_name="Liên thông",
                  number_columns=False), per_agency, per_level


class OutboxCollector:
    """vanban_outbox_depth{agency} and vanban_outbox_oldest_age_seconds{agency}, read at scrape time."""

    def __init__(self, clock=None):
        self.clock = clock

    def collect(self):
        from ..clock import SystemClock
        from .node import outbox_overview

        depth = GaugeMetricFamily("vanban_outbox_depth", "Undelivered exchange messages per sending agency",
                                  labels=["agency"])
        age = GaugeMetricFamily("vanban_outbox_oldest_age_seconds", "Age of the oldest undelivered exchange "
                                "message per sending agency", labels=["agency"])
        from ..models.schema import Agency

        try:
            overview = {a.code: {"depth": 0, "oldest_age": 0.0} for a in Agency.select(Agency.code)}
            overview.update(outbox_overview((self.clock or SystemClock()).now()))
        except Exception:  # a scrape must not fail because the exchange tables are not migrated yet
            overview = {}
        for agency, s in sorted(overview.items()):
            depth.add_metric([agency], s["depth"])
            age.add_metric([agency], s["oldest_age"])
        yield depth
        yield age


class HubQueueCollector:
    """The hub's store-and-forward queue, read at scrape time: vanban_hub_queue_depth{exchange_node} and
    vanban_hub_queue_oldest_age_seconds{exchange_node}, messages waiting for each server to fetch them (and,
    as exchange_node="upstream", for the upstream hub to take them). Every server of the directory has a
    series, 0 when nothing waits, so a node that stops fetching shows as a growing age, not as a gap."""

    def __init__(self, clock=None):
        self.clock = clock

    def collect(self):
        from ..clock import SystemClock

        depth = GaugeMetricFamily("vanban_hub_queue_depth", "Messages waiting at the hub for a server to fetch "
                                  "them (upstream: for the upstream hub)", labels=["exchange_node"])
        age = GaugeMetricFamily("vanban_hub_queue_oldest_age_seconds", "Age of the oldest message waiting at the "
                                "hub for a server (upstream: for the upstream hub)", labels=["exchange_node"])
        try:
            rows = hub_queue((self.clock or SystemClock()).now())
        except Exception:  # a scrape must not fail because the exchange tables are not migrated yet
            rows = {}
        for node, (n, oldest) in sorted(rows.items()):
            depth.add_metric([node], n)
            age.add_metric([node], oldest)
        yield depth
        yield age


def hub_queue(now: datetime) -> dict[str, tuple[int, float]]:
    """{server: (messages waiting, age in seconds of the oldest)} for every server of the directory."""
    out = {a.node: (0, 0.0) for a in HubAgency.select(HubAgency.node).where(HubAgency.active == True)}  # noqa: E712
    rows = database.execute_sql(
        "SELECT a.node, m.state, count(*), min(m.received_at) FROM hub_message m "
        "LEFT JOIN hub_agency a ON a.code = m.recipient WHERE m.state IN ('queued', 'upstream') "
        "GROUP BY a.node, m.state").fetchall()
    naive_now = now.replace(tzinfo=None)  # received_at is the clock's naive local time (hub.store)
    for node, state, n, oldest in rows:
        name = "upstream" if state == "upstream" else node or "unknown"
        was_n, was_age = out.get(name, (0, 0.0))
        out[name] = (was_n + n, max(was_age, (naive_now - datetime.fromisoformat(oldest)).total_seconds()))
    return out
