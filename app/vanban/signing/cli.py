"""`vanban pki ...`: run the agency PKI from the shell.

Passphrases never come from argv (they would sit in shell history and in `ps`): each is read from a
file (--passphrase-file / --ca-passphrase-file, first line), from an environment variable
(VANBAN_PKI_PASSPHRASE / VANBAN_PKI_CA_PASSPHRASE) or typed at a getpass prompt.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import stat
import sys
from pathlib import Path

from . import SigningError
from .pki import REVOCATION_REASONS, Pki

ENV_NEW = "VANBAN_PKI_PASSPHRASE"
ENV_CA = "VANBAN_PKI_CA_PASSPHRASE"


def register(subparsers) -> None:
    """Plug `pki` into the main `vanban` parser (contract: handler(args) -> exit code)."""
    pki = subparsers.add_parser("pki", help="hạ tầng khóa: CA gốc, CA cơ quan, chứng thư ký số")
    pki.add_argument("--pki-dir", help="thư mục PKI (mặc định <data>/pki)")
    sub = pki.add_subparsers(dest="pki_command", required=True)

    def cmd(name, help_text, *, new_pw=False, ca_pw=False):
        # allow_abbrev=False: otherwise "--passphrase x" would be taken as "--passphrase-file x"
        p = sub.add_parser(name, help=help_text, allow_abbrev=False)
        if new_pw:
            p.add_argument("--passphrase-file", help=f"tệp chứa mật khẩu khóa (hoặc biến {ENV_NEW})")
        if ca_pw:
            p.add_argument("--ca-passphrase-file", help=f"tệp chứa mật khẩu khóa CA cấp (hoặc biến {ENV_CA})")
        p.set_defaults(func=handle)
        return p

    p = cmd("init-root", "tạo CA gốc của tỉnh", new_pw=True)
    p.add_argument("--name", required=True, help='ví dụ "CA gốc tỉnh Hà Tĩnh"')
    p.add_argument("--years", type=int, default=20)
    p.add_argument("--ca-key-bits", type=int, default=3072, choices=(2048, 3072, 4096))
    p = cmd("issue-agency", "cấp CA cho một cơ quan", new_pw=True, ca_pw=True)
    p.add_argument("--code", required=True, help="mã định danh cơ quan, ví dụ H37.02.02")
    p.add_argument("--name", required=True, help='ví dụ "Ủy ban nhân dân huyện Kỳ Anh"')
    p.add_argument("--ca-key-bits", type=int, default=3072, choices=(2048, 3072, 4096))
    p = cmd("issue-person", "cấp chứng thư ký cho một người", new_pw=True, ca_pw=True)
    p.add_argument("--agency", required=True)
    p.add_argument("--username", required=True)
    p.add_argument("--full-name", required=True)
    p.add_argument("--title", required=True, help='chức vụ, ví dụ "Phó Chủ tịch"')
    p.add_argument("--unit")
    p.add_argument("--email")
    p.add_argument("--days", type=int, default=3 * 365)
    p = cmd("issue-seal", "cấp chứng thư của cơ quan (con dấu)", new_pw=True, ca_pw=True)
    p.add_argument("--agency", required=True)
    p.add_argument("--days", type=int, default=3 * 365)
    p = cmd("revoke", "thu hồi chứng thư và phát hành CRL mới", ca_pw=True)
    p.add_argument("serial")
    p.add_argument("--reason", default="unspecified", choices=sorted(REVOCATION_REASONS))
    p = cmd("crl", "phát hành lại CRL của một CA", ca_pw=True)
    p.add_argument("--ca", required=True, help='"root" hoặc mã cơ quan')
    p = cmd("rotate", "đổi khóa: cấp khóa mới, thu hồi khóa cũ (lý do superseded)", new_pw=True, ca_pw=True)
    p.add_argument("serial")
    p.add_argument("--keep-old", action="store_true", help="không thu hồi, để khóa cũ tự hết hạn")
    p.add_argument("--days", type=int, default=3 * 365)
    p = cmd("import-p12", "nhập khóa ký từ tệp PKCS#12 (ví dụ chứng thư Ban Cơ yếu)", new_pw=True)
    p.add_argument("file")
    p.add_argument("--label")
    p = cmd("trust-add", "tin cậy thêm một CA gốc (PEM hoặc DER)")
    p.add_argument("file")
    p = cmd("list", "liệt kê chứng thư")
    p.add_argument("--json", action="store_true")


def _read_secret(file_opt: str | None, env: str, prompt: str, *, confirm: bool) -> str:
    if file_opt:
        path = Path(file_opt)
        if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            print(f"Cảnh báo: {path} có thể được người khác đọc (nên chmod 600).", file=sys.stderr)
        lines = path.read_text("utf-8").splitlines()
        return lines[0] if lines else ""
    if os.environ.get(env):
        return os.environ[env]
    if not sys.stdin.isatty():
        raise SigningError("passphrase_missing", f"--passphrase-file or {env}")
    value = getpass.getpass(prompt)
    if confirm and getpass.getpass("Nhập lại: ") != value:
        raise SigningError("passphrase_missing", "hai lần nhập không khớp")
    return value


def _new_pw(args) -> str:
    return _read_secret(getattr(args, "passphrase_file", None), ENV_NEW, "Mật khẩu cho khóa mới: ", confirm=True)


def _ca_pw(args, which: str = "CA") -> str:
    return _read_secret(getattr(args, "ca_passphrase_file", None), ENV_CA, f"Mật khẩu khóa {which}: ", confirm=False)


def _pki(args) -> Pki:
    path = Path(args.pki_dir) if args.pki_dir else Path(args.data) / "pki"
    return Pki(path, ca_key_bits=getattr(args, "ca_key_bits", 3072))


def _print_record(rec: dict) -> None:
    print(f"{rec['kind']:<10} {rec['serial']} {rec['status']:<8} {rec['not_after'][:10]}  "
          f"{rec['subject']}" + (f" [{rec['agency']}]" if rec.get("agency") else ""))


def _run(args, pki: Pki) -> None:  # noqa: C901 - one branch per sub-command reads best flat
    c = args.pki_command
    if c == "init-root":
        cert = pki.init_root(args.name, _new_pw(args), years=args.years)
        print(f"Đã tạo CA gốc {cert.serial_number:x} tại {pki.dir}")
    elif c == "issue-agency":
        cert = pki.issue_agency_ca(args.code, args.name, root_passphrase=_ca_pw(args, "CA gốc"),
                                   passphrase=_new_pw(args))
        print(f"Đã cấp CA cơ quan {args.code.upper()}: {cert.serial_number:x}")
    elif c == "issue-person":
        _print_record(pki.issue_person(args.agency, args.username, args.full_name, args.title,
                                       ca_passphrase=_ca_pw(args), passphrase=_new_pw(args), days=args.days,
                                       unit=args.unit, email=args.email))
    elif c == "issue-seal":
        _print_record(pki.issue_seal(args.agency, ca_passphrase=_ca_pw(args), passphrase=_new_pw(args),
                                     days=args.days))
    elif c == "revoke":
        _print_record(pki.revoke(args.serial, ca_passphrase=_ca_pw(args), reason=args.reason))
    elif c == "crl":
        crl = pki.make_crl(args.ca, passphrase=_ca_pw(args))
        print(f"CRL {args.ca}: {len(list(crl))} chứng thư bị thu hồi, hạn tới {crl.next_update_utc:%Y-%m-%d}")
    elif c == "rotate":
        _print_record(pki.rotate(args.serial, ca_passphrase=_ca_pw(args), passphrase=_new_pw(args),
                                 revoke_old=not args.keep_old, days=args.days))
    elif c == "import-p12":
        pw = _read_secret(args.passphrase_file, ENV_NEW, "Mật khẩu tệp PKCS#12: ", confirm=False)
        _print_record(pki.import_p12(args.file, pw, label=args.label))
    elif c == "trust-add":
        cert = pki.add_trusted_root(Path(args.file).read_bytes())
        print(f"Đã tin cậy CA gốc: {cert.subject.rfc4514_string()}")
    elif c == "list":
        records = pki.list()
        if args.json:
            print(json.dumps(records, ensure_ascii=False, indent=2))
        else:
            for rec in records:
                _print_record(rec)


def handle(args) -> int:
    try:
        _run(args, _pki(args))
    except SigningError as exc:
        print(f"Lỗi: {exc.message} ({exc.code})", file=sys.stderr)
        return 2
    except (FileNotFoundError, PermissionError) as exc:
        print(f"Lỗi: không đọc được tệp {exc.filename}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry (tests, or before the main CLI wires `register`)."""
    parser = argparse.ArgumentParser(prog="vanban")
    parser.add_argument("--data", default=os.environ.get("VANBAN_DATA_DIR", "/var/lib/vanban"))
    subparsers = parser.add_subparsers(dest="command", required=True)
    register(subparsers)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
