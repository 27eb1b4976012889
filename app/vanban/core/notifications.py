"""Notifications: an in-app counter and list, and e-mail through the SMTP relay in batches (mailer.py).

Use cases call notify() inside their own write transaction, so a notification exists exactly when the change
that caused it was committed. Each notification has a dedup key: periodic scans (due soon, overdue, dossier
warnings) run many times a day and must notify once."""
from __future__ import annotations

from peewee import IntegrityError, fn

from ..errors import Invalid, NotFound
from ..models import write_transaction
from ..models.work import Notification, NotificationPreference
from . import audit

KINDS = {
    "assigned": "Được giao việc mới",
    "due_soon": "Việc sắp đến hạn",
    "overdue": "Việc quá hạn",
    "returned": "Kết quả bị trả lại",
    "arrived": "Văn bản đến từ cơ quan khác",
    "urged": "Bị đôn đốc",
    "answered": "Có kết quả chờ duyệt",
    "extended": "Được gia hạn",
    "dossier_due": "Hồ sơ sắp đến hạn nộp lưu",
    "meeting": "Mời họp",
}
COUNT_CAP = 100  # the badge says "99+" beyond this; nobody reads further


def preferences(user_id) -> dict:
    """kind → {"in_app": bool, "email": bool}; a kind never set is on for both."""
    rows = {p.kind: p for p in NotificationPreference.select().where(NotificationPreference.user == user_id)}
    return {k: {"in_app": rows[k].in_app if k in rows else True, "email": rows[k].email if k in rows else True}
            for k in KINDS}


def set_preferences(ctx, actor, prefs: dict) -> dict:
    """prefs: kind → {"in_app": bool, "email": bool}. Unknown kinds are refused, nothing is changed."""
    unknown = [k for k in prefs if k not in KINDS]
    if unknown:
        raise Invalid(f"Loại thông báo không có: {', '.join(unknown)[:100]}.", code="invalid:kind", field="kind")
    with write_transaction():
        for kind, value in prefs.items():
            value = value if isinstance(value, dict) else {}
            NotificationPreference.insert(user=actor.id, kind=kind, in_app=bool(value.get("in_app", True)),
                                          email=bool(value.get("email", True))).on_conflict(
                conflict_target=[NotificationPreference.user, NotificationPreference.kind],
                preserve=[NotificationPreference.in_app, NotificationPreference.email]).execute()
        audit.record(ctx.clock.now(), actor, "notify.preferences", "user", actor.id)
    return preferences(actor.id)


def notify(now_local, user_id, kind: str, title: str, link: str = "", dedup_key: str | None = None):
    """Record one notification (call inside the caller's write transaction). Returns it, or None when the user
    switched this kind off entirely or the same key was already notified."""
    pref = NotificationPreference.get_or_none((NotificationPreference.user == user_id) &
                                              (NotificationPreference.kind == kind))
    in_app, email = (pref.in_app, pref.email) if pref else (True, True)
    if not in_app and not email:
        return None
    key = (dedup_key or f"{kind}:{user_id}:{now_local.isoformat()}:{title[:40]}")[:120]
    if Notification.select().where(Notification.dedup_key == key).exists():
        return None
    try:
        with Notification._meta.database.atomic():  # savepoint: a racing duplicate must not spoil the caller
            return Notification.create(user=user_id, kind=kind, title=title[:300], link=link[:200], dedup_key=key,
                                       created_at=now_local, read_at=None if in_app else now_local,
                                       mail_state="pending" if email else "")
    except IntegrityError:
        return None


def unread_count(user) -> int:
    if user is None:
        return 0
    sub = (Notification.select(Notification.id)
           .where((Notification.user == user.id) & Notification.read_at.is_null()).limit(COUNT_CAP))
    return Notification.select(fn.COUNT(1)).from_(sub.alias("s")).scalar()


def listing(user, *, unread_only=False, page=1, per_page=50) -> list[Notification]:
    cond = Notification.user == user.id
    if unread_only:
        cond &= Notification.read_at.is_null()
    return list(Notification.select().where(cond).order_by(Notification.id.desc()).paginate(max(page, 1), per_page))


def mark_read(ctx, actor, ids=None) -> int:
    """Mark the given notifications (or all) of the actor read; another user's ids are not found."""
    now = ctx.clock.local()
    with write_transaction():
        cond = (Notification.user == actor.id) & Notification.read_at.is_null()
        if ids is not None:
            try:
                ids = [int(i) for i in ids]
            except (TypeError, ValueError):
                raise Invalid("Mã thông báo phải là số.", code="invalid:ids", field="ids") from None
            if Notification.select().where(Notification.id.in_(ids) & (Notification.user != actor.id)).exists():
                raise NotFound("Không tìm thấy thông báo.", code="notification_not_found")
            cond &= Notification.id.in_(ids)
        return Notification.update(read_at=now).where(cond).execute()


# ---- scans: events of other subsystems, noticed after the fact ------------------------------------------------------
# Routing (core/routing.py) and the exchange do not call notify(); a periodic scan reads their new rows past a
# high-water mark instead, so neither module needs to know about notifications.
def _mark(name: str) -> int:
    from ..models.work import ScanMark

    row = ScanMark.get_or_none(ScanMark.name == name)
    return row.value if row else 0


def _set_mark(name: str, value: int) -> None:
    from ..models.work import ScanMark

    ScanMark.insert(name=name, value=value).on_conflict(conflict_target=[ScanMark.name],
                                                        preserve=[ScanMark.value]).execute()


def _clerks(agency_id) -> list[int]:
    from ..models.schema import User

    return [u.id for u in User.select().where((User.agency == agency_id) & (User.active == True))  # noqa: E712
            if "clerk" in u.role_set]


def scan_assignments(ctx) -> int:
    """New routing assignments (present / lead / co / info) → 'assigned' for the person or the unit's heads."""
    from ..models.schema import Assignment, User
    from .doctypes import ROLE_NAMES

    local, sent = ctx.clock.local(), 0
    with write_transaction():
        mark = _mark("assignment")
        rows = list(Assignment.select().where(Assignment.id > mark).order_by(Assignment.id).limit(5000))
        for a in rows:
            if a.assignee_id:
                people = [a.assignee_id]
            else:
                people = [u.id for u in User.select().where(User.department == a.department_id)
                          if "unit_head" in u.role_set]
            subject = a.document.subject[:200]
            for uid in people:
                if notify(local, uid, "assigned", f"{ROLE_NAMES.get(a.role, a.role)}: {subject}",
                          f"/documents/{a.document_id}", f"assignment:{a.id}:{uid}"):
                    sent += 1
        if rows:
            _set_mark("assignment", rows[-1].id)
    return sent


def scan_arrivals(ctx) -> int:
    """Documents arrived from another agency: packages in the exchange inbox, and copies delivered locally by
    another agency on this server → 'arrived' for the receiving agency's clerks."""
    from ..models import database
    from ..models.schema import Agency

    local, sent = ctx.clock.local(), 0
    with write_transaction():
        if database.table_exists("exchange_inbox"):
            from ..models.exchange import ExchangeInbox

            rows = list(ExchangeInbox.select().where((ExchangeInbox.id > _mark("exchange_inbox")))
                        .order_by(ExchangeInbox.id).limit(5000))
            for r in rows:
                agency = Agency.get_or_none(Agency.code == r.agency_code)
                if r.kind == "package" and agency is not None:
                    for uid in _clerks(agency.id):
                        sent += bool(notify(local, uid, "arrived", f"Văn bản đến từ {r.sender_name or r.sender}: "
                                            f"{r.subject[:150]}", "/inbox", f"arrived:x{r.id}:{uid}"))
            if rows:
                _set_mark("exchange_inbox", rows[-1].id)
        if database.table_exists("outgoing_delivery"):
            from ..models.outgoing import Delivery

            rows = list(Delivery.select().where((Delivery.id > _mark("delivery"))).order_by(Delivery.id).limit(5000))
            for r in rows:
                doc = r.recipient_document
                if r.kind == "local_agency" and doc is not None:
                    for uid in _clerks(doc.agency_id):
                        sent += bool(notify(local, uid, "arrived", f"Văn bản đến từ {r.document.agency.name}: "
                                            f"{doc.subject[:150]}", f"/documents/{doc.id}", f"arrived:d{r.id}:{uid}"))
            if rows:
                _set_mark("delivery", rows[-1].id)
    return sent
