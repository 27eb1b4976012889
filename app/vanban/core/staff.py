"""Staff records (quản lý nhân sự, sơ yếu lý lịch): profile, position, unit, education and work history.
Admins of the agency only. Moving someone to another unit closes their current history row and opens a new
one in the same transaction, so the history is never lost and never has two current units."""
from __future__ import annotations

from datetime import timedelta

from ..errors import Invalid, NotFound
from ..models import write_transaction
from ..models.schema import Department, User
from ..models.work import StaffHistory, StaffProfile
from . import audit, forms
from .accounts import require_role

PROFILE_TEXT = {"gender": ("Giới tính", 10), "birth_place": ("Quê quán", 200), "ethnicity": ("Dân tộc", 50),
                "education": ("Trình độ chuyên môn", 200), "political_theory": ("Lý luận chính trị", 100),
                "rank": ("Ngạch", 100), "phone": ("Điện thoại", 30), "notes": ("Ghi chú", 4000)}
HISTORY_KINDS = {"unit": "Công tác tại đơn vị", "education": "Đào tạo", "work": "Quá trình công tác"}


def _person(actor: User, user_id) -> User:
    require_role(actor, "admin")
    user = User.get_or_none((User.id == forms.integer({"v": user_id}, "v", "Cán bộ")) &
                            (User.agency == actor.agency_id))
    if user is None:
        raise NotFound("Không có cán bộ này trong cơ quan.", code="staff_not_found")
    return user


def staff_list(actor: User) -> list[User]:
    require_role(actor, "admin")
    return list(User.select().where(User.agency == actor.agency_id).order_by(User.full_name))


def record(actor: User, user_id) -> dict:
    """The whole sơ yếu lý lịch of one person."""
    user = _person(actor, user_id)
    profile = StaffProfile.get_or_none(StaffProfile.user == user.id)
    history = list(StaffHistory.select().where(StaffHistory.user == user.id)
                   .order_by(StaffHistory.kind, StaffHistory.from_date.asc(nulls="FIRST"), StaffHistory.id))
    return {"user": user, "profile": profile, "history": history,
            "current_unit": next((h for h in history if h.kind == "unit" and h.to_date is None), None)}


def update_profile(ctx, actor: User, user_id, data) -> StaffProfile:
    user = _person(actor, user_id)
    values = {k: forms.text(data, k, label, required=False, max_len=n) for k, (label, n) in PROFILE_TEXT.items()
              if k in data}
    for k in ("birth_date", "hired_on"):
        if k in data:
            values[k] = forms.parse_date(data, k, "Ngày sinh" if k == "birth_date" else "Ngày tuyển dụng",
                                         required=False)
    if values.get("birth_date") and values["birth_date"] > ctx.clock.today():
        raise Invalid("Ngày sinh sau hôm nay.", code="bad_date:birth_date", field="birth_date")
    now = ctx.clock.now()
    with write_transaction():
        values["updated_at"] = now.replace(tzinfo=None)
        if StaffProfile.select().where(StaffProfile.user == user.id).exists():
            StaffProfile.update(**values).where(StaffProfile.user == user.id).execute()
        else:
            StaffProfile.create(user=user, **values)
        audit.record(now, actor, "staff.profile", "user", user.id, {"fields": sorted(values)})
    return StaffProfile.get(StaffProfile.user == user.id)


def _open_unit_row(user, dept, position, start, actor, local):
    return StaffHistory.create(user=user, kind="unit", department=dept, unit_name=dept.name if dept else "",
                               position=position, from_date=start, recorded_by=actor, recorded_at=local)


def move(ctx, actor: User, user_id, *, department_id, position: str | None = None, effective=None) -> StaffHistory:
    """Điều động: the person joins another unit (and/or position) from `effective` (default today)."""
    user = _person(actor, user_id)
    dept = Department.get_or_none((Department.id == forms.integer({"v": department_id}, "v", "Đơn vị mới")) &
                                  (Department.agency == actor.agency_id))
    if dept is None:
        raise Invalid("Đơn vị mới không thuộc cơ quan.", code="invalid:department_id", field="department_id")
    position = forms.text({"p": position if position is not None else user.position}, "p", "Chức vụ",
                          required=False, max_len=120)
    start = forms.parse_date({"e": effective}, "e", "Ngày hiệu lực", required=False) or ctx.clock.today()
    now = ctx.clock.now()
    local = now.replace(tzinfo=None)
    with write_transaction():
        current = (StaffHistory.select().where((StaffHistory.user == user.id) & (StaffHistory.kind == "unit") &
                                               StaffHistory.to_date.is_null()).first())
        if current is None and user.department_id:
            # No history yet: what the account says today becomes the first row, open until the move.
            current = _open_unit_row(user, user.department, user.position, None, actor, local)
        if current is not None:
            if current.department_id == dept.id and current.position == position:
                raise Invalid("Cán bộ đã ở đơn vị và chức vụ này.", code="staff_same_unit")
            if current.from_date and start <= current.from_date:
                raise Invalid("Ngày hiệu lực phải sau ngày bắt đầu ở đơn vị cũ.", code="bad_date:effective",
                              field="effective")
            StaffHistory.update(to_date=start - timedelta(days=1)).where(StaffHistory.id == current.id).execute()
        row = _open_unit_row(user, dept, position, start, actor, local)
        User.update(department=dept.id, position=position).where(User.id == user.id).execute()
        audit.record(now, actor, "staff.move", "user", user.id,
                     {"from": current.department_id if current else None, "to": dept.id, "position": position,
                      "effective": start.isoformat()})
    return row


def add_history(ctx, actor: User, user_id, data) -> StaffHistory:
    """An education or earlier-work line of the sơ yếu lý lịch."""
    user = _person(actor, user_id)
    kind = forms.choice(data, "kind", "Loại", ("education", "work"))
    text = forms.text(data, "text", "Nội dung", max_len=1000)
    start = forms.parse_date(data, "from_date", "Từ ngày", required=False)
    end = forms.parse_date(data, "to_date", "Đến ngày", required=False)
    if start and end and end < start:
        raise Invalid("Đến ngày trước từ ngày.", code="bad_date:to_date", field="to_date")
    now = ctx.clock.now()
    with write_transaction():
        row = StaffHistory.create(user=user, kind=kind, text=text, from_date=start, to_date=end,
                                  position=forms.text(data, "position", "Chức vụ", required=False, max_len=120),
                                  unit_name=forms.text(data, "unit_name", "Nơi công tác", required=False,
                                                       max_len=200),
                                  recorded_by=actor, recorded_at=now.replace(tzinfo=None))
        audit.record(now, actor, "staff.history", "user", user.id, {"kind": kind})
    return row
