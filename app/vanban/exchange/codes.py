"""Code lists, identifiers and date formats of edXML (QCVN 102:2016/BTTTT, amended 2022).

Pure functions and constants: no I/O. Code values marked *unconfirmed* in DOMAIN.md are accepted on input
whatever they are; only the values we emit come from these lists.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from enum import IntEnum

try:  # Vietnam has used UTC+7 without DST since 1975; the fixed offset is a safe fallback without tzdata.
    from zoneinfo import ZoneInfo

    VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
except Exception:  # pragma: no cover - only on systems without tzdata
    VN_TZ = timezone(timedelta(hours=7), "ICT")


class EdxmlError(Exception):
    """A package or status message was refused.

    ``code`` is stable for machines (logs, metrics, status 02 reasons), ``reason`` is Vietnamese for the clerk,
    ``detail`` is optional technical text (English, from the parser or signxml).
    """

    def __init__(self, code: str, reason: str, detail: str = ""):
        super().__init__(f"{code}: {reason}" + (f" ({detail})" if detail else ""))
        self.code = code
        self.reason = reason
        self.detail = detail


# --- Status codes (DOMAIN.md §11; unconfirmed beyond integrators' use: unknown codes are kept, never fatal) ---
class StatusCode:
    ARRIVED = "01"
    REFUSED = "02"
    ACCEPTED = "03"
    ASSIGNED = "04"
    IN_PROGRESS = "05"
    COMPLETED = "06"
    RECALL_REQUESTED = "13"
    RECALL_ACCEPTED = "15"
    RECALL_REFUSED = "16"


STATUS_LABELS = {
    StatusCode.ARRIVED: "Đã đến",
    StatusCode.REFUSED: "Từ chối tiếp nhận",
    StatusCode.ACCEPTED: "Đã tiếp nhận (vào sổ)",
    StatusCode.ASSIGNED: "Đã phân công",
    StatusCode.IN_PROGRESS: "Đang xử lý",
    StatusCode.COMPLETED: "Hoàn thành",
    StatusCode.RECALL_REQUESTED: "Đề nghị thu hồi",
    StatusCode.RECALL_ACCEPTED: "Đồng ý thu hồi/cập nhật",
    StatusCode.RECALL_REFUSED: "Từ chối thu hồi/cập nhật",
}


def is_known_status(code: str) -> bool:
    return code in STATUS_LABELS


def status_label(code: str) -> str:
    """Vietnamese label; unknown codes get a neutral label so the UI never breaks on them."""
    return STATUS_LABELS.get(code, f"Trạng thái khác ({code})")


class Priority(IntEnum):
    """edXML OtherInfo/Priority (độ khẩn). Codes unconfirmed: other integers are accepted on input."""

    NORMAL = 0
    URGENT = 1  # Khẩn
    VERY_URGENT = 2  # Thượng khẩn
    FLASH = 3  # Hỏa tốc
    FLASH_TIMED = 4  # Hỏa tốc hẹn giờ: legacy, still received


PRIORITY_LABELS = {
    Priority.NORMAL: "Thường",
    Priority.URGENT: "Khẩn",
    Priority.VERY_URGENT: "Thượng khẩn",
    Priority.FLASH: "Hỏa tốc",
    Priority.FLASH_TIMED: "Hỏa tốc hẹn giờ",
}


class BusinessDocType(IntEnum):
    """TraceHeaderList/Bussiness/BussinessDocType. Unknown values are refused: acting on a revoke or replace
    we do not understand as if it were a new document would be wrong."""

    NEW = 0
    REVOKE = 1
    UPDATE = 2
    REPLACE = 3


# --- Agency identifiers (mã định danh, QĐ 20/2020/QĐ-TTg; QCVN 102 amendment 1:2022) ---
MAX_ORGAN_ID_LENGTH = 35
# New form: groups of A-Z0-9 separated by dots, read left to right, first group a letter A–Y and two digits.
_NEW_ID = re.compile(r"[A-Y][0-9]{2}(?:\.[A-Z0-9]+)*")
# Old 13-char form `XXX.XX.XX.MXX`: level-1 code on the right. The lower groups are digits; requiring that keeps
# the two forms disjoint (a new id such as `H37.02.02.A01` would otherwise look old).
_OLD_ID = re.compile(r"([0-9]{3})\.([0-9]{2})\.([0-9]{2})\.([A-Y][0-9]{2})")


def is_new_organ_id(value: str) -> bool:
    return len(value) <= MAX_ORGAN_ID_LENGTH and _NEW_ID.fullmatch(value) is not None


def is_old_organ_id(value: str) -> bool:
    return _OLD_ID.fullmatch(value) is not None


def is_valid_organ_id(value: str) -> bool:
    return is_new_organ_id(value) or is_old_organ_id(value)


def old_to_new(old: str) -> str:
    """Default conversion `000.01.23.H37` -> `H37.23.01` (levels read right to left, empty trailing levels
    dropped). The hub's directory mapping is authoritative; this is the fallback when it has no entry."""
    m = _OLD_ID.fullmatch(old)
    if m is None:
        raise ValueError(f"not an old-form organ id: {old!r}")
    level4, level3, level2, level1 = m.groups()
    groups = [level1, level2, level3, level4]
    while len(groups) > 1 and set(groups[-1]) == {"0"}:
        groups.pop()
    return ".".join(groups)


def new_to_old(new: str) -> str:
    """Inverse of :func:`old_to_new` for ids of at most four levels whose groups fit the old widths."""
    if not is_new_organ_id(new):
        raise ValueError(f"not a new-form organ id: {new!r}")
    level1, *lower = new.split(".")
    # Old widths: level 2 and 3 take two digits, level 4 three; anything else has no old form.
    widths = [2, 2, 3]
    if len(lower) > 3 or any(not g.isdigit() or len(g) > w for g, w in zip(lower, widths, strict=False)):
        raise ValueError(f"organ id has no old 13-character form: {new!r}")
    lower += [""] * (3 - len(lower))
    level2, level3, level4 = (g.zfill(w) for g, w in zip(lower, widths, strict=True))
    return f"{level4}.{level3}.{level2}.{level1}"


# --- Dates and timestamps ---
DATE_FORMAT = "%Y/%m/%d"  # PromulgationDate, DueDate
TIMESTAMP_FORMAT = "%Y/%m/%d %H:%M:%S"  # what we emit; the axis sends this or dd/MM/yyyy HH:mm:ss
_YMD = re.compile(r"(\d{4})/(\d{1,2})/(\d{1,2})")
_DMY = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
_TIME = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")


def format_date(value: date) -> str:
    return value.strftime(DATE_FORMAT)


def format_timestamp(value: datetime) -> str:
    """Vietnam local time; a naive datetime is taken to be Vietnam time already."""
    if value.tzinfo is not None:
        value = value.astimezone(VN_TZ)
    return value.strftime(TIMESTAMP_FORMAT)


def _slash_date(text: str) -> date | None:
    m = _YMD.fullmatch(text)
    if m:
        return date(int(m[1]), int(m[2]), int(m[3]))
    m = _DMY.fullmatch(text)
    if m:
        return date(int(m[3]), int(m[2]), int(m[1]))
    return None


def parse_date(text: str) -> date:
    """`yyyy/MM/dd`, `dd/MM/yyyy` or ISO `yyyy-MM-dd`; a trailing time part is tolerated and dropped.
    Raises ValueError."""
    text = text.strip()
    day = _slash_date(text.split(" ", 1)[0]) if "/" in text else None
    if day is not None:
        return day
    if "/" in text:
        raise ValueError(f"unrecognised date {text!r}")
    if len(text) > 10:
        return parse_timestamp(text).date()
    return date.fromisoformat(text)


def parse_timestamp(text: str) -> datetime:
    """`yyyy/MM/dd HH:mm:ss`, `dd/MM/yyyy HH:mm:ss` or ISO 8601 -> aware datetime in Asia/Ho_Chi_Minh.
    Values without an offset are Vietnam local time (that is what the axis sends). Raises ValueError."""
    text = text.strip()
    if "/" in text:
        day_part, _, time_part = text.partition(" ")
        day = _slash_date(day_part)
        m = _TIME.fullmatch(time_part.strip()) if time_part.strip() else None
        if day is None or (time_part.strip() and m is None):
            raise ValueError(f"unrecognised timestamp {text!r}")
        hms = (int(m[1]), int(m[2]), int(m[3] or 0)) if m else (0, 0, 0)
        return datetime(day.year, day.month, day.day, *hms, tzinfo=VN_TZ)
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        return value.replace(tzinfo=VN_TZ)
    return value.astimezone(VN_TZ)
