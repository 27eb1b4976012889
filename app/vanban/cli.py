"""The `vanban` command line: init, migrate, create-agency, create-user, demo, serve, worker, audit verify|witness,
health, metrics write-textfile; the plug-ins add the rest."""
from __future__ import annotations

import argparse
import getpass
import importlib
import json
import os
import sys
from pathlib import Path

from . import host_metrics
from .errors import DomainError
from .settings import load_settings

# Subsystems that add their own sub-commands through register(subparsers).
PLUGINS = ["vanban.signing.cli", "vanban.backup_cli", "vanban.exchange.cli", "vanban.status_cli", "vanban.enroll"]


def _context(args, **kw):
    from .runtime import build_context

    return build_context(args.settings, **kw)


def _read_password(args) -> str:
    if getattr(args, "password_file", None):
        return Path(args.password_file).read_text(encoding="utf-8").strip()
    if os.environ.get("VANBAN_PASSWORD"):
        return os.environ["VANBAN_PASSWORD"]
    if not sys.stdin.isatty():
        return sys.stdin.readline().strip()
    first = getpass.getpass("Mật khẩu: ")
    if first != getpass.getpass("Nhập lại: "):
        raise DomainError("Hai lần nhập mật khẩu không khớp.", code="password_mismatch")
    return first


def cmd_migrate(args) -> int:
    from .clock import SystemClock
    from .models import init_database, migrations

    args.settings.data_path.mkdir(parents=True, exist_ok=True)
    init_database(args.settings.db_path)
    pending = migrations.applied_versions() ^ {n for n, _ in migrations.MIGRATIONS}
    if pending and migrations.current_version() > 0 and not getattr(args, "no_snapshot", False):
        _snapshot_before_migrating(args.settings)
    applied = migrations.migrate(SystemClock().local())
    print(f"schema at version {migrations.current_version()}" + (f" (applied {applied})" if applied else ""))
    return 0


def _snapshot_before_migrating(settings) -> None:
    """ARCHITECTURE §4: an upgrade takes a snapshot first so it can be rolled back (issue 7 §4)."""
    from .backup import load_backup_config, snapshot_before_upgrade

    config = load_backup_config()
    if not config.repos():
        print("cảnh báo: chưa cấu hình sao lưu (/etc/vanban/backup.toml); nâng cấp không có bản chụp để quay lại",
              file=sys.stderr)
        return
    archive = snapshot_before_upgrade(settings, config, progress=lambda event: None)
    print(f"snapshot before migrating: {archive}")


def cmd_init(args) -> int:
    for sub in ("blobs", "tmp", "pki"):
        (args.settings.data_path / sub).mkdir(parents=True, exist_ok=True)
    os.chmod(args.settings.data_path, 0o750)
    return cmd_migrate(args)


def cmd_create_agency(args) -> int:
    from .core import agencies

    ctx = _context(args)
    if args.if_missing:
        from .models.schema import Agency

        existing = Agency.get_or_none(Agency.code == agencies.validate_agency_code(args.code))
        if existing is not None:
            print(f"agency {existing.code} already present")
            return 0
    a = agencies.create_agency(ctx.clock.now(), None, code=args.code, name=args.name,
                               abbreviation=args.abbreviation, old_code=args.old_code, parent_code=args.parent_code)
    print(f"created agency {a.code} ({a.name})")
    return 0


def cmd_create_user(args) -> int:
    from .core import accounts, agencies
    from .models.schema import Department

    ctx = _context(args)
    agency = agencies.get_agency(args.agency)
    dept = None
    if args.department:
        dept = Department.get_or_none((Department.agency == agency) & (Department.abbreviation == args.department))
        if dept is None:
            raise DomainError(f"Không có phòng ban {args.department} trong {agency.code}.", code="department_invalid")
    user = accounts.create_user(ctx.clock.now(), None, agency, username=args.username, full_name=args.full_name,
                                password=_read_password(args), roles=args.roles, department=dept,
                                position=args.position or "")
    print(f"created user {user.username} ({user.roles}) in {agency.code}")
    return 0


def cmd_reset_password(args) -> int:
    from .core import accounts
    from .models.schema import User

    ctx = _context(args)
    user = User.get_or_none(User.username == args.username)
    if user is None:
        raise DomainError(f"Không có người dùng {args.username}.", code="user_not_found")
    accounts.set_password(ctx.clock.now(), None, user, _read_password(args))
    print(f"password of {user.username} changed; their sessions were closed")
    return 0


def cmd_demo(args) -> int:
    from .demo import seed
    from .models.schema import Agency

    cmd_init(args)
    settings = args.settings.replace(jobs_immediate=True, antivirus_required=False)
    args.settings = settings
    ctx = _context(args)
    logins_file = settings.data_path / "demo-logins.json"
    if args.if_empty and Agency.select().exists():
        print("demo data already present")
    else:
        print(f"seeding the demo province with {args.documents} documents ...")
        logins = seed(ctx, documents=args.documents)
        logins_file.write_text(json.dumps(logins, ensure_ascii=False, indent=1), encoding="utf-8")
        os.chmod(logins_file, 0o600)
    if logins_file.exists():
        logins = json.loads(logins_file.read_text(encoding="utf-8"))
        print("demo logins (user: password):")
        for user, password in logins.items():
            print(f"  {user:22} {password}")
    return 0


def cmd_serve(args) -> int:
    """Development server: gunicorn with the production worker model, on loopback, plain HTTP."""
    from gunicorn.app.base import BaseApplication

    from .antivirus import make_scanner

    settings = args.settings.replace(cookie_secure=False, jobs_immediate=True)
    if not make_scanner(settings).ping():
        print(f"clamd not reachable at {settings.clamd_socket!r}: scanning disabled for this development server")
        settings = settings.replace(clamd_socket="", antivirus_required=False)

    class Dev(BaseApplication):
        def load_config(self):
            self.cfg.set("bind", f"{args.host}:{args.port}")
            self.cfg.set("workers", 1)
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("threads", settings.threads)

        def load(self):
            from .web.app import create_app

            return create_app(settings)

    print(f"serving on http://{args.host}:{args.port}/")
    Dev().run()
    return 0


def cmd_worker(args) -> int:
    from huey.consumer import Consumer

    from .memory import tune_malloc

    tune_malloc()
    ctx = _context(args)
    Consumer(ctx.jobs.huey, workers=1, worker_type="thread").run()
    return 0


def cmd_audit_verify(args) -> int:
    """0 intact, 1 tampered (the chain, a hub receipt, or with --hub the hub's record), 3 the hub not reached."""
    from .core import audit
    from .exchange import witness_node
    from .exchange.config import load_config
    from .models import database

    _context(args, readonly=True)
    config = load_config(args.settings.data_path)
    found = witness_node.check_receipts(config)
    found.problems[:0] = audit.verify()
    hub_error = None
    if args.hub:
        from .exchange.transport import HubClient, TransportError

        try:
            witness_node.check_hub(config, HubClient.from_config(config), found)
        except TransportError as exc:
            hub_error = exc
    count = database.execute_sql("SELECT count(*) FROM audit_entry").fetchone()[0]
    for p in found.problems:
        print(f"TAMPERED: {p}")
    for note in found.notes:
        print(note)
    if hub_error is not None:
        print(f"lỗi: không hỏi được hub: {hub_error.message} [{hub_error.code}]", file=sys.stderr)
    if found.problems:
        return 1
    if hub_error is not None:
        return 3
    print(f"audit log intact: {count} entries")
    return 0


def cmd_audit_witness(args) -> int:
    """Have the hub witness the audit-log head now (the hourly job's work); exit 3 when the hub cannot be
    reached or refuses it (a conflict: the message says which)."""
    from .exchange.node import config_of
    from .exchange.transport import HubClient, TransportError
    from .exchange.witness_node import witness

    ctx = _context(args)
    try:
        out = witness(ctx, HubClient.from_config(config_of(ctx)))
    except TransportError as exc:
        print(f"lỗi: {exc.message} [{exc.code}]", file=sys.stderr)
        return 3
    print(json.dumps(out, ensure_ascii=False))
    return 0


def cmd_health(args) -> int:
    from .models import database, migrations

    _context(args, readonly=True)
    result = database.execute_sql("PRAGMA quick_check").fetchone()[0]
    print(json.dumps({"schema": migrations.current_version(), "quick_check": result}))
    return 0 if result == "ok" else 1


# Commands that need none of the plug-ins' sub-commands: not importing those (PKI, backups, status, enrolment)
# keeps several MB of modules out of the job worker's memory for as long as it runs, and most of the start-up
# time off the hourly textfile metrics on an old server.
WITHOUT_PLUGINS = {"worker", "metrics"}


def _global_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="TOML settings file (default: $VANBAN_CONFIG)")
    p.add_argument("--data", help="data directory (overrides the data_dir setting)")


def _command_of(argv) -> str | None:
    pre = argparse.ArgumentParser(add_help=False)
    _global_options(pre)
    pre.add_argument("command", nargs="?")
    known, _ = pre.parse_known_args(argv)
    return known.command


def build_parser(plugins: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vanban", description="Quản lý văn bản và điều hành")
    _global_options(p)
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("init", help="create the data directory and the schema").set_defaults(func=cmd_init)
    m = sub.add_parser("migrate", help="apply pending schema migrations (after a pre-upgrade snapshot)")
    m.add_argument("--no-snapshot", action="store_true", help="skip the pre-upgrade backup (not recommended)")
    m.set_defaults(func=cmd_migrate)
    a = sub.add_parser("create-agency", help="add an agency hosted on this server")
    a.add_argument("--code", required=True)
    a.add_argument("--name", required=True)
    a.add_argument("--abbreviation", required=True)
    a.add_argument("--old-code")
    a.add_argument("--parent-code")
    a.add_argument("--if-missing", action="store_true", help="succeed without change when the code exists")
    a.set_defaults(func=cmd_create_agency)
    u = sub.add_parser("create-user", help="add a user (password from --password-file, $VANBAN_PASSWORD or stdin)")
    u.add_argument("--agency", required=True)
    u.add_argument("--username", required=True)
    u.add_argument("--full-name", required=True)
    u.add_argument("--roles", required=True, help="comma separated: admin,clerk,leader,unit_head,specialist")
    u.add_argument("--department", help="department abbreviation")
    u.add_argument("--position")
    u.add_argument("--password-file")
    u.set_defaults(func=cmd_create_user)
    r = sub.add_parser("reset-password", help="set a new password and close the user's sessions")
    r.add_argument("username")
    r.add_argument("--password-file")
    r.set_defaults(func=cmd_reset_password)
    d = sub.add_parser("demo", help="seed the demo province")
    d.add_argument("--if-empty", action="store_true", help="do nothing when agencies exist already")
    d.add_argument("--documents", type=int, default=300)
    d.set_defaults(func=cmd_demo)
    s = sub.add_parser("serve", help="development server")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8080)
    s.set_defaults(func=cmd_serve)
    sub.add_parser("worker", help="run the background job consumer").set_defaults(func=cmd_worker)
    au = sub.add_parser("audit", help="audit log")
    au_sub = au.add_subparsers(dest="audit_command", required=True)
    av = au_sub.add_parser("verify", help="check the hash chain and the hub's receipts (exit 1 tampered)")
    av.add_argument("--hub", action="store_true",
                    help="also ask the hub what it witnessed for this server (exit 3 when it cannot be reached)")
    av.set_defaults(func=cmd_audit_verify)
    au_sub.add_parser("witness", help="have the hub countersign the audit-log head now (hourly job)"
                      ).set_defaults(func=cmd_audit_witness)
    sub.add_parser("health", help="quick database check").set_defaults(func=cmd_health)
    host_metrics.register(sub)
    for name in PLUGINS if plugins else ():
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        if hasattr(module, "register"):
            module.register(sub)
    return p


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(plugins=_command_of(argv) not in WITHOUT_PLUGINS)
    args = parser.parse_args(argv)
    try:
        args.settings = load_settings(args.config, data_dir=args.data)
        args.data = str(args.settings.data_path)
        return args.func(args)
    except DomainError as exc:
        print(f"lỗi: {exc.message} [{exc.code}]", file=sys.stderr)
        return 2
    except (ValueError, OSError) as exc:
        print(f"lỗi: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
