"""`fab logs`: the journal of the vanban units (or others) on the server."""
from __future__ import annotations

from fabric import task
from invoke.exceptions import Exit

from .remote import as_root, check_units, each, run

# Every vanban unit: web, worker and the backup and drill services the timers start.
DEFAULT_UNITS = ["vanban-*"]


def journal_command(c, since: str, units: list[str], lines: int, follow: bool) -> str:
    argv = ["journalctl", "--no-pager", "-o", "short-iso", "--since", since]
    for unit in check_units(units):
        argv += ["-u", unit]
    argv += ["-f"] if follow else ["-n", str(int(lines))]
    return as_root(c, argv)


@task(iterable=["unit"], help={
    "since": 'từ lúc nào, theo cú pháp journalctl: "1 hour ago", "today", "2026-03-10 08:00"',
    "unit": "dịch vụ (lặp lại được; mặc định mọi vanban-*), ví dụ --unit nginx --unit clamav-daemon",
    "lines": "số dòng cuối tối đa", "follow": "theo dõi liên tục (Ctrl-C để dừng; chỉ một máy)",
    "group": "chạy trên mọi máy của nhóm"})
def logs(c, since="1 hour ago", unit=None, lines=200, follow=False, group=None):
    """Nhật ký (journalctl) của các dịch vụ vanban."""
    if follow and group:
        raise Exit("--follow chỉ dùng cho một máy.", code=2)
    units = unit or DEFAULT_UNITS
    each(c, group, lambda conn: run(conn, journal_command(conn, since, units, lines, follow)))
