"""`fab upgrade --yes`: migrate and restart one server (or a group, one by one), with a health check.

Uses the release layout of playbooks/roles/vanban: virtualenvs in /opt/vanban/releases/<version>, `current`
and `previous` symlinks. Three ways to call it:
- `fab upgrade --yes`: the installed release (`current`) migrates the schema and the units restart — what a
  local admin needs after the IT centre staged files by hand or after a restore.
- `fab upgrade --release 0.2.0 --yes`: switch to a release already unpacked on the server.
- `fab upgrade --wheel dist/vanban-0.2.0-py3-none-any.whl --yes`: upload the wheel and install it offline
  from the wheelhouse(s) the playbook left on the server (a new dependency needs the playbook).
Province-wide rollouts with automatic database rollback are playbooks/upgrade.yml's job; this task rolls the
code back by itself only when the migration changed nothing, and otherwise says how to restore the snapshot.
"""
from __future__ import annotations

import re
import shlex
from pathlib import Path

from fabric import task
from invoke.exceptions import Exit, UnexpectedExit

from .remote import as_app, as_root, each, health_check, refuse, run, say, settings, shell, systemctl, vanban

VERSION = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.+_]{0,63}$")


def wheel_version(path: str) -> str:
    """Version from a wheel's file name (vanban-<version>-<tags>.whl), the release directory's name."""
    name = Path(path).name
    parts = name.split("-")
    if not name.endswith(".whl") or len(parts) < 3 or parts[0] != "vanban" or not VERSION.match(parts[1]):
        raise Exit(f"Không phải wheel của vanban: {name}", code=2)
    return parts[1]


def upgrade_plan(c, release, wheel, skip_backup) -> list[str]:
    units = " ".join(settings(c)["units"])
    if wheel:
        what = f"cài {Path(wheel).name} vào releases/{wheel_version(wheel)} (không cần mạng)"
    elif release:
        what = f"dùng bản releases/{release} đã có trên máy"
    else:
        what = "giữ bản đang chạy (current)"
    steps = [what]
    if not skip_backup:
        steps.append("sao lưu trước (vanban backup now --label pre-upgrade, không bị dọn theo lịch)")
    return steps + [f"dừng {units}", "vanban migrate bằng bản mới",
                    "chuyển current sang bản mới, giữ bản cũ làm previous",
                    f"khởi động {units} và kiểm tra sức khỏe",
                    "nếu hỏng mà lược đồ CSDL chưa đổi: tự quay lại bản cũ; nếu đã đổi: hướng dẫn khôi phục"]


def install_wheel(c, wheel: str) -> str:
    """Upload the wheel and install it into releases/<version>; returns that directory."""
    cfg = settings(c)
    version, name = wheel_version(wheel), Path(wheel).name
    release_dir = f"{cfg['root']}/releases/{version}"
    scratch = run(c, "mktemp -d", hide=True).stdout.strip()
    say(c, f"tải {name} lên {scratch}/")
    c.put(wheel, remote=f"{scratch}/{name}")
    dist = f"{cfg['root']}/dist/{name}"
    script = "\n".join([
        "set -e",
        f"install -D -m 0644 {shlex.quote(f'{scratch}/{name}')} {shlex.quote(dist)}",
        f"test -x {shlex.quote(release_dir)}/bin/python || python3 -m venv {shlex.quote(release_dir)}",
        # Offline: every wheelhouse the playbook unpacked (the server never talks to PyPI).
        "links=''",
        f"for w in {shlex.quote(cfg['root'])}/wheelhouse/*/; do links=\"$links --find-links $w\"; done",
        f"{shlex.quote(release_dir)}/bin/pip install -q --no-index --no-cache-dir $links {shlex.quote(dist)}",
        f"{shlex.quote(release_dir)}/bin/pip install -q --no-index --no-cache-dir --no-deps --force-reinstall "
        f"{shlex.quote(dist)}",
    ])
    try:
        run(c, as_root(c, shell(script)), label=f"cài {name} vào {release_dir}")
    finally:
        run(c, shlex.join(["rm", "-rf", scratch]), hide=True)
    return release_dir


def resolve_target(c, current: str, release, wheel) -> str:
    cfg = settings(c)
    if wheel:
        return install_wheel(c, wheel)
    if release:
        release_dir = f"{cfg['root']}/releases/{release}"
        if run(c, shlex.join(["test", "-x", f"{release_dir}/bin/vanban"]), warn=True).exited != 0:
            raise Exit(f"[{c.host}] Không có bản {release_dir} trên máy.", code=1)
        return release_dir
    return current


def switch(c, new: str, old: str) -> None:
    """`current` -> new atomically (rename over the old link); `previous` -> old, for rollback."""
    root = settings(c)["root"]
    script = (f"ln -sfn {shlex.quote(old)} {root}/previous && ln -sfn {shlex.quote(new)} {root}/current.new "
              f"&& mv -T {root}/current.new {root}/current")
    run(c, as_root(c, shell(script)))


def upgrade_one(c, release, wheel, skip_backup) -> None:
    cfg = settings(c)
    current = run(c, shlex.join(["readlink", "-f", f"{cfg['root']}/current"]), hide=True).stdout.strip()
    if not current:
        raise Exit(f"[{c.host}] Không thấy {cfg['root']}/current: máy chưa được cài bằng playbook.", code=1)
    target = resolve_target(c, current, release, wheel)
    if not skip_backup:
        run(c, as_root(c, vanban(c, "backup", "now", "--label", "pre-upgrade")))
    systemctl(c, "stop")
    migrated = run(c, as_app(c, vanban(c, "migrate", binary=f"{target}/bin/vanban")), warn=True)
    if migrated.exited != 0:
        systemctl(c, "start")
        raise Exit(f"[{c.host}] vanban migrate thất bại; ứng dụng chạy lại bản cũ. Nếu nó không lên được, khôi "
                   "phục bản sao lưu pre-upgrade vừa tạo: fab restore <bản> --yes (xem fab backups).", code=1)
    schema_changed = "applied" in migrated.stdout
    switched = target != current
    if switched:
        switch(c, target, current)
    try:
        systemctl(c, "start")
        health_check(c)
    except (UnexpectedExit, Exit):
        if switched and not schema_changed:
            say(c, "không khỏe sau nâng cấp, lược đồ chưa đổi: quay lại bản cũ")
            switch(c, current, target)
            systemctl(c, "restart")
            health_check(c)
            raise Exit(f"[{c.host}] Bản mới không khỏe; đã quay lại {current}.", code=1) from None
        raise Exit(f"[{c.host}] Không khỏe sau nâng cấp và lược đồ CSDL đã đổi. Khôi phục bản sao lưu trước "
                   f"nâng cấp (fab restore <bản> --yes) rồi fab upgrade --release {Path(current).name} --yes.",
                   code=1) from None
    say(c, f"đã nâng cấp: {Path(current).name} -> {Path(target).name}; {migrated.stdout.strip()}")


@task(help={"yes": "xác nhận: dừng ứng dụng, nâng cấp lược đồ CSDL, khởi động lại",
            "release": "phiên bản đã có trong /opt/vanban/releases/ trên máy chủ",
            "wheel": "tệp wheel vanban-<phiên bản>-py3-none-any.whl trên máy quản trị, để tải lên và cài",
            "skip_backup": "không sao lưu trước (chỉ khi chưa cấu hình sao lưu)",
            "group": "nâng cấp lần lượt mọi máy của nhóm, dừng ở máy lỗi đầu tiên"})
def upgrade(c, yes=False, release=None, wheel=None, skip_backup=False, group=None):
    """Nâng cấp: sao lưu, vanban migrate, khởi động lại và kiểm tra sức khỏe. Cần --yes."""
    if release and wheel:
        raise Exit("Chọn --release hoặc --wheel, không cả hai.", code=2)
    if release and not VERSION.match(release):
        raise Exit(f"Phiên bản không hợp lệ: {release!r}", code=2)
    if wheel and not Path(wheel).is_file():
        raise Exit(f"Không có tệp {wheel}", code=2)
    if not yes:
        refuse(upgrade_plan(c, release, wheel, skip_backup))
    each(c, group, lambda conn: upgrade_one(conn, release, wheel, skip_backup), stop_on_failure=True)
