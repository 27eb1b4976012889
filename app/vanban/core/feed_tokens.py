"""Secret subscription addresses for iCalendar feeds: calendar programs cannot log in, so each user gets a URL
carrying an HMAC of their id. The key is a random server secret in the data directory (created 0600 on first
use, never in the repository or a log); the token also covers the user's password hash, so changing the
password revokes every address given out before."""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from ..models.schema import User


def _secret(data_dir: Path) -> bytes:
    path = Path(data_dir) / "secret.key"
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    value = secrets.token_bytes(32)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(value)
        fh.flush()
        os.fsync(fh.fileno())
    try:
        os.link(tmp, path)  # first writer wins when two workers race
    except FileExistsError:
        pass
    tmp.unlink(missing_ok=True)
    return path.read_bytes()


def token_for(data_dir, user: User, scope: str) -> str:
    msg = f"ical:{user.id}:{scope}:{user.password_hash}".encode()
    return hmac.new(_secret(data_dir), msg, hashlib.sha256).hexdigest()[:40]


def user_for(data_dir, user_id, scope: str, token: str) -> User | None:
    try:
        user = User.get_or_none((User.id == int(user_id)) & (User.active == True))  # noqa: E712
    except (TypeError, ValueError):
        return None
    if user is None or not hmac.compare_digest(token_for(data_dir, user, scope), str(token)):
        return None
    return user
