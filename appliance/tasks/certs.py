"""`fab certs` (list) and `fab rotate-certs <serial> --yes`: wrap `vanban pki list` and `vanban pki rotate`.

The key passphrases are typed here and sent on stdin; on the server a short shell script writes them to
mode-0600 files in a private temporary directory for --passphrase-file/--ca-passphrase-file and removes them
when the command ends (the pki CLI takes passphrases from files, environment or a terminal, never argv; an
environment variable would be inlined into the command line by Fabric). The server's HTTPS certificate is not
this: playbooks/site.yml renews it.
"""
from __future__ import annotations

import getpass
import re
import shlex

from fabric import task
from invoke.exceptions import Exit

from .remote import as_app, each, refuse, run, shell, targets, vanban

SERIAL = re.compile(r"^[0-9A-Fa-f:]{1,64}$")

# `read` takes one line at a time from the pipe (head or cat could swallow both); printf is a shell builtin, so
# the passphrases never appear in a process's argv.
SECRETS_TO_FILES = (
    "set -e; umask 077; d=$(mktemp -d); trap 'rm -rf \"$d\"' EXIT INT TERM; "
    "IFS= read -r p1; IFS= read -r p2; printf '%s\\n' \"$p1\" > \"$d/new\"; printf '%s\\n' \"$p2\" > \"$d/ca\"; "
    "unset p1 p2; "
)


def rotate_command(c, serial: str, keep_old: bool, days) -> str:
    argv = vanban(c, "pki", "rotate", serial)
    argv += ["--keep-old"] if keep_old else []
    argv += ["--days", str(int(days))] if days else []
    pki = shlex.join(argv) + ' --passphrase-file "$d/new" --ca-passphrase-file "$d/ca"'
    return as_app(c, shell(SECRETS_TO_FILES + pki))


def ask_passphrases() -> tuple[str, str]:
    new = getpass.getpass("Mật khẩu cho khóa mới: ")
    if not new or getpass.getpass("Nhập lại: ") != new:
        raise Exit("Mật khẩu khóa mới trống hoặc hai lần không khớp: không làm gì.", code=2)
    ca = getpass.getpass("Mật khẩu khóa CA cấp chứng thư: ")
    if not ca:
        raise Exit("Mật khẩu CA trống: không làm gì.", code=2)
    if any(ch in s for s in (new, ca) for ch in "\r\n"):
        raise Exit("Mật khẩu không được chứa xuống dòng.", code=2)
    return new, ca


@task(help={"group": "liệt kê trên mọi máy của nhóm"})
def certs(c, group=None):
    """Liệt kê chứng thư ký số của máy chủ (vanban pki list)."""
    each(c, group, lambda conn: run(conn, as_app(conn, vanban(conn, "pki", "list"))))


@task(help={"serial": "số hiệu chứng thư cần đổi khóa (xem fab certs)",
            "yes": "xác nhận: cấp khóa mới và thu hồi khóa cũ",
            "keep_old": "không thu hồi khóa cũ, để nó tự hết hạn", "days": "hạn của chứng thư mới (ngày)"})
def rotate_certs(c, serial, yes=False, keep_old=False, days=None):
    """Đổi khóa một chứng thư (vanban pki rotate). Cần --yes."""
    if not SERIAL.match(serial or ""):
        raise Exit(f"Số hiệu chứng thư không hợp lệ: {serial!r}", code=2)
    if not yes:
        refuse([f"cấp khóa và chứng thư mới thay cho {serial} (hỏi mật khẩu khóa mới và mật khẩu CA)",
                "giữ chứng thư cũ tới khi hết hạn" if keep_old else "thu hồi chứng thư cũ (superseded), phát hành CRL"])
    targets(c, None)
    new, ca = ask_passphrases()
    def one(conn):
        shown = as_app(conn, vanban(conn, "pki", "rotate", serial)) + " --passphrase-file … --ca-passphrase-file …"
        run(conn, rotate_command(conn, serial, keep_old, days), stdin=f"{new}\n{ca}\n",
            label=f"$ {shown}  (mật khẩu gửi qua stdin vào tệp tạm 0600, xóa ngay sau lệnh)")

    each(c, None, one)
