"""What every task shares: where `vanban` lives on the server, as whom it runs, and on which hosts.

Privileges (decided once, here):
- Commands that read or write the app's data (status, create-user, reset-password, migrate, pki) run as the
  service user `vanban`. Run as root, SQLite would leave root-owned -wal/-shm files and PKI files behind that
  the service can no longer open.
- Commands that need more than the service user may do run as root: backups and restores (the repository
  passphrase and SSH key are root-only files, a restore renames the data directory), systemctl and journalctl.
- The admin logs in with their own account and uses `sudo -n` (the base role gives admins password-less sudo;
  `-n` makes a misconfigured sudo fail at once instead of waiting for a password nobody can type). Logged in
  as root (test hosts, a first boot), no sudo is used and `runuser` switches to the service user.
"""
from __future__ import annotations

import io
import os
import re
import shlex
import tomllib
from pathlib import Path

from fabric import Connection
from invoke.exceptions import Exit, UnexpectedExit
from paramiko.ssh_exception import SSHException

# Layout made by playbooks/roles/vanban: releases are virtualenvs under /opt/vanban/releases/<version>,
# `current` and `previous` are symlinks, configuration in /etc/vanban. Override in fabric.yaml under `vanban:`.
DEFAULTS = {
    "root": "/opt/vanban",
    "bin": "/opt/vanban/current/bin/vanban",
    "config": "/etc/vanban/vanban.toml",
    "app_user": "vanban",
    "units": ["vanban-web", "vanban-worker"],
    # nginx in front of gunicorn; the role's own health check uses the same URL.
    "health_url": "https://127.0.0.1/healthz",
    "health_wait": 40,
    # Groups of servers for --group; also $VANBAN_FAB_HOSTS.
    "hosts_file": "~/.config/vanban/hosts.toml",
}

UNIT_PATTERN = re.compile(r"^[A-Za-z0-9@._*:-]+$")


def settings(c) -> dict:
    """DEFAULTS overlaid with the `vanban` section of the Fabric configuration (fabric.yaml, -f file)."""
    merged = dict(DEFAULTS)
    try:
        merged.update(dict(c.config.get("vanban") or {}))
    except AttributeError:
        pass
    if os.environ.get("VANBAN_FAB_HOSTS"):
        merged["hosts_file"] = os.environ["VANBAN_FAB_HOSTS"]
    return merged


def is_root(c) -> bool:
    return getattr(c, "user", None) == "root"


def as_root(c, argv: list[str]) -> str:
    return shlex.join(([] if is_root(c) else ["sudo", "-n"]) + list(argv))


def as_app(c, argv: list[str]) -> str:
    user = settings(c)["app_user"]
    prefix = ["runuser", "-u", user, "--"] if is_root(c) else ["sudo", "-n", "-u", user, "--"]
    return shlex.join(prefix + list(argv))


def vanban(c, *args: str, binary: str | None = None) -> list[str]:
    """argv of the server's `vanban` CLI (the configuration file is named, sudo resets the environment)."""
    cfg = settings(c)
    return [binary or cfg["bin"], "--config", cfg["config"], *args]


def shell(script: str) -> list[str]:
    return ["sh", "-c", script]


def say(c, text: str) -> None:
    print(f"[{c.host}] {text}", flush=True)


def run(c, command: str, *, stdin: str | None = None, warn: bool = False, hide=None, label: str | None = None):
    """Run one command, saying first what it is (or `label` for a long script). Secrets only ever travel in
    `stdin`, never in `command`. Without stdin the local terminal is not forwarded (in_stream=False)."""
    say(c, label or f"$ {command}")
    stream = io.StringIO(stdin) if stdin is not None else False
    return c.run(command, in_stream=stream, warn=warn, hide=hide, pty=False)


def refuse(plan: list[str], flag: str = "--yes") -> None:
    """Print what a destructive task would do, then stop without touching anything."""
    print("Việc này sẽ:")
    for i, step in enumerate(plan, 1):
        print(f"  {i}. {step}")
    raise Exit(f"Chưa làm gì. Chạy lại với {flag} để thực hiện.", code=1)


# ---------------------------------------------------------------- hosts and groups

def load_groups(path: str | os.PathLike) -> dict[str, list[str]]:
    """Groups from a TOML file: `name = ["user@host", ...]`; `all` is every host when not defined."""
    file = Path(path).expanduser()
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise Exit(f"Không có tệp nhóm máy chủ {file} (xem appliance/hosts.example.toml).", code=2) from None
    except tomllib.TOMLDecodeError as exc:
        raise Exit(f"Tệp nhóm máy chủ {file} sai cú pháp TOML: {exc}", code=2) from None
    groups = {}
    for name, hosts in data.items():
        if not isinstance(hosts, list) or not hosts or not all(isinstance(h, str) and h for h in hosts):
            raise Exit(f"{file}: nhóm {name} phải là danh sách máy chủ, ví dụ [\"quantri@10.31.0.10\"].", code=2)
        groups[name] = hosts
    if "all" not in groups:
        groups["all"] = list(dict.fromkeys(h for hosts in groups.values() for h in hosts))
    return groups


def targets(c, group: str | None) -> list:
    """The connections a task runs on: the one `fab -H` gave, or every host of --group."""
    connected = isinstance(c, Connection)
    if group and connected:
        raise Exit("Dùng -H hoặc --group, không dùng cả hai.", code=2)
    if group:
        groups = load_groups(settings(c)["hosts_file"])
        if group not in groups:
            raise Exit(f"Không có nhóm {group}; các nhóm: {', '.join(sorted(groups))}.", code=2)
        return [Connection(host, config=c.config) for host in groups[group]]
    if not connected:
        raise Exit("Cần chỉ rõ máy chủ: fab -H quantri@may-chu <việc> (hoặc --group <nhóm>).", code=2)
    return [c]


def each(c, group, action, *, stop_on_failure=False) -> None:
    """Run action(conn) on every target; report all failures at the end (or stop at the first one)."""
    conns = targets(c, group)
    failed = []
    for conn in conns:
        if len(conns) > 1:
            print(f"\n===== {conn.host} =====", flush=True)
        try:
            action(conn)
        except (UnexpectedExit, Exit, OSError, SSHException) as exc:  # one unreachable host must not hide the rest
            failed.append(conn.host)
            if len(conns) == 1:
                raise
            print(f"[{conn.host}] THẤT BẠI: {_reason(exc)}", flush=True)
            if stop_on_failure:
                break
    if failed:
        raise Exit(f"Thất bại trên {len(failed)}/{len(conns)} máy: {', '.join(failed)}", code=1)


def _reason(exc) -> str:
    if isinstance(exc, UnexpectedExit):
        return f"lệnh trả mã {exc.result.exited}"
    if isinstance(exc, Exit):
        return exc.message or f"mã {exc.code}"
    return str(exc)


def check_units(units) -> list[str]:
    bad = [u for u in units if not UNIT_PATTERN.match(u)]
    if bad:
        raise Exit(f"Tên dịch vụ không hợp lệ: {', '.join(bad)}", code=2)
    return list(units)


# ---------------------------------------------------------------- services

# Polls the health endpoint with the system python3 (always there; curl may not be). Certificate trust is
# checked by the playbook tests from outside; here the question is only whether the app answers.
HEALTH_PY = """\
import json, ssl, sys, time, urllib.request
url, wait = sys.argv[1], float(sys.argv[2])
ctx, end, last = ssl._create_unverified_context(), time.time() + wait, ""
while True:
    try:
        with urllib.request.urlopen(url, timeout=3, context=ctx) as r:
            body = json.load(r)
        if body.get("status") == "ok":
            print(json.dumps(body)); sys.exit(0)
        last = json.dumps(body)
    except Exception as exc:
        last = str(exc)
    if time.time() > end:
        print("health check failed: " + last); sys.exit(1)
    time.sleep(1)
"""


def systemctl(c, verb: str, units=None) -> None:
    run(c, as_root(c, ["systemctl", verb, *(units or settings(c)["units"])]))


def health_check(c) -> None:
    """The web answers {"status": "ok"} through nginx and every unit is active; raises on failure."""
    cfg = settings(c)
    run(c, shlex.join(["python3", "-c", HEALTH_PY, cfg["health_url"], str(cfg["health_wait"])]),
        label=f"kiểm tra {cfg['health_url']} (chờ tối đa {cfg['health_wait']} giây)")
    run(c, shlex.join(["systemctl", "is-active", *cfg["units"]]))
