"""The signed daily statistics report a node sends to the hub (POST /exchange/v1/reports).

The hub sees only what crosses it; the provincial figures of DOMAIN §12 also need each agency's totals (paper
documents, documents handled in the system, processing times), which only its node knows. The node sends
them as a small XML document signed with the same system key as its edXML packages (enveloped XML-DSig,
RSA-SHA256, exclusive c14n; vanban/exchange/dsig.py), so the hub keeps evidence of who reported what, and
checks that the signer, the TLS caller and the agencies' hosting node are the same server::

    <vb:DailyFigures xmlns:vb="urn:vanban:exchange:daily-figures:1" version="1">
      <vb:Header><vb:Node>node1</vb:Node><vb:GeneratedAt>2026-03-11T01:05:00+07:00</vb:GeneratedAt>
        <ds:Signature>...</ds:Signature></vb:Header>
      <vb:Day date="2026-03-10">
        <vb:Agency code="H19.42" incoming_paper="3" incoming_electronic="12" ... />
      </vb:Day>
    </vb:DailyFigures>

Every attribute of FIELDS is a non-negative integer; a field the hub does not know is ignored (a newer node
may add some), a missing one counts as 0. Not edXML: QCVN 102 has no statistics message.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime

from lxml import etree

from . import dsig
from .codes import EdxmlError, is_valid_organ_id

NS = "urn:vanban:exchange:daily-figures:1"
MAX_BYTES = 2 * 1024 * 1024  # 31 days x a few dozen agencies is well under 100 KB
MAX_DAYS = 62
MAX_AGENCIES = 500
MAX_COUNT = 10_000_000  # per agency and day; a processing-time sum in seconds fits too (10^7 s ~ 115 days)
# incoming_*: registered that day (NĐ 30 Điều 22), by medium; handled = has routing (giao xử lý);
# completed = done since, with the sum of (closed - registered) in seconds for the average processing time.
# outgoing_*: issued that day; electronic_paper = electronic with a paper original following (Bussiness/Paper 1);
# signed = carries the signer's digital signature; handled = drafted and approved in the system;
# exchanged = sent electronically to at least one other agency (through the hub or on the same server).
FIELDS = ("incoming_paper", "incoming_electronic", "incoming_handled", "incoming_completed",
          "incoming_processing_seconds", "outgoing_electronic_only", "outgoing_electronic_paper",
          "outgoing_paper", "outgoing_signed", "outgoing_handled", "outgoing_exchanged")
_SECONDS_CAP = 100 * 365 * 86400  # the sum over many documents can exceed MAX_COUNT; still bounded
_NODE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


@dataclass(frozen=True)
class DailyReport:
    node: str
    generated_at: datetime  # aware
    days: dict  # date -> {agency code -> {field: int}}
    signer_cn: str = field(default="", compare=False)


def _q(name: str) -> str:
    return f"{{{NS}}}{name}"


def build(report: DailyReport, signer_key, cert_chain) -> bytes:
    """Signed report bytes (UTF-8)."""
    root = etree.Element(_q("DailyFigures"), nsmap={"vb": NS, "ds": dsig.DS_NS}, version="1")
    header = etree.SubElement(root, _q("Header"))
    etree.SubElement(header, _q("Node")).text = report.node
    etree.SubElement(header, _q("GeneratedAt")).text = report.generated_at.isoformat(timespec="seconds")
    etree.SubElement(header, f"{{{dsig.DS_NS}}}Signature", Id="placeholder")
    for day in sorted(report.days):
        day_el = etree.SubElement(root, _q("Day"), date=day.isoformat())
        for code in sorted(report.days[day]):
            values = report.days[day][code]
            etree.SubElement(day_el, _q("Agency"), code=code, **{k: str(int(values.get(k, 0))) for k in FIELDS})
    root = etree.fromstring(etree.tostring(root, pretty_print=True))
    signed = dsig.sign_envelope(root, signer_key, cert_chain)
    return etree.tostring(signed, xml_declaration=True, encoding="UTF-8")


def _refuse(code: str, reason: str) -> EdxmlError:
    return EdxmlError(code, reason)


def _parse_tree(data: bytes) -> etree._Element:
    if len(data) > MAX_BYTES:
        raise _refuse("too_large", f"Báo cáo vượt quá {MAX_BYTES // (1024 * 1024)} MB")
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise _refuse("xml_entities", "Báo cáo chứa khai báo DOCTYPE/thực thể: bị từ chối")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                             remove_comments=True)
    try:
        return etree.fromstring(data, parser)
    except (etree.LxmlError, ValueError) as exc:
        raise EdxmlError("xml_malformed", "Báo cáo không phải XML hợp lệ", str(exc)[:200]) from None


def _int(el, name: str) -> int:
    raw = el.get(name)
    if raw is None:
        return 0
    if not raw.isdigit() or len(raw) > 12:
        raise _refuse("bad_value", f"Giá trị {name} phải là số nguyên không âm")
    value = int(raw)
    if value > (_SECONDS_CAP if name.endswith("_seconds") else MAX_COUNT):
        raise _refuse("bad_value", f"Giá trị {name} quá lớn")
    return value


def _read_days(signed) -> dict:
    days: dict = {}
    agencies = 0
    for day_el in signed.iterchildren(_q("Day")):
        try:
            day = date.fromisoformat(day_el.get("date") or "")
        except ValueError:
            raise _refuse("bad_value", "Ngày báo cáo không hợp lệ (yyyy-mm-dd)") from None
        if day in days:
            raise _refuse("bad_value", f"Ngày {day.isoformat()} xuất hiện hai lần")
        rows = days[day] = {}
        for el in day_el.iterchildren(_q("Agency")):
            code = (el.get("code") or "").upper()
            if not is_valid_organ_id(code) or code in rows:
                raise _refuse("bad_organ_id", f"Mã cơ quan không hợp lệ hoặc lặp lại: {code[:40]!r}")
            rows[code] = {name: _int(el, name) for name in FIELDS}
            agencies += 1
    if not days or len(days) > MAX_DAYS or agencies > MAX_AGENCIES * MAX_DAYS:
        raise _refuse("bad_value", f"Báo cáo phải có từ 1 đến {MAX_DAYS} ngày")
    return days


def parse(data: bytes, trusted_certs, *, at: datetime | None = None) -> DailyReport:
    """Verify and read a report. Raises EdxmlError (code, Vietnamese reason) on anything wrong."""
    root = _parse_tree(data)
    if root.tag != _q("DailyFigures"):
        raise _refuse("not_report", "Không phải báo cáo số liệu ngày (DailyFigures)")
    signed, info = dsig.verify_envelope(root, trusted_certs, at=at, header_tag_ok=lambda el: el.tag == _q("Header"))
    header = signed.find(_q("Header"))
    node = (header.findtext(_q("Node")) or "").strip() if header is not None else ""
    if not _NODE.match(node):
        raise _refuse("bad_value", "Thiếu hoặc sai tên máy chủ (Node)")
    try:
        generated = datetime.fromisoformat((header.findtext(_q("GeneratedAt")) or "").strip())
    except ValueError:
        raise _refuse("bad_value", "Thời điểm lập báo cáo không hợp lệ") from None
    if generated.tzinfo is None:
        raise _refuse("bad_value", "Thời điểm lập báo cáo phải có múi giờ")
    from .tls import common_name

    return DailyReport(node=node, generated_at=generated, days=_read_days(signed),
                       signer_cn=common_name(info.certificate) if info.certificate is not None else "")
