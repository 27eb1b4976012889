"""`fab backup-now`, `fab backups`, `fab restore <snapshot> --yes`: wrap `vanban backup` and `vanban restore`.

They run as root: the repository passphrase and SSH key are root-only files, and a restore renames the data
directory. The CLI itself (app/vanban/backup_cli.py) restores into a new directory, checks it and swaps it in
only on --yes, keeping the previous data; this task stops the app around the swap and checks it afterwards.
"""
from __future__ import annotations

import re

from fabric import task
from invoke.exceptions import Exit

from .remote import as_app, as_root, each, health_check, refuse, run, settings, systemctl, vanban

SNAPSHOT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:+-]{0,199}$")


@task(help={"group": "sao lưu mọi máy của nhóm, lần lượt"})
def backup_now(c, group=None):
    """Sao lưu ngay (vanban backup now): kho cục bộ và kho ở máy chủ tỉnh."""
    each(c, group, lambda conn: run(conn, as_root(conn, vanban(conn, "backup", "now"))))


@task(help={"group": "liệt kê trên mọi máy của nhóm"})
def backups(c, group=None):
    """Liệt kê các bản sao lưu (vanban backup list)."""
    each(c, group, lambda conn: run(conn, as_root(conn, vanban(conn, "backup", "list"))))


def restore_plan(c, snapshot: str, to: str | None) -> list[str]:
    units = " ".join(settings(c)["units"])
    target = f"thư mục {to}" if to else "một thư mục mới cạnh dữ liệu"
    return [f"dừng {units} trên {c.host}",
            f"khôi phục bản {snapshot} vào {target}, kiểm tra (integrity_check, SHA-256 các tệp)",
            "đổi chỗ: dữ liệu đang dùng được giữ lại (đổi tên), bản khôi phục thay vào",
            "vanban migrate (bản sao lưu có thể có lược đồ cũ hơn phần mềm)",
            f"khởi động lại {units} (kể cả khi khôi phục thất bại: dữ liệu cũ không bị đổi)",
            "kiểm tra sức khỏe ứng dụng"]


@task(help={"snapshot": "tên bản sao lưu (xem fab backups) hoặc latest",
            "yes": "xác nhận: dừng ứng dụng và thay dữ liệu đang dùng",
            "to": "khôi phục vào thư mục này; không có --yes thì chỉ khôi phục và kiểm tra, không thay dữ liệu",
            "repo": "kho: local (mặc định) hoặc hub (bản ở máy chủ tỉnh, khi đĩa máy này hỏng)"})
def restore(c, snapshot, yes=False, to=None, repo=None):
    """Khôi phục một bản sao lưu (vanban restore). Cần --yes để thay dữ liệu đang dùng."""
    if not SNAPSHOT.match(snapshot or ""):
        raise Exit(f"Tên bản sao lưu không hợp lệ: {snapshot!r}", code=2)
    if repo not in (None, "local", "hub"):
        raise Exit("--repo là local hoặc hub.", code=2)
    extra = (["--repo", repo] if repo else []) + (["--to", to] if to else [])

    def one(conn):
        if not yes:
            if to:  # restore-and-check into a new directory changes nothing live
                run(conn, as_root(conn, vanban(conn, "restore", snapshot, *extra)))
                return
            refuse(restore_plan(conn, snapshot, to))
        systemctl(conn, "stop")
        try:
            run(conn, as_root(conn, vanban(conn, "restore", snapshot, *extra, "--yes")))
            run(conn, as_app(conn, vanban(conn, "migrate")))
        finally:
            systemctl(conn, "start")
        health_check(conn)
        print(f"[{conn.host}] Đã khôi phục {snapshot}; dữ liệu trước đó được giữ (xem thông báo ở trên).")

    # One server at a time, by -H only: a restore is never a fleet-wide action.
    each(c, None, one)
