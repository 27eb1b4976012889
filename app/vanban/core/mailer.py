"""E-mail of notifications through the agency's SMTP relay, in batches: one digest per person per run, and
at most one per person every `mail_batch_minutes`, so a morning with a hundred assignments is one mail.

The database is never locked while the relay is talking: pending rows are read, mails are sent over one SMTP
connection, then the rows that went out are marked in one short write transaction. A relay that fails leaves
the rows pending for the next run (at-least-once)."""
from __future__ import annotations

import logging
import smtplib
import ssl
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from ..models import write_transaction
from ..models.schema import User
from ..models.work import MailLog, Notification

log = logging.getLogger(__name__)
MAX_ITEMS_LISTED = 30  # a digest lists this many and counts the rest


@dataclass(frozen=True)
class MailConfig:
    host: str = ""  # empty: e-mail off
    port: int = 25
    sender: str = "vanban@localhost"
    starttls: bool = False
    username: str = ""
    password: str = ""
    batch_minutes: int = 15
    base_url: str = ""  # https://vanban.example.gov.vn, for links in mails
    timeout: int = 20

    @classmethod
    def from_settings(cls, settings) -> "MailConfig":
        """Reads the smtp_* settings when the settings table has them (names: see the report / README)."""
        def get(name, default):
            return getattr(settings, name, default) if hasattr(settings, "values") and name in settings.values \
                else default
        return cls(host=get("smtp_host", ""), port=int(get("smtp_port", 25)), sender=get("smtp_from", cls.sender),
                   starttls=bool(get("smtp_starttls", False)), username=get("smtp_username", ""),
                   password=get("smtp_password", ""), batch_minutes=int(get("mail_batch_minutes", 15)),
                   base_url=get("base_url", ""))


def _digest(config: MailConfig, user: User, items: list[Notification], now) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = config.sender
    msg["To"] = user.email
    msg["Subject"] = f"[Văn phòng điện tử] {len(items)} thông báo mới"
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = make_msgid(domain=config.sender.rpartition("@")[2] or "vanban")
    lines = [f"Kính gửi {user.full_name},", "", "Anh/chị có các thông báo mới trên Văn phòng điện tử:", ""]
    for n in items[:MAX_ITEMS_LISTED]:
        link = f" {config.base_url.rstrip('/')}{n.link}" if config.base_url and n.link else ""
        lines.append(f"- {n.created_at:%d/%m/%Y %H:%M} {n.title}{link}")
    if len(items) > MAX_ITEMS_LISTED:
        lines.append(f"... và {len(items) - MAX_ITEMS_LISTED} thông báo khác.")
    lines += ["", "Đổi loại thông báo nhận qua thư tại mục Thông báo > Tùy chọn.", ""]
    msg.set_content("\n".join(lines), charset="utf-8")
    return msg


def _due(users_items: dict, local, minutes: int) -> dict:
    """Drop people who got a mail less than `minutes` ago: they wait for the next batch."""
    since = local - timedelta(minutes=minutes)
    recent = {m.user_id for m in MailLog.select(MailLog.user).where(
        MailLog.user.in_(list(users_items)) & (MailLog.sent_at > since))}
    return {uid: items for uid, items in users_items.items() if uid not in recent}


def pending_by_user() -> dict:
    out = defaultdict(list)
    for n in Notification.select().where(Notification.mail_state == "pending").order_by(Notification.id):
        out[n.user_id].append(n)
    return out


def send_pending(ctx, config: MailConfig, *, smtp_factory=smtplib.SMTP) -> dict:
    if not config.host:
        return {"enabled": False, "mails": 0, "items": 0}
    local = ctx.clock.local()
    batches = _due(pending_by_user(), local, config.batch_minutes)
    if not batches:
        return {"enabled": True, "mails": 0, "items": 0}
    users = {u.id: u for u in User.select().where(User.id.in_(list(batches)))}
    no_address = [uid for uid in batches if not (users[uid].email and users[uid].active)]
    sent = []
    with smtp_factory(config.host, config.port, timeout=config.timeout) as smtp:
        if config.starttls:
            smtp.starttls(context=ssl.create_default_context())
        if config.username:
            smtp.login(config.username, config.password)
        for uid, items in batches.items():
            if uid in no_address:
                continue
            try:
                smtp.send_message(_digest(config, users[uid], items, ctx.clock.now()))
                sent.append(uid)
            except smtplib.SMTPRecipientsRefused:
                log.warning("relay refused %s; notifications stay in the app", users[uid].email)
                no_address.append(uid)
    with write_transaction():
        for uid in sent:
            ids = [n.id for n in batches[uid]]
            Notification.update(mail_state="sent", mailed_at=local).where(Notification.id.in_(ids)).execute()
            MailLog.create(user=uid, sent_at=local, items=len(ids))
        for uid in no_address:  # nowhere to send: stop retrying these
            Notification.update(mail_state="").where(Notification.id.in_([n.id for n in batches[uid]])).execute()
    return {"enabled": True, "mails": len(sent), "items": sum(len(batches[u]) for u in sent)}
