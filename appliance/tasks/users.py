"""`fab create-user`, `fab reset-password`: passwords are typed here and sent on the command's stdin.

Never on a command line (it would be visible in `ps` on the server, in shell history and in Fabric's echo)
and never in an environment variable (Fabric inlines those into the command string). The server's CLI reads
one line from stdin when stdin is not a terminal (cli._read_password).
"""
from __future__ import annotations

import getpass
import re

from fabric import task
from invoke.exceptions import Exit

from .remote import as_app, each, run, targets, vanban

ROLES = {"admin", "clerk", "leader", "unit_head", "specialist"}
# The server checks these again (core/accounts.py); checking here saves typing a password for nothing.
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")
MIN_PASSWORD = 8


def check_username(username: str) -> str:
    username = (username or "").strip().lower()
    if not USERNAME.match(username):
        raise Exit("Tên đăng nhập 3–64 ký tự: chữ thường không dấu, số, dấu chấm, gạch.", code=2)
    return username


def ask_password(username: str) -> str:
    """Typed twice, locally; refused when empty or different (nothing is sent then)."""
    first = getpass.getpass(f"Mật khẩu mới cho {username}: ")
    if len(first) < MIN_PASSWORD:
        raise Exit(f"Mật khẩu phải có ít nhất {MIN_PASSWORD} ký tự: không làm gì.", code=2)
    if "\n" in first or "\r" in first:
        raise Exit("Mật khẩu không được chứa xuống dòng.", code=2)
    if getpass.getpass("Nhập lại: ") != first:
        raise Exit("Hai lần nhập mật khẩu không khớp: không làm gì.", code=2)
    return first


@task(help={"agency": "mã cơ quan, ví dụ H19.42", "username": "tên đăng nhập", "full_name": "họ và tên",
            "roles": "vai trò, cách nhau dấu phẩy: admin,clerk,leader,unit_head,specialist",
            "department": "viết tắt phòng ban", "position": "chức vụ"})
def create_user(c, agency, username, full_name, roles, department=None, position=None):
    """Tạo người dùng (vanban create-user); mật khẩu nhập ở máy quản trị, gửi qua stdin."""
    targets(c, None)  # a missing -H is reported before anyone types a password
    username = check_username(username)
    unknown = {r.strip() for r in roles.split(",")} - ROLES
    if unknown:
        raise Exit(f"Vai trò không có: {', '.join(sorted(unknown))} (có: {', '.join(sorted(ROLES))}).", code=2)
    argv = ["create-user", "--agency", agency, "--username", username, "--full-name", full_name, "--roles", roles]
    argv += ["--department", department] if department else []
    argv += ["--position", position] if position else []
    password = ask_password(username)
    each(c, None, lambda conn: run(conn, as_app(conn, vanban(conn, *argv)), stdin=password + "\n"))


@task(help={"username": "tên đăng nhập"})
def reset_password(c, username):
    """Đặt mật khẩu mới và đóng mọi phiên của người dùng (vanban reset-password)."""
    targets(c, None)
    username = check_username(username)
    password = ask_password(username)
    each(c, None, lambda conn: run(conn, as_app(conn, vanban(conn, "reset-password", username)),
                                   stdin=password + "\n"))
