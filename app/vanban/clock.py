"""Injected clocks: deadlines and numbering never read the wall clock directly."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

VN = ZoneInfo("Asia/Ho_Chi_Minh")


class SystemClock:
    def __init__(self, tz=VN):
        self.tz = tz

    def now(self) -> datetime:
        return datetime.now(timezone.utc).astimezone(self.tz)

    def today(self) -> date:
        return self.now().date()

    def local(self) -> datetime:
        """Naive local time, the form date-times are stored in (models/schema.py)."""
        return self.now().replace(tzinfo=None)


class FixedClock(SystemClock):
    """A clock for tests and drills: stands still unless advanced."""

    def __init__(self, at: datetime, tz=VN):
        super().__init__(tz)
        self._at = at if at.tzinfo else at.replace(tzinfo=tz)

    def now(self) -> datetime:
        return self._at.astimezone(self.tz)

    def advance(self, **delta) -> None:
        self._at += timedelta(**delta)

    def set(self, at: datetime) -> None:
        self._at = at if at.tzinfo else at.replace(tzinfo=self.tz)
