"""`fab status`: one screen per server (services, versions, disk, last backup, outbox, antivirus)."""
from __future__ import annotations

from fabric import task
from invoke.exceptions import Exit

from .remote import as_app, each, run, vanban


@task(help={"json": "in JSON của `vanban status --json`", "group": "chạy trên mọi máy của nhóm (tệp hosts.toml)",
            "strict": "thoát với mã 1 khi có việc cần xử lý (cho cron, kịch bản)"})
def status(c, json=False, group=None, strict=False):
    """Tình trạng máy chủ trên một màn hình (gọi `vanban status` trên máy chủ).

    A server that needs attention is not a failure of this task unless --strict: with `fab -H a,b` Fabric
    stops at the first failing host, and the admin asked to see them all."""
    attention = []

    def one(conn):
        result = run(conn, as_app(conn, vanban(conn, "status", *(["--json"] if json else []))), warn=True)
        # `vanban status` exits 1 when something needs attention, 2 on an error of its own.
        if result.exited == 1:
            attention.append(conn.host)
        elif result.exited != 0:
            raise Exit(f"[{conn.host}] vanban status lỗi (mã {result.exited}).", code=result.exited)

    each(c, group, one)
    if attention:
        print(f"Cần xử lý trên: {', '.join(attention)}", flush=True)
        if strict:
            raise Exit(code=1)
