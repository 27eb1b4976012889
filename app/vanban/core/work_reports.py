"""Reports of issue 9: the task tracking report used at periodic meetings (by unit, person or month), the
handling reports of DOMAIN §10 (incoming and outgoing, per unit) and the per-agency figures of DOMAIN §12.
Rows are computed here; vanban.reports renders them (PDF and XLSX, with charts)."""
from __future__ import annotations

from collections import OrderedDict
from datetime import datetime, time, timedelta

from ..errors import Invalid
from ..models import database
from ..models.schema import Agency, Assignment, AuditEntry, Document, User
from ..reports import Chart, Column, Report, registers
from .accounts import require_role
from .registers import _period
from .tracking import tracked

GROUPS = {"unit": "Đơn vị", "person": "Người thực hiện", "period": "Tháng"}
TRACKING_COLUMNS = [
    registers.STT,
    Column("group", "Nhóm", 60),
    Column("total", "Tổng số nhiệm vụ", 22, "right", group_digits=True),
    Column("done_on_time", "Hoàn thành đúng hạn", 22, "right", group_digits=True),
    Column("done_late", "Hoàn thành quá hạn", 22, "right", group_digits=True),
    Column("submitted", "Chờ duyệt", 20, "right", group_digits=True),
    Column("open_on_time", "Đang thực hiện trong hạn", 24, "right", group_digits=True),
    Column("open_overdue", "Quá hạn chưa hoàn thành", 24, "right", group_digits=True),
    Column("on_time_rate", "Tỷ lệ đúng hạn (%)", 22, "right"),
]
_COUNT_KEYS = ("done_on_time", "done_late", "submitted", "open_on_time", "open_overdue")


def _bounds(date_from, date_to):
    return datetime.combine(date_from, time()), datetime.combine(date_to + timedelta(days=1), time())


def tracking_rows(user: User, group_by: str, date_from, date_to, today) -> list[dict]:
    if group_by not in GROUPS:
        raise Invalid("Nhóm theo: unit, person hoặc period.", code="invalid:group", field="group")
    date_from, date_to = _period(date_from, date_to, today)
    lo, hi = _bounds(date_from, date_to)
    # Local and received tasks alike (core/tracking.py): work another server gave the agency counts here too.
    groups: dict = OrderedDict()
    for t in tracked(user, given_from=lo, given_before=hi):
        row = groups.setdefault(t.group(group_by), {k: 0 for k in _COUNT_KEYS})
        s = t.state(today)
        row[{"done": "done_on_time", "done_late": "done_late", "submitted": "submitted",
             "overdue": "open_overdue"}.get(s, "open_on_time")] += 1
    rows = []
    for name, counts in groups.items():
        total = sum(counts.values())
        done = counts["done_on_time"] + counts["done_late"]
        rows.append({"group": name, "total": total, **counts,
                     "on_time_rate": round(counts["done_on_time"] * 100 / done, 1) if done else None})
    if group_by != "period":
        rows.sort(key=lambda r: r["group"])
    return rows


def tracking_report(user: User, group_by: str, date_from, date_to, today) -> Report:
    rows = tracking_rows(user, group_by, date_from, date_to, today)
    date_from, date_to = _period(date_from, date_to, today)
    totals = {"group": "Tổng cộng", **{k: sum(r[k] for r in rows) for k in ("total",) + _COUNT_KEYS}}
    done = totals["done_on_time"] + totals["done_late"]
    totals["on_time_rate"] = round(totals["done_on_time"] * 100 / done, 1) if done else None
    columns = [c if c.key != "group" else Column("group", GROUPS[group_by], 60) for c in TRACKING_COLUMNS]
    charts = [Chart("bar", f"Tình hình thực hiện nhiệm vụ theo {GROUPS[group_by].lower()}",
                    [r["group"] for r in rows],
                    {"Hoàn thành": [r["done_on_time"] + r["done_late"] for r in rows],
                     "Đang thực hiện": [r["open_on_time"] + r["submitted"] for r in rows],
                     "Quá hạn": [r["open_overdue"] for r in rows]})] if rows else []
    return Report(title="Báo cáo theo dõi, đôn đốc thực hiện nhiệm vụ",
                  subtitles=[registers.period_line(date_from, date_to), f"Tính đến ngày {today:%d/%m/%Y}"],
                  header=registers._header(user.agency.name, "", True), columns=columns,
                  rows=[{"stt": i, **r} for i, r in enumerate(rows, 1)], totals=totals if rows else None,
                  charts=charts, sheet_name="Theo dõi nhiệm vụ")


# ---- DOMAIN §10: handling reports ---------------------------------------------------------------------------------
def _lead_unit(doc_ids) -> dict:
    out = {}
    q = (Assignment.select().where(Assignment.document.in_(doc_ids) & (Assignment.role == "lead"))
         .order_by(Assignment.id))
    for a in q:
        if a.document_id in out:
            continue
        if a.department_id:
            out[a.document_id] = a.department.name
        elif a.assignee_id:
            dept = a.assignee.department
            out[a.document_id] = dept.name if dept else a.assignee.full_name
    return out


def incoming_handling(user: User, date_from, date_to, today) -> Report:
    """Báo cáo tình hình giải quyết văn bản đến, one row per lead unit."""
    require_role(user, "clerk", "leader", "admin")
    date_from, date_to = _period(date_from, date_to, today)
    lo, hi = _bounds(date_from, date_to)
    docs = list(Document.select().where((Document.agency == user.agency_id) & (Document.direction == "in") &
                                        (Document.arrival_at >= lo) & (Document.arrival_at < hi)))
    units = _lead_unit([d.id for d in docs])
    rows: dict = OrderedDict()
    for d in docs:
        row = rows.setdefault(units.get(d.id, "Chưa giao xử lý"), {k: 0 for k in registers._INCOMING_COUNTS})
        if d.status == "done":
            late = d.deadline and d.closed_at and d.closed_at.date() > d.deadline
            row["done_late" if late else "done_on_time"] += 1
        else:
            row["pending_overdue" if d.deadline and d.deadline < today else "pending_on_time"] += 1
    data = [{"unit": k, **v} for k, v in sorted(rows.items())]
    return registers.incoming_handling_report(data, user.agency.name, date_from, date_to)


def outgoing_form(medium: str, doc_type: str) -> str:
    """electronic_only | electronic_and_paper | paper_only, the columns of the outgoing handling report.

    An outgoing document records its medium (Document.medium: electronic | paper); whether a paper original
    follows an electronic one is the per-type default the exchange writes into edXML `Paper`
    (exchange.outgoing.PAPER_BY_DEFAULT, DOMAIN §11: since 1 March 2020 most types travel without paper).
    The same rule as the daily figures sent to the hub (exchange/daily.py), so both reports agree."""
    from ..exchange.outgoing import PAPER_BY_DEFAULT

    if medium == "paper":
        return "paper_only"
    return "electronic_and_paper" if PAPER_BY_DEFAULT.get(doc_type, 0) else "electronic_only"


def outgoing_handling(user: User, date_from, date_to, today) -> Report:
    """Báo cáo tình hình phát hành văn bản đi, one row per drafting unit (needs the outgoing tables)."""
    require_role(user, "clerk", "leader", "admin")
    date_from, date_to = _period(date_from, date_to, today)
    data = []
    if database.table_exists("outgoing_draft"):
        from ..models.outgoing import Draft

        lo, hi = _bounds(date_from, date_to)
        rows: dict = OrderedDict()
        for dr in Draft.select().where((Draft.agency == user.agency_id) & (Draft.status == "issued") &
                                       (Draft.issued_at >= lo) & (Draft.issued_at < hi)):
            row = rows.setdefault(dr.department.name if dr.department_id else "Cơ quan",
                                  {"electronic_only": 0, "electronic_and_paper": 0, "paper_only": 0,
                                   "digitally_signed": 0})
            doc = dr.document if dr.document_id else None
            row[outgoing_form(doc.medium if doc else "electronic", doc.doc_type if doc else dr.doc_type)] += 1
            row["digitally_signed"] += 1 if dr.signed_blob else 0
        data = [{"unit": k, **v} for k, v in sorted(rows.items())]
    return registers.outgoing_handling_report(data, user.agency.name, date_from, date_to)


# ---- DOMAIN §12: what the provinces measure, per agency hosted here -------------------------------------------------
FIGURE_COLUMNS = [
    registers.STT,
    Column("agency", "Cơ quan", 52),
    Column("incoming", "Văn bản đến", 18, "right", group_digits=True),
    Column("incoming_electronic_rate", "Đến điện tử (%)", 18, "right"),
    Column("incoming_handled_rate", "Đến xử lý trên hệ thống (%)", 20, "right"),
    Column("outgoing", "Văn bản đi", 18, "right", group_digits=True),
    Column("outgoing_electronic_rate", "Đi điện tử (%)", 18, "right"),
    Column("exchanged_rate", "Gửi liên thông (%)", 18, "right"),
    Column("signed_rate", "Có chữ ký số (%)", 18, "right"),
    Column("users_active_rate", "Cán bộ sử dụng thường xuyên (%)", 22, "right"),
    Column("handled_total", "Văn bản đã xử lý", 18, "right", group_digits=True),
]


def _rate(part, whole):
    return round(part * 100 / whole, 1) if whole else None


def _outgoing_facts(agency_id, doc_ids) -> tuple[int, int]:
    """(documents sent electronically to other agencies, documents carrying a digital signature)."""
    if not doc_ids or not database.table_exists("outgoing_delivery"):
        return 0, 0
    from ..models.outgoing import Delivery, Draft

    exchanged = (Delivery.select(Delivery.document).distinct()
                 .where(Delivery.document.in_(doc_ids) & Delivery.kind.in_(("external", "local_agency"))).count())
    signed = Draft.select().where(Draft.document.in_(doc_ids) & Draft.signed_blob.is_null(False)).count()
    return exchanged, signed


def _agency_row(agency, lo, hi) -> dict:
    period = (Document.agency == agency.id) & (Document.created_at >= lo) & (Document.created_at < hi)
    incoming = list(Document.select(Document.id, Document.medium, Document.status).where(
        period & (Document.direction == "in")))
    outgoing = list(Document.select(Document.id, Document.medium, Document.status).where(
        period & (Document.direction == "out")))
    in_ids = [d.id for d in incoming]
    handled = (Assignment.select(Assignment.document).distinct().where(Assignment.document.in_(in_ids)).count()
               if in_ids else 0)
    exchanged, signed = _outgoing_facts(agency.id, [d.id for d in outgoing])
    users = User.select().where((User.agency == agency.id) & (User.active == True)).count()  # noqa: E712
    active = (AuditEntry.select(AuditEntry.username).distinct().where(
        (AuditEntry.agency_code == agency.code) & (AuditEntry.action == "login") &
        (AuditEntry.at >= lo.isoformat()) & (AuditEntry.at < hi.isoformat())).count())
    return {"agency": agency.name, "incoming": len(incoming),
            "incoming_electronic_rate": _rate(sum(d.medium == "electronic" for d in incoming), len(incoming)),
            "incoming_handled_rate": _rate(handled, len(incoming)), "outgoing": len(outgoing),
            "outgoing_electronic_rate": _rate(sum(d.medium == "electronic" for d in outgoing), len(outgoing)),
            "exchanged_rate": _rate(exchanged, len(outgoing)), "signed_rate": _rate(signed, len(outgoing)),
            "users_active_rate": _rate(active, users),
            "handled_total": sum(d.status == "done" for d in incoming) + len(outgoing)}


def agency_figures(user: User, date_from, date_to, today) -> Report:
    """One row per agency hosted on this server (the figures the provincial IT centre reports upward)."""
    require_role(user, "admin")
    date_from, date_to = _period(date_from, date_to, today)
    lo, hi = _bounds(date_from, date_to)
    rows = [{"stt": i, **_agency_row(a, lo, hi)} for i, a in enumerate(Agency.select().order_by(Agency.code), 1)]
    chart = Chart("bar", "Tỷ lệ văn bản điện tử và chữ ký số theo cơ quan (%)", [r["agency"] for r in rows], {
        "Đến điện tử": [r["incoming_electronic_rate"] for r in rows],
        "Đi điện tử": [r["outgoing_electronic_rate"] for r in rows],
        "Có chữ ký số": [r["signed_rate"] for r in rows]}) if rows else None
    return Report(title="Số liệu ứng dụng phần mềm quản lý văn bản và điều hành",
                  subtitles=[registers.period_line(date_from, date_to)],
                  header=registers._header(user.agency.name, "", True), columns=FIGURE_COLUMNS, rows=rows,
                  charts=[chart] if chart else [], sheet_name="Số liệu theo cơ quan")


REPORTS = {
    "tasks": "Báo cáo theo dõi thực hiện nhiệm vụ",
    "incoming-handling": "Báo cáo tình hình giải quyết văn bản đến",
    "outgoing-handling": "Báo cáo tình hình phát hành văn bản đi",
    "agency-figures": "Số liệu ứng dụng theo cơ quan (§12)",
    "dossier-list": "Danh mục hồ sơ",
}


def build(user: User, name: str, params: dict, today) -> Report:
    """params: from, to (dates), group (tasks), year (dossier-list)."""
    from .dossiers import list_report

    date_from, date_to = params.get("from"), params.get("to")
    if name == "tasks":
        return tracking_report(user, params.get("group") or "unit", date_from, date_to, today)
    if name == "incoming-handling":
        return incoming_handling(user, date_from, date_to, today)
    if name == "outgoing-handling":
        return outgoing_handling(user, date_from, date_to, today)
    if name == "agency-figures":
        return agency_figures(user, date_from, date_to, today)
    if name == "dossier-list":
        return list_report(user, params.get("year") or today.year)
    raise Invalid("Không có báo cáo này.", code="unknown_report", field="name")
