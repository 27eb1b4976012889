"""`vanban backup init|now|list|verify|drill` and `vanban restore` (plug-in for vanban.cli.PLUGINS)."""
from __future__ import annotations

import json
import sys
import time

from . import backup


def _size(n) -> str:
    n = float(n or 0)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return ""


class Progress:
    """Shows long operations: a rewritten line on a terminal, a line every 15 s in a journal (systemd timer)."""

    def __init__(self, stream=None, quiet=False):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.quiet = quiet
        self.last = 0.0

    def __call__(self, event: dict) -> None:
        if self.quiet:
            return
        kind = event.get("type")
        if kind == "phase":
            self._line(f"• {event['message']}", force=True)
        elif kind == "archive_progress" and not event.get("finished"):
            done, total = event.get("original_size", 0), event.get("expected_size") or 0
            pct = f" ({min(100, 100 * done // total)}%)" if total else ""
            self._line(f"  {event.get('repo', '')}: {_size(done)}{pct}, {event.get('nfiles', 0)} tệp")
        elif kind == "progress_percent" and not event.get("finished") and event.get("message"):
            self._line(f"  {event['message'].strip()[:100]}")

    def _line(self, text: str, force=False) -> None:
        now = time.monotonic()
        if not force and now - self.last < (0.5 if self.tty else 15):
            return
        self.last = now
        if self.tty:
            self.stream.write("\r\033[K" + text + ("\n" if force else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


def _config(args):
    return backup.load_backup_config()


def _repo_names(args, config) -> list[str]:
    return list(config.repos()) if args.repo == "all" else [args.repo]


def cmd_init(args) -> int:
    config = _config(args)
    for name in _repo_names(args, config):
        url = backup.init_repo(config, name)
        print(f"đã khởi tạo kho {name}: {url} (repokey-blake2). Giữ bản sao mật khẩu ở Trung tâm CNTT.")
    return 0


def cmd_now(args) -> int:
    config = _config(args)
    repos = None if args.repo == "all" else [args.repo]
    report = backup.run_backup(args.settings, config, repos=repos, label=args.label, break_lock=args.break_lock,
                               prune=not args.no_prune, progress=Progress(quiet=args.quiet))
    m = report["manifest"]
    print(f"bản sao lưu {report['archive']}: {m['counts'].get('document', 0)} văn bản, "
          f"{m['counts'].get('blob', 0)} tệp ({_size(m['blob_bytes'])}), lược đồ {m['schema_version']}")
    for name, r in report["repos"].items():
        if "error" in r:
            print(f"  {name}: LỖI {r['error']} [{r['code']}]", file=sys.stderr)
        else:
            print(f"  {name}: xong, {_size(r['original_size'])} dữ liệu, {_size(r['added_size'])} mới")
            for w in r["warnings"]:
                print(f"    cảnh báo: {w}")
    return 2 if report["failed"] else 0


def cmd_list(args) -> int:
    config = _config(args)
    out, failed = {}, False
    for name in _repo_names(args, config):
        try:
            out[name] = backup.list_archives(config, name)
        except backup.BackupError as exc:  # an unreachable hub must not hide the local list
            print(f"kho {name}: lỗi {exc.message} [{exc.code}]", file=sys.stderr)
            failed = True
    if args.json:
        print(json.dumps(out, ensure_ascii=False, indent=1))
    else:
        for name, archives in out.items():
            print(f"kho {name} ({config.repos()[name]}): {len(archives)} bản")
            for a in archives:
                print(f"  {a['name']:40} {a.get('start', '')[:19]}")
    return 2 if failed else 0


def cmd_verify(args) -> int:
    config = _config(args)
    for name in _repo_names(args, config):
        started = time.monotonic()
        result = backup.verify_repo(config, name, verify_data=args.verify_data, progress=Progress())
        kind = "toàn bộ dữ liệu" if args.verify_data else "cấu trúc kho và mục lục"
        print(f"kho {name}: kiểm tra {kind} đạt ({time.monotonic() - started:.1f} s)")
        for w in result.warnings:
            print(f"  cảnh báo: {w}")
    return 0


def cmd_drill(args) -> int:
    config = _config(args)
    report = backup.drill(args.settings, config, repo_name=args.repo, progress=Progress(quiet=args.quiet))
    if report["ok"]:
        print(f"diễn tập khôi phục {report.get('archive')} từ kho {args.repo}: ĐẠT trong {report['duration']:.1f} s; "
              f"{report['counts'].get('document', 0)} văn bản (đang chạy: {report['live_documents']}), "
              f"{report['blobs_checked']}/{report['blobs_total']} blob đã kiểm SHA-256")
        return 0
    print(f"diễn tập khôi phục từ kho {args.repo}: KHÔNG ĐẠT", file=sys.stderr)
    for p in report["problems"]:
        print(f"  - {p}", file=sys.stderr)
    return 1


def cmd_restore(args) -> int:
    config = _config(args)
    report = backup.restore(args.settings, config, args.snapshot, repo_name=args.repo, target=args.to,
                            swap=args.yes, progress=Progress())
    m = report["manifest"]
    print(f"đã khôi phục {report['archive']} (vanban {m['app_version']}, lược đồ {m['schema_version']}, "
          f"{report['counts'].get('document', 0)} văn bản, {report['blobs_checked']} blob đúng SHA-256)")
    if args.yes:
        print(f"đã thay dữ liệu: {report['target']}; dữ liệu cũ giữ tại {report['previous']}")
        print("chạy `vanban migrate` nếu bản sao lưu có lược đồ cũ hơn, rồi khởi động lại vanban-web, vanban-worker")
    else:
        print(f"bản khôi phục nằm ở {report['target']}; chạy lại với --yes để thay dữ liệu đang dùng")
    return 0


def register(subparsers) -> None:
    b = subparsers.add_parser("backup", help="sao lưu: init, now, list, verify, drill")
    sub = b.add_subparsers(dest="backup_command", required=True)

    def repo_arg(p, default="all"):
        p.add_argument("--repo", choices=["local", "hub", "all"] if default == "all" else ["local", "hub"],
                       default=default, help=f"which repository (default {default})")

    p = sub.add_parser("init", help="create the encrypted repositories")
    repo_arg(p)
    p.set_defaults(func=cmd_init)
    p = sub.add_parser("now", help="take a backup now")
    repo_arg(p)
    p.add_argument("--label", help="archive name prefix instead of 'vanban' (e.g. pre-upgrade); not pruned")
    p.add_argument("--break-lock", action="store_true", help="remove a stale repository lock left by a crash")
    p.add_argument("--no-prune", action="store_true")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=cmd_now)
    p = sub.add_parser("list", help="list the snapshots")
    repo_arg(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)
    p = sub.add_parser("verify", help="borg check of the repositories")
    repo_arg(p)
    p.add_argument("--verify-data", action="store_true", help="also decrypt and authenticate every chunk (slow)")
    p.set_defaults(func=cmd_verify)
    p = sub.add_parser("drill", help="restore the latest snapshot to scratch space and check it")
    repo_arg(p, default="local")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_drill)
    r = subparsers.add_parser("restore", help="restore a snapshot into a new directory (--yes swaps it in)")
    r.add_argument("snapshot", help="archive name from `vanban backup list`, or 'latest'")
    repo_arg(r, default="local")
    r.add_argument("--to", help="target directory (default: <data_dir>.restore-<time>, beside the data)")
    r.add_argument("--yes", action="store_true", help="replace the live data directory (the old one is kept)")
    r.set_defaults(func=cmd_restore)
