"""Signed daily statistics from the nodes to the hub (DOMAIN §12 totals the hub cannot see): the node's
figures from known documents, the signed report, the hub's checks and replacement rules, the shares on the
hub's figures page; and end to end through the lab (hub and two nodes as gunicorn processes, mutual TLS)."""
from __future__ import annotations

import datetime as dt
import io
import itertools

import pytest

from exchange_lab import Lab, issue_outgoing, query, use_db

D = dt.date(2026, 3, 9)
AT = dt.datetime(2026, 3, 9, 8, 0)


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    from exchange_lab import node_identities

    return node_identities(tmp_path_factory.mktemp("daily-keys"))


def signer(keys, name="node1"):
    from exchange_lab import dsig_signer

    return dsig_signer(keys, name)


def trusted(keys):
    from cryptography import x509

    return x509.load_pem_x509_certificates((keys / "node1" / "ca.crt").read_bytes())


# ---------------------------------------------------------------------------------------------- known data
_numbers = itertools.count(1)


def _doc(agency_id, direction, medium="electronic", doc_type="CV", at=AT, status=None, closed_at=None):
    from vanban.models.schema import Document

    n = next(_numbers)
    return Document.create(agency=agency_id, direction=direction, year=2026, number=str(n), notation="UBND",
                           doc_type=doc_type, subject=f"Văn bản {n}", medium=medium,
                           status=status or ("registered" if direction == "in" else "issued"),
                           arrival_at=at if direction == "in" else None, created_by=1, created_at=at,
                           closed_at=closed_at)


def seed_day(world):
    """H19.42 on D: 4 incoming (3 electronic, 1 paper; 2 routed; 1 done after exactly one day) and 4 outgoing
    (2 electronic only, 1 electronic with a paper original (HDG), 1 paper only; 3 drafted in the system, 2 signed;
    2 sent electronically to other agencies). H19.43 on D: 1 paper incoming, not routed."""
    from vanban.models.outgoing import Delivery, Draft, Outbox
    from vanban.models.schema import Assignment

    a, b = world.agency_id, world.other_agency_id
    e1, e2 = _doc(a, "in"), _doc(a, "in", status="done", closed_at=AT + dt.timedelta(days=1))
    _doc(a, "in")
    paper_in = _doc(a, "in", medium="paper")
    for doc in (e2, paper_in):
        Assignment.create(document=doc, assigner=3, assignee=5, role="lead", created_at=AT)
    assert e1
    out = [_doc(a, "out"), _doc(a, "out"), _doc(a, "out", doc_type="HDG"), _doc(a, "out", medium="paper")]
    for doc, signed_blob in ((out[0], "a" * 64), (out[1], "b" * 64), (out[2], None)):
        Draft.create(agency=a, drafter=5, doc_type=doc.doc_type, subject=doc.subject, document=doc,
                     signed_blob=signed_blob, status="issued", created_at=AT, updated_at=AT)
    Outbox.create(agency=a, document=out[0], organ_id="H19.50", next_attempt_at=AT, created_at=AT)
    Delivery.create(document=out[2], kind="local_agency", organ_id="H19.43", created_at=AT)
    Delivery.create(document=out[1], kind="unit", created_at=AT)  # inside the agency: not an exchange
    _doc(b, "in", medium="paper")
    _doc(a, "in", at=AT - dt.timedelta(days=1))  # the day before: not D


def test_node_figures_of_a_day_from_known_documents(app, world):
    from vanban.exchange import daily

    seed_day(world)
    days = daily.compute(D, D)
    assert days[D]["H19.42"] == {
        "incoming_paper": 1, "incoming_electronic": 3, "incoming_handled": 2, "incoming_completed": 1,
        "incoming_processing_seconds": 86400, "outgoing_electronic_only": 2, "outgoing_electronic_paper": 1,
        "outgoing_paper": 1, "outgoing_signed": 2, "outgoing_handled": 3, "outgoing_exchanged": 2}
    assert days[D]["H19.43"]["incoming_paper"] == 1 and sum(days[D]["H19.43"].values()) == 1


def test_due_days_are_sent_once_and_again_only_when_they_change(app, world, clock, keys):
    from vanban.exchange import daily, daily_xml
    from vanban.models.schema import Assignment, Document

    seed_day(world)
    first = daily.due_days(clock.today())
    assert sorted(first) == [D - dt.timedelta(days=1), D]  # from the first activity to yesterday

    class Recorder:  # stands in for the HTTPS client; the lab test below goes through the real hub
        def __init__(self):
            self.sent = []

        def send_report(self, data):
            self.sent.append(daily_xml.parse(data, trusted(keys)))
            return {"stored": 1, "stale": 0, "ignored": []}

    from vanban.exchange.config import write_config

    (app.ctx.settings.data_path / "pki").mkdir(exist_ok=True)
    import shutil

    shutil.copytree(keys / "node1", app.ctx.settings.data_path / "pki" / "exchange")
    write_config(app.ctx.settings.data_path, node_name="node1", hub_url="https://127.0.0.1:9")
    rec = Recorder()
    assert daily.push_reports(app.ctx, rec) == {"days": 2, "reports": 1}
    assert rec.sent[0].node == "node1" and rec.sent[0].signer_cn == "node1"
    assert rec.sent[0].days[D]["H19.42"]["incoming_handled"] == 2
    assert daily.push_reports(app.ctx, rec) == {"days": 0, "reports": 0}
    # Work goes on: one more document of D gets its routing, and D (only D) is sent again.
    unrouted = Document.get((Document.direction == "in") & (Document.medium == "electronic") &
                            (Document.status == "registered") & (Document.arrival_at == AT) &
                            Document.id.not_in(Assignment.select(Assignment.document)))
    Assignment.create(document=unrouted, assigner=3, assignee=5, role="lead", created_at=AT)
    assert daily.push_reports(app.ctx, rec) == {"days": 1, "reports": 1}
    assert list(rec.sent[-1].days) == [D] and rec.sent[-1].days[D]["H19.42"]["incoming_handled"] == 3
    # A day later, the new yesterday (a quiet day: zeros) is due, nothing else.
    clock.advance(days=1)
    assert list(daily.due_days(clock.today())) == [dt.date(2026, 3, 10)]


# ---------------------------------------------------------------------------------------------- hub side
@pytest.fixture
def hub_db(tmp_path):
    """A hub database beside the node's (one peewee database object: switched, as the lab does)."""
    from vanban.core.blobs import BlobStore
    from vanban.exchange import hub
    from vanban.models import migrations

    use_db(tmp_path / "hub")
    migrations.migrate(dt.datetime(2026, 3, 10, 9, 0))
    hub.add_agency("H19", "UBND tỉnh Đồng Nai", "hub", level="province")
    hub.add_agency("H19.42", "UBND huyện Nhơn Trạch", "node1", level="district", parent_code="H19")
    hub.add_agency("H19.43", "UBND xã Long Thành", "node1", level="commune", parent_code="H19.42")
    hub.add_agency("H19.44", "UBND huyện Trảng Bom", "node2", level="district", parent_code="H19")
    return BlobStore(tmp_path / "hub" / "blobs")


def report_bytes(keys, days, node="node1", at=None, who=None):
    from vanban.exchange import daily_xml

    report = daily_xml.DailyReport(node=node, generated_at=at or dt.datetime(2026, 3, 10, 1, 0, tzinfo=VN),
                                   days=days)
    return daily_xml.build(report, *signer(keys, who or node))


from vanban.clock import VN  # noqa: E402

NOW = dt.datetime(2026, 3, 10, 9, 0, tzinfo=VN)
KNOWN = {  # what test_node_figures_of_a_day_from_known_documents computed
    "H19.42": {"incoming_paper": 1, "incoming_electronic": 3, "incoming_handled": 2, "incoming_completed": 1,
               "incoming_processing_seconds": 86400, "outgoing_electronic_only": 2, "outgoing_electronic_paper": 1,
               "outgoing_paper": 1, "outgoing_signed": 2, "outgoing_handled": 3, "outgoing_exchanged": 2},
    "H19.43": {"incoming_paper": 1},
}


def test_hub_stores_reports_and_computes_the_shares(hub_db, keys):
    from vanban.exchange import hub, stats

    out = hub.store_report(hub_db, NOW, caller="node1", data=report_bytes(keys, {D: KNOWN}), trusted=trusted(keys))
    assert out == {"stored": 2, "stale": 0, "ignored": []}
    per_agency, per_level = stats.figures(dt.datetime(2026, 3, 1), dt.datetime(2026, 3, 10))
    rows = {r["code"]: r for r in per_agency + per_level}
    h42 = rows["H19.42"]
    assert (h42["incoming_total"], h42["outgoing_total"]) == (4, 4)
    assert h42["exchanged_pct"] == 62.5  # (3 received electronically + 2 sent electronically) / 8
    assert (h42["out_electronic_only_pct"], h42["out_electronic_paper_pct"], h42["out_paper_pct"]) == (50.0, 25.0, 25.0)
    assert (h42["out_signed_pct"], h42["incoming_handled_pct"], h42["outgoing_handled_pct"]) == (50.0, 50.0, 75.0)
    assert h42["node_avg_days"] == 1.0
    h43 = rows["H19.43"]
    assert (h43["exchanged_pct"], h43["incoming_handled_pct"], h43["outgoing_handled_pct"]) == (0.0, 0.0, None)
    assert rows["commune"]["incoming_handled_pct"] == 0.0 and rows["district"]["exchanged_pct"] == 62.5
    # No report from H19.44's node: no share, not 0%.
    assert rows["H19.44"]["exchanged_pct"] is None and rows["H19.44"]["incoming_total"] is None
    assert rows["H19"]["reported_days"] == 0
    # Outside the period: nothing.
    later, _ = stats.figures(dt.datetime(2026, 3, 10), dt.datetime(2026, 3, 11))
    assert {r["code"]: r["incoming_total"] for r in later}["H19.42"] is None


def test_same_agency_and_day_is_replaced_by_a_newer_report_only(hub_db, keys):
    from vanban.exchange import hub, stats
    from vanban.models.exchange import HubDailyFigure, HubReport

    t = trusted(keys)
    hub.store_report(hub_db, NOW, caller="node1", data=report_bytes(keys, {D: KNOWN}), trusted=t)
    newer = {D: {"H19.42": {**KNOWN["H19.42"], "incoming_handled": 4}}}
    at2 = dt.datetime(2026, 3, 10, 2, 0, tzinfo=VN)
    assert hub.store_report(hub_db, NOW, caller="node1", data=report_bytes(keys, newer, at=at2), trusted=t)["stored"] == 1
    older = {D: {"H19.42": {**KNOWN["H19.42"], "incoming_handled": 0}}}
    late = hub.store_report(hub_db, NOW, caller="node1", data=report_bytes(keys, older), trusted=t)
    assert late["stored"] == 0 and late["stale"] == 1
    assert HubDailyFigure.select().count() == 2
    (row,) = [r for r in stats.figures(dt.datetime(2026, 3, 9), dt.datetime(2026, 3, 10))[0] if r["code"] == "H19.42"]
    assert row["incoming_handled_pct"] == 100.0
    # Superseded reports (and their bytes) are dropped; the evidence of what is shown stays.
    kept = {r.id for r in HubReport.select()}
    assert kept == {f.report for f in HubDailyFigure.select()} and len(kept) == 2
    assert all(hub_db.path(r.blob_sha).exists() for r in HubReport.select())


def test_hub_refuses_bad_reports_and_changes_nothing(hub_db, keys):
    from vanban.errors import Forbidden, Invalid
    from vanban.exchange import hub
    from vanban.models.exchange import HubDailyFigure

    t = trusted(keys)
    good = report_bytes(keys, {D: KNOWN})
    cases = [
        (good.replace(b'incoming_paper="1"', b'incoming_paper="9"', 1), Invalid, "report_signature_invalid"),
        (report_bytes(keys, {D: KNOWN}, node="node1", who="node2"), Forbidden, "report_not_from_caller"),
        (report_bytes(keys, {dt.date(2026, 3, 10): KNOWN}), Invalid, "report_future_day"),
        (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>', Invalid, "report_xml_entities"),
        (b"not xml", Invalid, "report_xml_malformed"),
    ]
    for data, error, code in cases:
        with pytest.raises(error) as exc:
            hub.store_report(hub_db, NOW, caller="node1", data=data, trusted=t)
        assert exc.value.code == code
    with pytest.raises(Forbidden):  # node2's signed report sent over node1's connection
        hub.store_report(hub_db, NOW, caller="node1", data=report_bytes(keys, {D: KNOWN}, node="node2"), trusted=t)
    assert HubDailyFigure.select().count() == 0
    # node2 reporting an agency the directory places on node1: that row is ignored, named in the answer.
    out = hub.store_report(hub_db, NOW, caller="node2", trusted=t,
                           data=report_bytes(keys, {D: {"H19.42": KNOWN["H19.42"], "H19.44": {}}}, node="node2"))
    assert out == {"stored": 1, "stale": 0, "ignored": ["H19.42"]}


def test_hub_figures_page_and_xlsx_show_the_reported_shares(tmp_path, keys, template):
    import shutil

    from conftest import Client, make_settings
    from vanban.clock import FixedClock
    from vanban.exchange import hub
    from vanban.web.app import create_app

    data = tmp_path / "hubdata"
    shutil.copytree(template[0], data)
    app = create_app(make_settings(data, role="hub"), clock=FixedClock(NOW))
    hub.add_agency("H19.42", "UBND huyện Nhơn Trạch", "node1", level="district")
    hub.add_agency("H19.43", "UBND xã Long Thành", "node1", level="commune", parent_code="H19.42")
    hub.store_report(app.ctx.blobs, NOW, caller="node1", data=report_bytes(keys, {D: KNOWN}), trusted=trusted(keys))
    browser = Client(app).web_login("admin")
    page = browser.get("/exchange?from=2026-03-01&to=2026-03-09")
    assert page.status_code == 200
    row = page.text.split('data-code="H19.42"')[1].split("</tr>")[0]
    assert 'data-key="exchanged_pct">62.5<' in row and 'data-key="outgoing_handled_pct">75.0<' in row
    assert 'data-key="out_electronic_paper_pct">25.0<' in row and 'data-key="node_avg_days">1.0<' in row
    commune = page.text.split('data-code="commune"')[1].split("</tr>")[0]
    assert 'data-key="incoming_handled_pct">0.0<' in commune
    xlsx = browser.get("/exchange?from=2026-03-01&to=2026-03-09&format=xlsx")
    import openpyxl

    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    cells = [list(r) for r in sheet.iter_rows(values_only=True)]
    header = next(r for r in cells if "VB trao đổi điện tử / tổng (%)" in r)
    h42 = next(r for r in cells if "H19.42" in r)
    assert h42[header.index("VB trao đổi điện tử / tổng (%)")] == 62.5


# ---------------------------------------------------------------------------------------------- the lab
@pytest.fixture
def lab(tmp_path, template):
    lab = Lab(tmp_path / "lab", template[0])
    yield lab
    lab.close()


def _seed_node(node, agency_code, incoming, paper_incoming, routed, at):
    """Incoming documents of one day for one agency of a lab node, written as registration does."""
    from vanban.models import write_transaction
    from vanban.models.schema import Agency, Assignment

    db = use_db(node.data_dir)
    with write_transaction():
        agency = Agency.get(Agency.code == agency_code)
        docs = [_doc(agency.id, "in", at=at) for _ in range(incoming)]
        docs += [_doc(agency.id, "in", medium="paper", at=at) for _ in range(paper_incoming)]
        for doc in docs[:routed]:
            Assignment.create(document=doc, assigner=1, assignee=1, role="lead", created_at=at)
    db.close()
    return docs


def test_daily_reports_through_the_hub(lab):
    """Two nodes report their days over mutual TLS; the hub's shares combine them with what it relayed.
    The servers run on the real clock: the documents are dated two days ago."""
    from conftest import make_pdf
    from vanban.clock import SystemClock

    day = SystemClock().today() - dt.timedelta(days=2)
    at = dt.datetime.combine(day, dt.time(8, 0))
    hub = lab.hub("hub", {"H19.42": ("UBND huyện Nhơn Trạch", "node1", "district"),
                          "H19.43": ("UBND xã Long Thành", "node2", "commune")})
    hub.start()
    node1, node2 = lab.node("node1", hub.url), lab.node("node2", hub.url)
    # node1 (H19.42): 3 incoming (1 paper), 2 routed; 1 outgoing sent to H19.43 over the hub.
    _seed_node(node1, "H19.42", 2, 1, 2, at)
    issue_outgoing(node1, to=["H19.43"], number="15", subject="Về việc phối hợp", pdf=make_pdf("CV 15"), doc_date=day)
    use_db(node1.data_dir)
    from vanban.models.schema import Document

    Document.update(created_at=at).where(Document.direction == "out").execute()
    # node2 (H19.43): 4 incoming (all paper), 1 routed.
    _seed_node(node2, "H19.43", 0, 4, 1, at)
    assert node1.cli_json("exchange", "push")["sent"] == 1
    assert node1.cli_json("exchange", "report") == {"days": 2, "reports": 1}  # the day and yesterday (zeros)
    assert node1.cli_json("exchange", "report") == {"days": 0, "reports": 0}  # nothing changed, nothing sent
    assert node2.cli_json("exchange", "report") == {"days": 2, "reports": 1}
    # Work goes on at node2: another document of the day gets routed; only that day travels again.
    use_db(node2.data_dir)
    from vanban.models.schema import Assignment

    unrouted = Document.select().where(Document.id.not_in(Assignment.select(Assignment.document))).first()
    Assignment.create(document=unrouted, assigner=1, assignee=1, role="lead", created_at=at)
    assert node2.cli_json("exchange", "report") == {"days": 1, "reports": 1}

    from vanban.exchange import stats

    use_db(hub.data_dir)
    start = dt.datetime.combine(day, dt.time())
    # From the day to today: the hub relayed the package today (its date), the nodes count it on its day.
    per_agency, per_level = stats.figures(start, start + dt.timedelta(days=3))
    rows = {r["code"]: r for r in per_agency + per_level}
    assert rows["H19.42"]["sent"] == 1 and rows["H19.42"]["reported_days"] == 2
    assert (rows["H19.42"]["incoming_total"], rows["H19.42"]["outgoing_total"]) == (3, 1)
    assert rows["H19.42"]["exchanged_pct"] == 75.0  # (2 received electronically + 1 sent) / 4
    assert rows["H19.42"]["incoming_handled_pct"] == 66.7
    assert rows["H19.43"]["incoming_handled_pct"] == 50.0 and rows["H19.43"]["exchanged_pct"] == 0.0
    assert rows["commune"]["incoming_total"] == 4 and rows["district"]["incoming_total"] == 3
    # Each node's report named the other agency of the shared template database: ignored, not stored.
    assert query(hub, "SELECT agency, node, count(*) FROM hub_daily_figure WHERE day = ? GROUP BY agency",
                 day.isoformat()) == [("H19.42", "node1", 1), ("H19.43", "node2", 1)]
