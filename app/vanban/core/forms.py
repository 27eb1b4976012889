"""Parsing of user-typed values shared by forms and the API: each failure names the field in Vietnamese."""
from __future__ import annotations

import re
from datetime import date, datetime

from ..errors import Invalid


def text(data, name, label, *, required=True, max_len=500) -> str:
    import unicodedata

    value = unicodedata.normalize("NFC", str(data.get(name) or "")).strip()
    if required and not value:
        raise Invalid(f"Thiếu {label}.", code=f"missing:{name}", field=name)
    if len(value) > max_len:
        raise Invalid(f"{label} dài quá {max_len} ký tự.", code=f"too_long:{name}", field=name)
    return value


def parse_date(data, name, label, *, required=True) -> date | None:
    raw = str(data.get(name) or "").strip()
    if not raw:
        if required:
            raise Invalid(f"Thiếu {label}.", code=f"missing:{name}", field=name)
        return None
    for fmt in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return datetime.strptime(raw, fmt).date()
        except ValueError:
            continue
    raise Invalid(f"{label} không phải ngày hợp lệ: {raw[:20]!r} (dạng dd/mm/yyyy).", code=f"bad_date:{name}",
                  field=name)


def choice(data, name, label, choices, *, default=None, cast=str):
    raw = data.get(name)
    if raw in (None, ""):
        if default is not None:
            return default
        raise Invalid(f"Thiếu {label}.", code=f"missing:{name}", field=name)
    try:
        value = cast(raw)
    except (TypeError, ValueError):
        value = None
    if value not in choices:
        raise Invalid(f"{label} không hợp lệ: {str(raw)[:30]!r}.", code=f"invalid:{name}", field=name)
    return value


def integer(data, name, label, *, required=True) -> int | None:
    raw = data.get(name)
    if raw in (None, ""):
        if required:
            raise Invalid(f"Thiếu {label}.", code=f"missing:{name}", field=name)
        return None
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise Invalid(f"{label} phải là số.", code=f"invalid:{name}", field=name) from None


def flag(data, name) -> bool:
    return str(data.get(name) or "").strip().lower() in ("1", "true", "on", "yes")


_NUMBER_NOTATION = re.compile(r"^(\d{1,11})/(\S{1,30})$")
_NOTATION_EXTRA = set("-.&")


def number_notation(data, name="number_notation", label="Số, ký hiệu") -> tuple[str, str]:
    """`125/UBND-VX` → ("125", "UBND-VX"). NĐ 30/2020 Điều 15: `/` between number and notation, `-` between
    groups, no spaces."""
    raw = text(data, name, label, max_len=42)
    match = _NUMBER_NOTATION.match(raw)
    notation = match.group(2) if match else ""
    if not match or not all(c.isalnum() or c in _NOTATION_EXTRA for c in notation):
        raise Invalid(f"{label} phải có dạng 125/UBND-VX: số, dấu /, ký hiệu không có dấu cách.",
                      code=f"invalid:{name}", field=name)
    number = match.group(1)
    return (number.zfill(2) if len(number) < 2 else number), notation
