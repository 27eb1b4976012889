"""Registers' running numbers."""
from __future__ import annotations

from ..models.schema import Counter


def next_number(register_id: int, year: int, sequence: str = "") -> int:
    """The next number of a register's sequence for a year.

    NĐ 30/2020 Điều 15 and 22: numbers start at 01 on 1 January; a new year is simply a new counter row.
    Must run inside a BEGIN IMMEDIATE transaction: the write lock taken before this read is what keeps two
    clerks from getting the same number, and the rollback of a failed registration gives the number back, so
    numbers never skip."""
    counter, _ = Counter.get_or_create(register=register_id, year=year, sequence=sequence,
                                       defaults={"last": 0})
    number = counter.last + 1
    Counter.update(last=number).where(Counter.id == counter.id).execute()
    return number
