"""Dossiers (hồ sơ công việc, NĐ 30/2020 Chương IV): the yearly dossier list, open → add documents → close →
submit to the agency archive (nộp lưu), with a warning 30 days before a dossier is due.

A document joins a dossier by reference (dossier_document), never copied, so it can sit in several dossiers.
Who may read a dossier: its owner, the readers the owner names, or the whole agency when it is shared; a
confidential (mật) document may only join a dossier whose every reader may already see that document."""
from __future__ import annotations

import re
from datetime import date, timedelta

from ..errors import Conflict, Forbidden, Invalid, InvalidTransition, NotFound
from ..models import write_transaction
from ..models.schema import Department, Document, User
from ..models.work import Dossier, DossierDocument, DossierReader
from . import audit, forms
from .access import can_view as can_view_document
from .access import get_document
from .accounts import require_role
from .notifications import notify

STATUS_NAMES = {"planned": "Trong danh mục", "open": "Đang lập", "closed": "Đã kết thúc", "submitted": "Đã nộp lưu"}
_FILE_CODE = re.compile(r"^[0-9A-Za-zĐđ][0-9A-Za-zĐđ.\-]{0,29}$")
WARN_DAYS = 30  # DOMAIN §8: the system warns 30 days before a dossier is due
# Dossiers kept 5 years or more must be submitted to the archive (Điều 31 NĐ 30/2020); shorter ones stay in the unit.
MUST_SUBMIT_YEARS = 5
PERMANENT = "Vĩnh viễn"


def retention_text(d: Dossier) -> str:
    return PERMANENT if d.retention_years is None else f"{d.retention_years} năm"


def _retention(data) -> int | None:
    raw = str(data.get("retention") or "").strip()
    if raw.lower() in ("", "vv", "vinh vien", PERMANENT.lower(), "permanent"):
        return None
    try:
        years = int(raw)
    except ValueError:
        raise Invalid("Thời hạn bảo quản: số năm hoặc “Vĩnh viễn”.", code="invalid:retention",
                      field="retention") from None
    if not 1 <= years <= 100:
        raise Invalid("Thời hạn bảo quản từ 1 đến 100 năm.", code="invalid:retention", field="retention")
    return years


# ---- access ------------------------------------------------------------------------------------------------------
def readers(d: Dossier) -> list[User]:
    """Everyone who may open the dossier (for the shared case: the whole agency)."""
    if d.shared:
        return list(User.select().where((User.agency == d.agency_id) & (User.active == True)))  # noqa: E712
    ids = {d.owner_id} | {r.user_id for r in DossierReader.select().where(DossierReader.dossier == d.id)}
    return list(User.select().where(User.id.in_(list(ids))))


def can_read(user: User, d: Dossier) -> bool:
    if user.agency_id != d.agency_id:
        return False
    return d.shared or d.owner_id == user.id or DossierReader.select().where(
        (DossierReader.dossier == d.id) & (DossierReader.user == user.id)).exists()


def get_dossier(user: User, dossier_id, *, content=True) -> Dossier:
    """The dossier if the user may open it; with content=False any user of the agency may see the list entry."""
    try:
        dossier_id = int(dossier_id)
    except (TypeError, ValueError):
        dossier_id = -1
    d = Dossier.get_or_none(Dossier.id == dossier_id)
    if d is None or d.agency_id != user.agency_id or (content and not can_read(user, d)):
        raise NotFound("Không tìm thấy hồ sơ hoặc bạn không có quyền xem.", code="dossier_not_found")
    return d


def _owner_or_admin(user: User, d: Dossier) -> None:
    if d.owner_id != user.id and "admin" not in user.role_set:
        raise Forbidden("Chỉ người lập hồ sơ (hoặc quản trị) được làm thao tác này.", code="not_dossier_owner")


# ---- the yearly list -----------------------------------------------------------------------------------------------
def create_dossier(ctx, actor: User, data) -> Dossier:
    """A line of the year's dossier list (danh mục hồ sơ), planned until its owner opens it."""
    require_role(actor, "admin", "clerk", "leader", "unit_head")
    year = forms.integer(data, "year", "Năm") if data.get("year") not in (None, "") else ctx.clock.today().year
    if not 2000 <= year <= 2100:
        raise Invalid("Năm không hợp lệ.", code="invalid:year", field="year")
    file_code = forms.text(data, "file_code", "Số, ký hiệu hồ sơ", max_len=30)
    if not _FILE_CODE.match(file_code):
        raise Invalid("Số, ký hiệu hồ sơ dạng 01.TCCB: chữ, số, dấu chấm, gạch; không dấu cách.",
                      code="invalid:file_code", field="file_code")
    owner = actor
    if data.get("owner_id") not in (None, ""):
        owner = User.get_or_none((User.id == forms.integer(data, "owner_id", "Người lập hồ sơ")) &
                                 (User.agency == actor.agency_id) & (User.active == True))  # noqa: E712
        if owner is None:
            raise Invalid("Người lập hồ sơ không thuộc cơ quan.", code="invalid:owner_id", field="owner_id")
    dept = None
    if data.get("department_id") not in (None, ""):
        dept = Department.get_or_none((Department.id == forms.integer(data, "department_id", "Đơn vị")) &
                                      (Department.agency == actor.agency_id))
        if dept is None:
            raise Invalid("Đơn vị không thuộc cơ quan.", code="invalid:department_id", field="department_id")
    fields = dict(
        agency=actor.agency_id, year=year, file_code=file_code, owner=owner, department=dept,
        title=forms.text(data, "title", "Tiêu đề hồ sơ", max_len=500),
        heading=forms.text(data, "heading", "Đề mục", required=False, max_len=200),
        description=forms.text(data, "description", "Ghi chú", required=False, max_len=2000),
        retention_years=_retention(data), construction=forms.flag(data, "construction"),
        shared=forms.flag(data, "shared"))
    now = ctx.clock.now()
    with write_transaction():
        if Dossier.select().where((Dossier.agency == actor.agency_id) & (Dossier.year == year) &
                                  (Dossier.file_code == file_code)).exists():
            raise Conflict(f"Danh mục năm {year} đã có hồ sơ số {file_code}.", code="dossier_duplicate",
                           field="file_code")
        d = Dossier.create(created_at=now.replace(tzinfo=None), **fields)
        audit.record(now, actor, "dossier.create", "dossier", d.id, {"file_code": file_code, "year": year})
    return d


def dossier_list(user: User, year: int | None = None) -> list[Dossier]:
    cond = Dossier.agency == user.agency_id
    if year:
        cond &= Dossier.year == year
    return list(Dossier.select().where(cond).order_by(Dossier.year.desc(), Dossier.heading, Dossier.file_code))


# ---- lifecycle ------------------------------------------------------------------------------------------------------
def _transition(ctx, actor, dossier_id, expected: str, action: str):
    d = get_dossier(actor, dossier_id)
    if d.status != expected:
        if action == "close" and d.status in ("closed", "submitted"):
            raise InvalidTransition("Hồ sơ đã kết thúc rồi; không kết thúc lần nữa.", code="dossier_already_closed")
        raise InvalidTransition(f"Hồ sơ đang ở trạng thái “{STATUS_NAMES[d.status]}”.", code=f"dossier_{d.status}")
    return d


def open_dossier(ctx, actor: User, dossier_id) -> Dossier:
    now = ctx.clock.now()
    with write_transaction():
        d = _transition(ctx, actor, dossier_id, "planned", "open")
        _owner_or_admin(actor, d)
        Dossier.update(status="open", opened_at=now.replace(tzinfo=None), start_date=ctx.clock.today()).where(
            Dossier.id == d.id).execute()
        audit.record(now, actor, "dossier.open", "dossier", d.id)
    return Dossier.get_by_id(d.id)


def due_date_for(d: Dossier, end: date) -> date:
    """Nộp lưu within 1 year of the work ending, 3 months for construction projects (DOMAIN §8)."""
    if d.construction:
        month = end.month + 3
        year = end.year + (month - 1) // 12
        month = (month - 1) % 12 + 1
        day = min(end.day, [31, 29 if year % 4 == 0 and (year % 100 or year % 400 == 0) else 28, 31, 30, 31, 30,
                            31, 31, 30, 31, 30, 31][month - 1])
        return date(year, month, day)
    try:
        return end.replace(year=end.year + 1)
    except ValueError:  # 29 February
        return end.replace(year=end.year + 1, day=28)


def close_dossier(ctx, actor: User, dossier_id, end_date=None) -> Dossier:
    now = ctx.clock.now()
    with write_transaction():
        d = _transition(ctx, actor, dossier_id, "open", "close")
        _owner_or_admin(actor, d)
        end = forms.parse_date({"e": end_date}, "e", "Ngày kết thúc", required=False) or ctx.clock.today()
        if d.start_date and end < d.start_date:
            raise Invalid("Ngày kết thúc trước ngày mở hồ sơ.", code="bad_date:end_date", field="end_date")
        if not DossierDocument.select().where(DossierDocument.dossier == d.id).exists():
            raise Invalid("Hồ sơ chưa có văn bản nào.", code="dossier_empty")
        Dossier.update(status="closed", closed_at=now.replace(tzinfo=None), end_date=end,
                       due_date=due_date_for(d, end)).where(Dossier.id == d.id).execute()
        audit.record(now, actor, "dossier.close", "dossier", d.id, {"end_date": end.isoformat()})
    return Dossier.get_by_id(d.id)


def submit_dossier(ctx, actor: User, dossier_id) -> Dossier:
    """Nộp lưu: the closed dossier goes to the agency archive (its package: archive.build_sip)."""
    now = ctx.clock.now()
    with write_transaction():
        d = _transition(ctx, actor, dossier_id, "closed", "submit")
        if d.owner_id != actor.id and not actor.role_set.intersection(("admin", "clerk")):
            raise Forbidden("Người lập hồ sơ hoặc văn thư nộp lưu hồ sơ.", code="not_dossier_owner")
        Dossier.update(status="submitted", submitted_at=now.replace(tzinfo=None)).where(Dossier.id == d.id).execute()
        audit.record(now, actor, "dossier.submit", "dossier", d.id)
    return Dossier.get_by_id(d.id)


# ---- contents and readers -------------------------------------------------------------------------------------------
def _refuse_hidden(d: Dossier, doc: Document, people) -> None:
    if doc.confidentiality == 0:
        return
    if d.shared:
        raise Forbidden("Văn bản mật không được đưa vào hồ sơ dùng chung của cơ quan.",
                        code="confidential_in_readable_dossier")
    blind = [u.full_name for u in people if not can_view_document(u, doc)]
    if blind:
        raise Forbidden(f"Văn bản mật; những người sau đọc được hồ sơ nhưng không được xem văn bản: "
                        f"{', '.join(blind)[:200]}.", code="confidential_in_readable_dossier")


def add_document(ctx, actor: User, dossier_id, document_id) -> DossierDocument:
    now = ctx.clock.now()
    with write_transaction():
        d = get_dossier(actor, dossier_id)
        _owner_or_admin(actor, d)
        if d.status != "open":
            raise InvalidTransition("Chỉ thêm văn bản vào hồ sơ đang lập.", code=f"dossier_{d.status}")
        doc = get_document(actor, document_id)
        _refuse_hidden(d, doc, readers(d))
        if DossierDocument.select().where((DossierDocument.dossier == d.id) &
                                          (DossierDocument.document == doc.id)).exists():
            raise Conflict("Văn bản đã có trong hồ sơ.", code="document_already_in_dossier")
        item = DossierDocument.create(dossier=d, document=doc, added_by=actor, added_at=now.replace(tzinfo=None))
        audit.record(now, actor, "dossier.add_document", "dossier", d.id, {"document": doc.id})
    return item


def remove_document(ctx, actor: User, dossier_id, document_id) -> None:
    now = ctx.clock.now()
    with write_transaction():
        d = get_dossier(actor, dossier_id)
        _owner_or_admin(actor, d)
        if d.status != "open":
            raise InvalidTransition("Chỉ bỏ văn bản khỏi hồ sơ đang lập.", code=f"dossier_{d.status}")
        n = DossierDocument.delete().where((DossierDocument.dossier == d.id) &
                                           (DossierDocument.document == forms.integer(
                                               {"v": document_id}, "v", "Văn bản"))).execute()
        if not n:
            raise NotFound("Văn bản không có trong hồ sơ.", code="document_not_in_dossier")
        audit.record(now, actor, "dossier.remove_document", "dossier", d.id, {"document": int(document_id)})


def add_reader(ctx, actor: User, dossier_id, user_id) -> None:
    """A new reader must already be allowed to see every confidential document inside."""
    now = ctx.clock.now()
    with write_transaction():
        d = get_dossier(actor, dossier_id)
        _owner_or_admin(actor, d)
        user = User.get_or_none((User.id == forms.integer({"v": user_id}, "v", "Người đọc")) &
                                (User.agency == actor.agency_id))
        if user is None:
            raise Invalid("Người đọc không thuộc cơ quan.", code="invalid:user_id", field="user_id")
        for doc in documents(d):
            _refuse_hidden(d, doc, [user])
        DossierReader.insert(dossier=d.id, user=user.id).on_conflict_ignore().execute()
        audit.record(now, actor, "dossier.add_reader", "dossier", d.id, {"user": user.username})


def documents(d: Dossier) -> list[Document]:
    """In chronological order (the archive's order): document date, then arrival or registration time."""
    return list(Document.select().join(DossierDocument, on=(DossierDocument.document == Document.id))
                .where(DossierDocument.dossier == d.id)
                .order_by(Document.doc_date.asc(nulls="LAST"), Document.arrival_at.asc(nulls="LAST"),
                          Document.created_at, Document.id))


def dossiers_of_document(user: User, doc: Document) -> list[Dossier]:
    return [d for d in Dossier.select().join(DossierDocument).where(DossierDocument.document == doc.id)
            if can_read(user, d)]


# ---- warnings --------------------------------------------------------------------------------------------------------
def due_dossiers(agency_id, today) -> list[Dossier]:
    """Closed dossiers that must go to the archive and are due within WARN_DAYS (or already late)."""
    return list(Dossier.select().where(
        (Dossier.agency == agency_id) & (Dossier.status == "closed") &
        (Dossier.due_date <= today + timedelta(days=WARN_DAYS)) &
        (Dossier.retention_years.is_null() | (Dossier.retention_years >= MUST_SUBMIT_YEARS)))
        .order_by(Dossier.due_date))


def scan_due(ctx) -> int:
    """Periodic: one warning per dossier and due date to its owner."""
    today, local = ctx.clock.today(), ctx.clock.local()
    sent = 0
    with write_transaction():
        for d in Dossier.select().where((Dossier.status == "closed") &
                                        (Dossier.due_date <= today + timedelta(days=WARN_DAYS))):
            if d.retention_years is not None and d.retention_years < MUST_SUBMIT_YEARS:
                continue
            if notify(local, d.owner_id, "dossier_due",
                      f"Hồ sơ {d.file_code} phải nộp lưu trước {d.due_date:%d/%m/%Y}", f"/dossiers/{d.id}",
                      f"dossier_due:{d.id}:{d.due_date.isoformat()}"):
                sent += 1
    return sent


# ---- exports ---------------------------------------------------------------------------------------------------------
EXPORTS = {"pdf": "application/pdf", "xml": "application/xml", "sip": "application/zip",
           "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def export(ctx, actor: User, dossier_id, fmt: str) -> tuple[str, str, bytes]:
    """(file name, content type, bytes) of a dossier: pdf (catalogue + documents), xml (metadata), xlsx
    (catalogue), sip (archive package, TT 05/2025). Oldest document first in all of them."""
    from .. import archive
    from ..reports import render_xlsx

    if fmt not in EXPORTS:
        raise Invalid("Định dạng: pdf, xml, xlsx hoặc sip.", code="invalid:format", field="format")
    d = get_dossier(actor, dossier_id)
    items = archive.collect(ctx.blobs, documents(d))
    stem = f"ho-so-{d.year}-{d.file_code}"
    if fmt == "pdf":
        data = archive.dossier_pdf(ctx.blobs, d, items)
    elif fmt == "xml":
        data = archive.dossier_xml(d, items, creator=d.owner.full_name)
    elif fmt == "xlsx":
        from ..archive.export import catalogue_report

        data = render_xlsx(catalogue_report(d, d.agency.name, items))
    else:
        objid, data = archive.build_sip(ctx.blobs, d, items, now=ctx.clock.now(), creator=d.owner.full_name)
        stem = objid
    return f"{stem}.{'zip' if fmt == 'sip' else fmt}", EXPORTS[fmt], data


def list_report(actor: User, year: int):
    """Danh mục hồ sơ of a year (reports.registers.dossier_list)."""
    from ..reports import registers

    rows = [{"file_code": d.file_code, "title": d.title, "start_date": d.start_date, "end_date": d.end_date,
             "doc_total": DossierDocument.select().where(DossierDocument.dossier == d.id).count(),
             "page_total": None, "retention": d.retention_years or PERMANENT, "creator": d.owner.full_name,
             "notes": STATUS_NAMES[d.status]} for d in dossier_list(actor, year)]
    return registers.dossier_list(rows, actor.agency.name, year)
