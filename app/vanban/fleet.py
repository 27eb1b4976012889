"""The hub's fleet view: every node's health read from the fleet Prometheus HTTP API (monitoring/README.md).

Pure queries and arithmetic, no web framework: web/resources/fleet.py renders what these functions return.
Series come from the fleet Prometheus (prometheus/hub.yml), which federates every node's raw `vanban` and
`node` job series and the nodes' recording rules (monitoring/rules/node-recording.yml), and computes the
fleet recording rules (hub-recording.yml). Expressions use those recorded names where they exist, so one
page costs a handful of small queries however many agencies a node hosts.

Colours follow the alert rules' thresholds (node-alerts.yml): a cell turns red at a critical alert's threshold,
amber at a warning alert's, so the page and the mail agree.
"""
from __future__ import annotations

import json
import math
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime

DEFAULT_URL = "http://127.0.0.1:9092"
NODE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# Chart ranges offered on the pages: label -> seconds. Each range query asks for about 120 points.
RANGES = {"15m": 900, "1h": 3600, "6h": 6 * 3600, "24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400}
RANGE_LABELS = {"15m": "15 phút", "1h": "1 giờ", "6h": "6 giờ", "24h": "24 giờ", "7d": "7 ngày", "30d": "30 ngày"}
POINTS = 120
LEVELS = ("none", "ok", "warn", "crit", "down")  # worst last; "none" = no data, never sorts a node up
LEVEL_LABELS = {"ok": "Bình thường", "warn": "Cần chú ý", "crit": "Nguy cấp", "down": "Mất kết nối",
                "none": "Không có số liệu"}
HOUR, DAY = 3600, 86400


class FleetUnavailable(Exception):
    """The fleet Prometheus cannot answer; `message` is for the page (Vietnamese)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class Prometheus:
    """Minimal client of the Prometheus HTTP API (/api/v1/query, /api/v1/query_range)."""

    def __init__(self, base_url: str = DEFAULT_URL, timeout: float = 4.0):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def _get(self, path: str, params: dict) -> dict:
        url = f"{self.base_url}{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as resp:
                body = json.load(resp)
        except urllib.error.HTTPError as exc:  # 4xx/5xx with a JSON error body
            try:
                detail = json.load(exc).get("error", "")
            except ValueError:
                detail = ""
            raise FleetUnavailable(f"Prometheus giám sát tại {self.base_url} trả lời lỗi {exc.code}"
                                   f"{': ' + detail if detail else ''}.") from exc
        except (OSError, ValueError) as exc:  # refused, timeout, DNS, not JSON
            reason = getattr(exc, "reason", exc)
            raise FleetUnavailable(f"Không kết nối được Prometheus giám sát tại {self.base_url} ({reason}). "
                                   "Kiểm tra dịch vụ vanban-prometheus-fleet trên máy chủ tỉnh.") from exc
        if body.get("status") != "success":
            raise FleetUnavailable(f"Prometheus giám sát trả lời lỗi: {body.get('error', 'không rõ')}.")
        return body["data"]

    def query(self, expr: str) -> list[tuple[dict, float]]:
        data = self._get("/api/v1/query", {"query": expr})
        return [(r["metric"], float(r["value"][1])) for r in data["result"]]

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[tuple[dict, list]]:
        data = self._get("/api/v1/query_range", {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}",
                                                 "step": f"{step:g}"})
        return [(r["metric"], [(float(t), float(v)) for t, v in r["values"]]) for r in data["result"]]


# --- formatting (Vietnamese) ---------------------------------------------------------------------------------

def fmt_duration(seconds: float) -> str:
    seconds = abs(seconds)
    if seconds < 90:
        return f"{seconds:.0f} giây"
    if seconds < 59.5 * 60:
        return f"{seconds / 60:.0f} phút"
    if seconds < 48 * HOUR:
        return f"{seconds / HOUR:.0f} giờ"
    return f"{seconds / DAY:.0f} ngày"


def fmt_number(value: float) -> str:
    return f"{value:,.0f}".replace(",", ".")


def fmt_value(kind: str, value: float | None) -> str:
    if value is None or math.isnan(value):
        return "—"
    if kind == "percent":
        return f"{value * 100:.0f} %"
    if kind == "age":
        return f"{fmt_duration(value)} trước"
    if kind == "until":
        return "đã hết hạn" if value <= 0 else f"còn {fmt_duration(value)}"
    if kind == "seconds":
        return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.1f} giây".replace(".", ",")
    if kind == "rate":
        return f"{value:.2f}/giây".replace(".", ",")
    return fmt_number(value)


# --- what the fleet page shows per node ------------------------------------------------------------------------

@dataclass(frozen=True)
class Check:
    key: str
    label: str
    expr: str  # instant vector with a `node` label
    kind: str  # percent | age | until | count
    warn: float | None = None
    crit: float | None = None
    worse: str = "high"  # "high": bigger is worse; "low": smaller is worse
    spark: bool = False  # drawn as a sparkline on the fleet page (0..1 scale for percents)

    def level(self, value: float | None) -> str:
        if value is None or math.isnan(value):
            return "none"
        sign = 1 if self.worse == "high" else -1
        if self.crit is not None and sign * value >= sign * self.crit:
            return "crit"
        if self.warn is not None and sign * value >= sign * self.warn:
            return "warn"
        return "ok"


CHECKS = [
    Check("cpu", "CPU", "max by (node) (instance:node_cpu_utilisation:rate5m)", "percent", 0.80, 0.95, spark=True),
    Check("ram", "RAM đang dùng", "max by (node) (1 - instance:node_memory_available:ratio)", "percent",
          0.80, 0.90, spark=True),  # VanbanMemoryPressure: under 10 % available
    Check("disk", "Đĩa trống", "min by (node) (instance:node_filesystem_avail:min_ratio)", "percent",
          0.20, 0.10, worse="low", spark=True),  # VanbanDiskAlmostFull: under 10 %
    Check("backup", "Sao lưu gần nhất", "max by (node) (instance:vanban_backup_age_seconds:max)", "age",
          None, 26 * HOUR),  # VanbanBackupTooOld (critical)
    Check("drill", "Diễn tập khôi phục", "max by (node) (instance:vanban_restore_drill_age_seconds:max)", "age",
          8 * DAY, None),  # VanbanRestoreDrillTooOld (warning); a failed drill is flagged separately
    Check("av", "Mẫu virus", "max by (node) (instance:vanban_av_signature_age_seconds:max)", "age",
          3 * DAY, 7 * DAY),  # VanbanAntivirusSignaturesOld
    Check("outbox", "Hàng đợi liên thông", "max by (node) (node:vanban_outbox_depth:sum)", "count", spark=True),
    Check("outbox_age", "Gói chờ lâu nhất", "max by (node) (node:vanban_outbox_oldest_age_seconds:max)", "age",
          HOUR, DAY),  # VanbanExchangeBacklog: 1 h
    Check("overdue", "Văn bản quá hạn", "max by (node) (node:vanban_documents_overdue:sum)", "count"),
    Check("cert", "Chứng thư số", "min by (node) (instance:vanban_tls_cert_expiry_seconds:min)", "until",
          21 * DAY, 7 * DAY, worse="low"),  # VanbanTLSCertificateExpiring: 21 days
]
CHECK_BY_KEY = {c.key: c for c in CHECKS}


@dataclass
class Cell:
    key: str
    label: str
    value: float | None
    text: str
    level: str
    spark: list = field(default_factory=list)  # [(t, v)] over the page's range


@dataclass
class NodeStatus:
    node: str
    province: str = ""
    agencies: str = ""
    instance: str = ""
    up: bool = True
    version: str = ""
    last_up: float | None = None  # unix time of the last successful federation (down nodes)
    cells: dict = field(default_factory=dict)
    problems: list = field(default_factory=list)  # Vietnamese phrases for what is wrong beyond the cells
    alerts: dict = field(default_factory=dict)  # severity -> count of firing alerts

    @property
    def level(self) -> str:
        if not self.up:
            return "down"
        levels = [c.level for c in self.cells.values()] + [p[0] for p in self.problems]
        if self.alerts.get("critical"):
            levels.append("crit")
        if self.alerts.get("warning"):
            levels.append("warn")
        return max(levels, key=LEVELS.index, default="none") if levels else "none"

    @property
    def sort_key(self):
        counts = [c.level for c in self.cells.values()] + [p[0] for p in self.problems]
        return (-LEVELS.index(self.level), -counts.count("crit"), -self.alerts.get("critical", 0),
                -counts.count("warn"), -self.alerts.get("warning", 0), self.node)

    @property
    def level_label(self) -> str:
        return LEVEL_LABELS[self.level]


def _by_node(rows) -> dict:
    return {m.get("node", ""): v for m, v in rows if m.get("node")}


def step_for(seconds: int) -> int:
    return max(1, seconds // POINTS)


def _discover(prom: Prometheus) -> dict[str, NodeStatus]:
    """The federation targets (file_sd nodes.json at the hub), plus nodes only known by pushed data."""
    nodes: dict[str, NodeStatus] = {}
    for m, v in prom.query('up{job="vanban-federate"}'):
        n = m.get("node")
        if n:
            nodes[n] = NodeStatus(n, m.get("province", ""), m.get("agencies", ""), m.get("instance", ""), up=v == 1)
    # Nodes behind NAT (agent mode, remote_write) have no federation target: known by their node exporter data.
    for m, _ in prom.query('group by (node, province, agencies) (up{job="node"})'):
        n = m.get("node")
        if n and n not in nodes:
            nodes[n] = NodeStatus(n, m.get("province", ""), m.get("agencies", ""), "remote_write")
    return nodes


def fleet_status(prom: Prometheus, range_key: str = "6h", now: float | None = None,
                 sparks: bool = True) -> list[NodeStatus]:
    """Every node, worst first, with current values, colours and (if `sparks`) sparklines over `range_key`."""
    now = time.time() if now is None else now
    nodes = _discover(prom)
    if not nodes:
        return []
    for m, _ in prom.query("max by (node, version) (vanban_build_info)"):
        if m.get("node") in nodes:
            nodes[m["node"]].version = m.get("version", "")
    values = {c.key: _by_node(prom.query(c.expr)) for c in CHECKS}
    seconds = RANGES.get(range_key, RANGES["6h"])
    lines = {c.key: {m.get("node"): pts for m, pts in
                     prom.query_range(c.expr, now - seconds, now, step_for(seconds))}
             for c in CHECKS if c.spark and sparks}
    app_up = _by_node(prom.query('min by (node) (up{job="vanban"})'))
    exporter_up = _by_node(prom.query('min by (node) (up{job="node"})'))
    drill_ok = _by_node(prom.query("min by (node) (vanban_restore_drill_success)"))
    alerts: dict = {}
    for m, v in prom.query("sum by (node, severity) (node:vanban_alerts_firing:count)"):
        alerts.setdefault(m.get("node"), {})[m.get("severity", "")] = int(v)
    if any(not s.up for s in nodes.values()):
        # when the node was last federated: subquery over a day at 1 min resolution, only if someone is down
        last = prom.query('max by (node) (max_over_time(timestamp(up{job="vanban-federate"} == 1)[1d:1m]))')
        for n, ts in _by_node(last).items():
            if n in nodes:
                nodes[n].last_up = ts
    for name, status in nodes.items():
        status.alerts = alerts.get(name, {})
        if status.up:  # a down node's series went stale with the federation: nothing current to show
            _fill(status, {k: v.get(name) for k, v in values.items()}, {k: v.get(name, []) for k, v in lines.items()},
                  app_up.get(name), exporter_up.get(name), drill_ok.get(name))
    return sorted(nodes.values(), key=lambda s: s.sort_key)


def _fill(status: NodeStatus, values: dict, lines: dict, app_up, exporter_up, drill_ok) -> None:
    for c in CHECKS:
        value = values.get(c.key)
        text = fmt_value(c.kind, value)
        if c.key == "outbox_age" and value == 0:
            text = "không có gói chờ"  # the gauge is 0 when the outbox is empty, not "sent 0 s ago"
        status.cells[c.key] = Cell(c.key, c.label, value, text, c.level(value), lines.get(c.key, []))
    if app_up == 0:
        status.problems.append(("crit", "Ứng dụng không trả lời"))
    if exporter_up == 0:
        status.problems.append(("crit", "Node exporter không trả lời"))
    if drill_ok == 0:
        status.problems.append(("crit", "Diễn tập khôi phục gần nhất thất bại"))
        status.cells["drill"].level = "crit"


def common_version(nodes: list[NodeStatus]) -> str:
    """The version most nodes run: others are shown as lagging (or ahead) during a rollout."""
    versions = [s.version for s in nodes if s.version]
    return max(sorted(set(versions)), key=versions.count) if versions else ""


def summary(nodes: list[NodeStatus]) -> dict:
    counts = {level: 0 for level in ("down", "crit", "warn", "ok", "none")}
    for s in nodes:
        counts[s.level] += 1
    return counts


# --- one node's charts -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ChartSpec:
    title: str
    expr: str  # `{node}` is replaced by the node's label matcher; a `legend` label names each series
    kind: str
    legend: str = ""


NODE_CHARTS = [
    ChartSpec("CPU sử dụng", 'instance:node_cpu_utilisation:rate5m{{{node}}}', "percent"),
    ChartSpec("RAM đang dùng", '1 - instance:node_memory_available:ratio{{{node}}}', "percent"),
    ChartSpec("Đĩa trống theo phân vùng",
              'node_filesystem_avail_bytes{{{node}, fstype!~"tmpfs|ramfs|squashfs|overlay|nsfs|fuse.*"}} / '
              'node_filesystem_size_bytes{{{node}, fstype!~"tmpfs|ramfs|squashfs|overlay|nsfs|fuse.*"}}',
              "percent", legend="mountpoint"),
    ChartSpec("Tải hệ thống (load 1 phút)", 'node_load1{{{node}}}', "count_dec"),
    ChartSpec("Yêu cầu HTTP mỗi giây", 'instance:vanban_http_requests:rate5m{{{node}}}', "rate"),
    # no 5xx counter yet means no errors: 0 wherever there are requests, not "no data"
    ChartSpec("Tỉ lệ lỗi 5xx", 'instance:vanban_http_request_errors:ratio_rate5m{{{node}}} or '
              '0 * instance:vanban_http_requests:rate5m{{{node}}}', "percent"),
    ChartSpec("Thời gian phản hồi (p95)", 'instance:vanban_http_request_duration_seconds:p95_rate5m{{{node}}}',
              "seconds"),
    ChartSpec("Hàng đợi liên thông (gói)", 'node:vanban_outbox_depth:sum{{{node}}}', "count"),
    ChartSpec("Gói chờ lâu nhất", 'node:vanban_outbox_oldest_age_seconds:max{{{node}}}', "age_axis"),
    ChartSpec("Văn bản quá hạn", 'node:vanban_documents_overdue:sum{{{node}}}', "count"),
    ChartSpec("Kết nối từ máy chủ tỉnh (1 = có)", 'up{{job="vanban-federate", {node}}}', "count"),
]


@dataclass
class Chart:
    title: str
    kind: str
    start: float
    end: float
    series: list  # [(legend, [(t, v)])]

    def geometry(self, width=520, height=150, pad_left=52, pad_bottom=22, tz=None):
        """Polylines and axis ticks in SVG user units (drawn by the template, no JavaScript)."""
        values = [v for _, pts in self.series for _, v in pts if not math.isnan(v)]
        lo = 0.0
        # a floor for the top of the axis, so a flat zero line still gets sensible ticks
        hi = max(values + [{"percent": 1.0, "age_axis": 60.0, "count": 2.0}.get(self.kind, 0.0)])
        hi = hi if hi > lo else (lo + 1.0)
        plot_w, plot_h = width - pad_left - 8, height - pad_bottom - 8
        step = (self.end - self.start) / POINTS

        def x(t):
            return pad_left + (t - self.start) / max(self.end - self.start, 1) * plot_w

        def y(v):
            return 8 + plot_h - (v - lo) / (hi - lo) * plot_h

        lines = [(legend, i, _segments(pts, x, y, step)) for i, (legend, pts) in enumerate(self.series)]
        yticks = [(round(y(lo + f * (hi - lo)), 1), self.axis_text(lo + f * (hi - lo))) for f in (0, 0.5, 1)]
        fmt = "%d/%m %H:%M" if self.end - self.start > DAY else "%H:%M"
        xticks = [(round(x(t), 1), datetime.fromtimestamp(t, tz).strftime(fmt))
                  for t in (self.start, (self.start + self.end) / 2, self.end)]
        return {"width": width, "height": height, "left": pad_left, "top": 8, "right": width - 8,
                "bottom": 8 + plot_h, "lines": lines, "yticks": yticks, "xticks": xticks}

    def axis_text(self, value: float) -> str:
        if self.kind == "percent":
            return f"{value * 100:.0f} %"
        if self.kind == "seconds":
            return fmt_value("seconds", value)
        if self.kind == "age_axis":
            return fmt_duration(value) if value else "0"
        if self.kind in ("rate", "count_dec"):
            return f"{value:.2f}".rstrip("0").rstrip(".").replace(".", ",") or "0"
        return fmt_number(value) if value == int(value) else f"{value:.1f}".replace(".", ",")

    @property
    def last_text(self) -> str:
        last = [pts[-1][1] for _, pts in self.series if pts]
        if not last:
            return "không có số liệu"
        return ", ".join(self.axis_text(v) for v in last[:3])


def _segments(points, x, y, step) -> list[str]:
    """`x,y x,y ...` strings, split where samples are missing (a gap longer than two steps stays a gap)."""
    segments, current, previous = [], [], None
    for t, v in points:
        if math.isnan(v):
            continue
        if previous is not None and t - previous > 2 * step and current:
            segments.append(current)
            current = []
        current.append(f"{x(t):.1f},{y(v):.1f}")
        previous = t
    if current:
        segments.append(current)
    return [" ".join(s) for s in segments]


def sparkline(points, start: float, end: float, kind: str, width=90, height=22) -> list[str]:
    """Polyline point strings for a small chart in a table cell (0..100 % for percents, 0..max otherwise)."""
    values = [v for _, v in points if not math.isnan(v)]
    hi = 1.0 if kind == "percent" else max(values + [1.0])
    step = (end - start) / POINTS

    def x(t):
        return 1 + (t - start) / max(end - start, 1) * (width - 2)

    def y(v):
        return height - 2 - min(max(v / hi, 0.0), 1.0) * (height - 4)

    return _segments(points, x, y, step)


def node_charts(prom: Prometheus, node: str, range_key: str = "24h", now: float | None = None) -> list[Chart]:
    now = time.time() if now is None else now
    seconds = RANGES.get(range_key, RANGES["24h"])
    start, step = now - seconds, step_for(seconds)
    charts = []
    for spec in NODE_CHARTS:
        rows = prom.query_range(spec.expr.format(node=f'node="{node}"'), start, now, step)
        series = [(m.get(spec.legend, "") if spec.legend else "", pts) for m, pts in rows]
        charts.append(Chart(spec.title, spec.kind, start, now, sorted(series, key=lambda s: s[0])))
    return charts


def node_alerts(prom: Prometheus, node: str) -> list[dict]:
    """Firing alerts of one node (the node's own, federated, and the hub's about it), most severe first."""
    rows = prom.query(f'ALERTS{{alertstate="firing", severity!="none", node="{node}"}}')
    order = {"critical": 0, "warning": 1}
    alerts = [{"name": m.get("alertname", ""), "severity": m.get("severity", ""),
               "detail": ", ".join(f"{k}={m[k]}" for k in ("repo", "cert", "mountpoint", "agency", "name") if k in m),
               "text": ALERT_TEXT.get(m.get("alertname", ""), m.get("alertname", ""))} for m, _ in rows]
    return sorted(alerts, key=lambda a: (order.get(a["severity"], 2), a["name"], a["detail"]))


ALERT_TEXT = {
    "VanbanNodeDown": "Máy chủ tỉnh không kết nối được", "VanbanNodeSilent": "Không nhận được số liệu mới",
    "VanbanNodeWatchdogMissing": "Máy chủ không đánh giá cảnh báo", "VanbanNodeExporterDown": "Node exporter ngừng",
    "VanbanAppDown": "Ứng dụng không trả lời", "VanbanTextfileCollectorError": "Tệp số liệu hỏng",
    "VanbanDiskWillFillIn24h": "Đĩa sẽ đầy trong 24 giờ", "VanbanDiskAlmostFull": "Đĩa còn dưới 10 %",
    "VanbanMemoryPressure": "Thiếu bộ nhớ", "VanbanClockNotSynchronised": "Đồng hồ không đồng bộ",
    "VanbanClockSkew": "Đồng hồ lệch", "VanbanSystemdUnitFailed": "Dịch vụ hệ thống lỗi",
    "VanbanClamdDown": "Phần mềm diệt virus ngừng", "VanbanAntivirusSignaturesOld": "Mẫu virus cũ",
    "VanbanTLSCertificateExpiring": "Chứng thư số sắp hết hạn", "VanbanBackupTooOld": "Sao lưu quá hạn",
    "VanbanRestoreDrillTooOld": "Lâu chưa diễn tập khôi phục", "VanbanRestoreDrillFailed": "Diễn tập khôi phục thất bại",
    "VanbanSQLiteIntegrityFailed": "Cơ sở dữ liệu hỏng", "VanbanExchangeBacklog": "Liên thông ùn tắc",
    "VanbanHTTPErrors": "Nhiều lỗi 5xx", "VanbanHTTPSlowRequests": "Phản hồi chậm",
}


def valid_node(name: str) -> bool:
    return bool(NODE_NAME.match(name or ""))
