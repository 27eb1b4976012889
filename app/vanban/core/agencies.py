"""Agencies hosted on this server, their departments and registers (agency admin)."""
from __future__ import annotations

import re

from ..errors import Invalid, NotFound
from ..models import write_transaction
from ..models.schema import Agency, Department, Register
from ..text import nfc
from . import audit

# QĐ 20/2020/QĐ-TTg: up to 35 chars of A-Z 0-9 '.', dot-separated groups, first group a letter A–Y + two digits.
AGENCY_CODE = re.compile(r"^[A-Y][0-9]{2}(\.[A-Z0-9]+)*$")
# QCVN 102:2016: XXX.XX.XX.MXX, the level-1 code on the right.
OLD_AGENCY_CODE = re.compile(r"^[0-9A-Z]{3}\.[0-9A-Z]{2}\.[0-9A-Z]{2}\.[A-Y][0-9]{2}$")
_ABBREV = re.compile(r"^[A-Za-zĐđ0-9]{1,20}$")


def validate_agency_code(code: str) -> str:
    code = (code or "").strip().upper()
    if len(code) > 35 or not AGENCY_CODE.match(code):
        raise Invalid("Mã định danh cơ quan không hợp lệ (tối đa 35 ký tự A-Z, 0-9 và dấu chấm, nhóm đầu "
                      "dạng H37, ví dụ H37.02.02).", code="agency_code_invalid", field="code")
    return code


def _abbrev(value: str, field: str) -> str:
    value = nfc(value)
    if not _ABBREV.match(value):
        raise Invalid("Chữ viết tắt chỉ gồm chữ và số, không dấu cách, tối đa 20 ký tự.",
                      code="abbreviation_invalid", field=field)
    return value


def create_agency(now, actor, *, code, name, abbreviation, old_code=None, parent_code=None, address="",
                  numbering="shared") -> Agency:
    code = validate_agency_code(code)
    if old_code:
        old_code = old_code.strip().upper()
        if not OLD_AGENCY_CODE.match(old_code):
            raise Invalid("Mã cũ phải có dạng 000.00.00.H41 (13 ký tự).", code="old_code_invalid", field="old_code")
    name = nfc(name)
    if not name or len(name) > 200:
        raise Invalid("Tên cơ quan bắt buộc, tối đa 200 ký tự.", code="name_invalid", field="name")
    if numbering not in ("shared", "per_type"):
        raise Invalid("Cách đánh số: shared hoặc per_type.", code="numbering_invalid", field="numbering")
    abbreviation = _abbrev(abbreviation, "abbreviation")
    with write_transaction():
        if Agency.select().where(Agency.code == code).exists():
            raise Invalid(f"Cơ quan {code} đã có trên máy chủ này.", code="agency_exists", field="code")
        agency = Agency.create(code=code, old_code=old_code or None, name=name, abbreviation=abbreviation,
                               parent_code=(parent_code or None), address=nfc(address), numbering=numbering,
                               created_at=now.replace(tzinfo=None))
        Register.create(agency=agency, kind="incoming", name="Sổ văn bản đến")
        Register.create(agency=agency, kind="incoming", name="Sổ văn bản mật đến", confidential=True)
        Register.create(agency=agency, kind="outgoing", name="Sổ văn bản đi")
        Register.create(agency=agency, kind="outgoing", name="Sổ văn bản mật đi", confidential=True)
        audit.record(now, actor, "agency.create", "agency", agency.id, {"code": code}, agency_code=code)
    return agency


def get_agency(code: str) -> Agency:
    agency = Agency.get_or_none(Agency.code == (code or "").strip().upper())
    if agency is None:
        raise NotFound(f"Không có cơ quan {code} trên máy chủ này.", code="agency_not_found")
    return agency


def create_department(now, actor, agency, *, name, abbreviation) -> Department:
    name = nfc(name)
    if not name or len(name) > 200:
        raise Invalid("Tên phòng ban bắt buộc, tối đa 200 ký tự.", code="name_invalid", field="name")
    abbreviation = _abbrev(abbreviation, "abbreviation")
    with write_transaction():
        if Department.select().where((Department.agency == agency) &
                                     (Department.abbreviation == abbreviation)).exists():
            raise Invalid(f"Chữ viết tắt {abbreviation} đã dùng cho phòng ban khác.", code="department_exists",
                          field="abbreviation")
        dept = Department.create(agency=agency, name=name, abbreviation=abbreviation)
        audit.record(now, actor, "department.create", "department", dept.id, {"name": name},
                     agency_code=agency.code)
    return dept


def create_register(now, actor, agency, *, kind, name, confidential=False) -> Register:
    if kind not in ("incoming", "outgoing"):
        raise Invalid("Loại sổ: incoming hoặc outgoing.", code="register_kind_invalid", field="kind")
    name = nfc(name)
    if not name or len(name) > 200:
        raise Invalid("Tên sổ bắt buộc, tối đa 200 ký tự.", code="name_invalid", field="name")
    with write_transaction():
        reg = Register.create(agency=agency, kind=kind, name=name, confidential=bool(confidential))
        audit.record(now, actor, "register.create", "register", reg.id, {"name": name}, agency_code=agency.code)
    return reg


def departments(agency_id: int):
    return list(Department.select().where((Department.agency == agency_id) & (Department.active == True))  # noqa: E712
                .order_by(Department.name))


def registers(agency_id: int, kind: str | None = None):
    q = Register.select().where((Register.agency == agency_id) & (Register.active == True))  # noqa: E712
    if kind:
        q = q.where(Register.kind == kind)
    return list(q.order_by(Register.id))


def get_department(agency_id: int, dept_id) -> Department:
    dept = Department.get_or_none((Department.id == _int(dept_id)) & (Department.agency == agency_id))
    if dept is None:
        raise Invalid("Phòng ban không tồn tại trong cơ quan.", code="department_invalid", field="department")
    return dept


def _int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1
