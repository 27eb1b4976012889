"""Users, passwords (argon2id), sessions, login throttling."""
from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from peewee import JOIN

from ..errors import Forbidden, Invalid, Throttled, Unauthenticated
from ..models import write_transaction
from ..models.schema import Agency, Department, LoginFailure, Session, User
from ..text import nfc
from . import audit

ROLES = {
    "admin": "Quản trị",
    "clerk": "Văn thư",
    "leader": "Lãnh đạo",
    "unit_head": "Trưởng đơn vị",
    "specialist": "Chuyên viên",
}
# argon2id (the library's default type) at OWASP's baseline (19 MiB, 2 passes, 1 lane): a district server from
# 2005 still answers a login in well under a second, and a stolen hash still costs an attacker 19 MiB a guess.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")
THROTTLE_WINDOW = timedelta(minutes=15)
# Verifying against a fixed hash when the user does not exist keeps the timing the same either way.
_DUMMY_HASH = _hasher.hash("not a password")


def hash_password(password: str) -> str:
    if len(password) < 8:
        raise Invalid("Mật khẩu phải có ít nhất 8 ký tự.", code="password_too_short", field="password")
    return _hasher.hash(password)


def validate_roles(roles) -> str:
    roles = [r.strip() for r in (roles.split(",") if isinstance(roles, str) else roles) if r.strip()]
    unknown = [r for r in roles if r not in ROLES]
    if not roles or unknown:
        raise Invalid(f"Vai trò không hợp lệ: {', '.join(unknown) or '(trống)'}; chọn trong "
                      f"{', '.join(ROLES)}.", code="role_invalid", field="roles")
    return ",".join(sorted(set(roles)))


def create_user(now, actor, agency, *, username, full_name, password, roles, department=None,
                position="", email="") -> User:
    username = (username or "").strip().lower()
    if not _USERNAME.match(username):
        raise Invalid("Tên đăng nhập 3–64 ký tự: chữ thường không dấu, số, dấu chấm, gạch.",
                      code="username_invalid", field="username")
    full_name = nfc(full_name)
    if not full_name or len(full_name) > 120:
        raise Invalid("Họ tên bắt buộc, tối đa 120 ký tự.", code="full_name_invalid", field="full_name")
    roles = validate_roles(roles)
    password_hash = hash_password(password or "")
    with write_transaction():
        if User.select().where(User.username == username).exists():
            raise Invalid(f"Tên đăng nhập {username} đã có.", code="username_taken", field="username")
        if department is not None and department.agency_id != agency.id:
            raise Invalid("Phòng ban không thuộc cơ quan này.", code="department_invalid", field="department")
        user = User.create(agency=agency, department=department, username=username, full_name=full_name,
                           position=nfc(position), email=(email or "").strip(), password_hash=password_hash,
                           roles=roles, created_at=now.replace(tzinfo=None))
        audit.record(now, actor, "user.create", "user", user.id, {"username": username, "roles": roles},
                     agency_code=agency.code)
    return user


def set_password(now, actor, user: User, password: str) -> None:
    password_hash = hash_password(password)
    with write_transaction():
        User.update(password_hash=password_hash).where(User.id == user.id).execute()
        Session.delete().where(Session.user == user.id).execute()
        audit.record(now, actor, "user.password", "user", user.id, agency_code=user.agency.code)


def _throttled(now, keys, limit) -> bool:
    since = now.replace(tzinfo=None) - THROTTLE_WINDOW
    for key in keys:
        failures = LoginFailure.select().where((LoginFailure.key == key) & (LoginFailure.at > since)).count()
        if failures >= limit:
            return True
    return False


def login(now, username: str, password: str, remote_addr: str, *, limit: int, session_hours: int):
    """Check the password and open a server-side session. Returns (raw token, Session)."""
    username = (username or "").strip().lower()
    keys = [f"u:{username}", f"ip:{remote_addr}"]
    if _throttled(now, keys, limit):
        raise Throttled("Đăng nhập sai quá nhiều lần. Vui lòng thử lại sau 15 phút.", code="login_throttled")
    user = User.get_or_none(User.username == username)
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password or "")
        ok = user is not None and user.active
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok:
        with write_transaction():  # committed before the refusal is raised: the failure must count
            for key in keys:
                LoginFailure.create(key=key, at=now.replace(tzinfo=None))
            audit.record(now, None, "login.failed", "user", username, {"ip": remote_addr}, agency_code="")
        raise Unauthenticated("Sai tên đăng nhập hoặc mật khẩu.", code="login_failed")
    with write_transaction():
        LoginFailure.delete().where(LoginFailure.key == keys[0]).execute()
        token = secrets.token_urlsafe(32)
        session = Session.create(token_hash=_token_hash(token), user=user, csrf_token=secrets.token_urlsafe(24),
                                 created_at=now.replace(tzinfo=None),
                                 expires_at=now.replace(tzinfo=None) + timedelta(hours=session_hours))
        audit.record(now, user, "login", "user", user.id, {"ip": remote_addr})
    if _hasher.check_needs_rehash(user.password_hash):
        User.update(password_hash=_hasher.hash(password)).where(User.id == user.id).execute()
    return token, session


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def session_for(now, token: str | None):
    """The live session of a cookie or bearer token, with its user and agency, or None."""
    if not token or len(token) > 100:
        return None
    row = (Session.select(Session, User, Agency)
           .join(User).join(Agency)
           .where((Session.token_hash == _token_hash(token)) & (Session.expires_at > now.replace(tzinfo=None))
                  & (User.active == True))  # noqa: E712  (peewee expression)
           .first())
    return row


def touch(now, session, session_hours: int) -> None:
    """Sliding expiry: a session used in the second half of its life is extended, so the limit is idle time.
    Writes at most a few times a day per session, not on every request."""
    local = now.replace(tzinfo=None)
    if session.expires_at - local < timedelta(hours=session_hours / 2):
        with write_transaction():
            Session.update(expires_at=local + timedelta(hours=session_hours)).where(
                Session.token_hash == session.token_hash).execute()


def logout(token: str) -> None:
    with write_transaction():
        Session.delete().where(Session.token_hash == _token_hash(token)).execute()


def require_role(user: User, *roles: str) -> None:
    if not user.role_set.intersection(roles):
        names = ", ".join(ROLES[r] for r in roles)
        raise Forbidden(f"Chức năng này dành cho: {names}.", code="role_required")


def agency_users(agency_id: int):
    return (User.select(User, Department).join(Department, JOIN.LEFT_OUTER)
            .where((User.agency == agency_id) & (User.active == True))  # noqa: E712
            .order_by(User.full_name))


def logout_session(session) -> None:
    if session is not None:
        with write_transaction():
            Session.delete().where(Session.token_hash == session.token_hash).execute()


def update_user(now, actor, user_id, *, roles=None, department=None, clear_department=False, active=None,
                full_name=None, position=None) -> User:
    """An agency admin changes a user of their own agency: roles, unit, name, or switches the account off
    (which also ends its sessions). Admins cannot lock themselves out."""
    require_role(actor, "admin")
    user = User.get_or_none((User.id == user_id) & (User.agency == actor.agency_id))
    if user is None:
        from ..errors import NotFound

        raise NotFound("Không có người dùng này trong cơ quan.", code="user_not_found")
    changes = {}
    if roles is not None:
        changes["roles"] = validate_roles(roles)
    if full_name is not None:
        full_name = nfc(full_name)
        if not full_name or len(full_name) > 120:
            raise Invalid("Họ tên bắt buộc, tối đa 120 ký tự.", code="full_name_invalid", field="full_name")
        changes["full_name"] = full_name
    if position is not None:
        changes["position"] = nfc(position)[:120]
    if department is not None:
        if department.agency_id != actor.agency_id:
            raise Invalid("Phòng ban không thuộc cơ quan này.", code="department_invalid", field="department")
        changes["department"] = department.id
    elif clear_department:
        changes["department"] = None
    if active is not None:
        changes["active"] = bool(active)
    if user.id == actor.id and (changes.get("active") is False or "admin" not in changes.get("roles", "admin")):
        raise Invalid("Không thể tự khóa tài khoản hoặc bỏ quyền quản trị của chính mình.", code="self_lockout")
    with write_transaction():
        if changes:
            User.update(**changes).where(User.id == user.id).execute()
        if changes.get("active") is False:
            Session.delete().where(Session.user == user.id).execute()
        audit.record(now, actor, "user.update", "user", user.id,
                     {k: (v if k != "department" else v) for k, v in changes.items()})
    return User.get_by_id(user.id)
