"""`vanban metrics write-textfile`: certificate expiry and antivirus signature age for node exporter's textfile
collector (monitoring/README.md "Textfile collector metrics"; the VanbanTLSCertificateExpiring and
VanbanAntivirusSignaturesOld alerts, the fleet page's "Chứng thư số" and "Mẫu virus" columns).

Run hourly, at boot and after freshclam changes the signature directory by the vanban role's
vanban-textfile-metrics units. It reads certificates and the first 512 bytes of the signature databases and
writes two files, nothing else; a run costs a fraction of a second on an old server:

- ``vanban_tls.prom``: ``vanban_tls_cert_expiry_timestamp_seconds{cert}`` (notAfter, Unix time) and
  ``vanban_tls_cert_readable{cert}`` (0 when the file is there but is not a PEM certificate we can read), for
  every certificate file that exists (CERT_LABELS). An absent file is not reported: a server not yet enrolled
  has no exchange identity, and only the hub keeps the provincial CA.
- ``vanban_av.prom``: ``vanban_av_signature_timestamp_seconds``, the build time of the newest signature
  database (signature_time explains which).
"""
from __future__ import annotations

import os
import re
import sys
from datetime import datetime
from pathlib import Path

from .errors import DomainError

TLS_FILE = "vanban_tls.prom"
AV_FILE = "vanban_av.prom"
DEFAULT_TEXTFILE_DIR = "/var/lib/prometheus/node-exporter"
DEFAULT_CLAMAV_DIR = "/var/lib/clamav"
DEFAULT_HTTPS_CERT = "/etc/vanban/tls/server.crt"  # the vanban role's vanban_app__tls_cert (nginx)
DEFAULT_EXCHANGE_CA_DIR = "/var/lib/vanban-exchange-ca"  # the hub's provincial exchange CA (exchange_ca.yml)

# The `cert` label's values: a fixed set (plus any --cert an admin adds), so the series count stays bounded.
CERT_LABELS = {
    "https": "the HTTPS certificate nginx serves to users",
    "exchange_tls": "this server's exchange TLS certificate (<data>/pki/exchange/tls.crt)",
    "exchange_dsig": "this server's package-signing certificate (<data>/pki/exchange/dsig.crt)",
    "exchange_ca": "the provincial root this server trusts (<data>/pki/exchange/ca.crt)",
    "exchange_root_ca": "the hub's provincial exchange CA (<exchange CA dir>/pki/root/ca.crt)",
}
LABEL_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")

HELP = {
    "vanban_tls_cert_expiry_timestamp_seconds":
        "notAfter of the certificate file (the earliest in it, for a chain), Unix time.",
    "vanban_tls_cert_readable": "1 when the certificate file holds a readable PEM certificate, 0 when it does not.",
    "vanban_av_signature_timestamp_seconds":
        "Build time of the newest ClamAV signature database (CVD/CLD header; mtime of other databases).",
}

# clamd loads every database file of its DatabaseDirectory. The official ones (.cvd signed, .cld after
# incremental updates, .cud unsigned) start with a 512-byte header holding their build time; the others are
# plain signature lists an admin (or a lab's EICAR line) writes by hand. Allow lists (.fp, .ign2) and
# freshclam's own files (freshclam.dat, mirrors.dat) are not signatures and never count.
OFFICIAL_SUFFIXES = (".cvd", ".cld", ".cud")
OTHER_SUFFIXES = (".hdb", ".hsb", ".hdu", ".hsu", ".mdb", ".mdu", ".msb", ".msu", ".ndb", ".ndu", ".ldb", ".ldu",
                  ".idb", ".cdb", ".cbc", ".pdb", ".gdb", ".wdb", ".ftm", ".crb", ".cat", ".yar", ".yara", ".imp")


def _warn(message: str, code: str) -> None:
    """A line in the unit's journal; the run goes on (an admin reads it with journalctl -u ...)."""
    print(f"cảnh báo: {message} [{code}]", file=sys.stderr)


# ---------------------------------------------------------------- certificates

def certificate_files(data_dir: Path, *, https_cert=DEFAULT_HTTPS_CERT, exchange_ca_dir=DEFAULT_EXCHANGE_CA_DIR,
                      extra: dict | None = None) -> dict[str, Path]:
    """label -> certificate path, whether the file exists or not."""
    pki = _exchange_pki(data_dir)
    files = {
        "https": Path(https_cert),
        "exchange_tls": pki / "tls.crt",
        "exchange_dsig": pki / "dsig.crt",
        "exchange_ca": pki / "ca.crt",
        "exchange_root_ca": Path(exchange_ca_dir) / "pki" / "root" / "ca.crt",
    }
    files.update({label: Path(path) for label, path in (extra or {}).items()})
    return files


def _exchange_pki(data_dir: Path) -> Path:
    """Where the exchange identity is: exchange.toml's pki_dir (app/vanban/exchange/config.py)."""
    from .exchange.config import load_config

    try:
        return load_config(data_dir).pki
    except (OSError, ValueError, TypeError) as exc:  # a damaged exchange.toml: the default place, and say so
        _warn(f"không đọc được {Path(data_dir) / 'exchange.toml'} ({exc}); dùng pki/exchange mặc định",
              "exchange_config_unreadable")
        return Path(data_dir) / "pki" / "exchange"


def not_after(path: Path) -> float:
    """notAfter of a PEM file as Unix time; for a chain or a bundle the earliest, which is when the file stops
    working. Raises FileNotFoundError when absent, OSError/ValueError when it cannot be used."""
    from cryptography import x509  # here: the CLI's other commands and `vanban status` do not need it

    certs = x509.load_pem_x509_certificates(Path(path).read_bytes())
    return min(cert.not_valid_after_utc.timestamp() for cert in certs)


def certificate_samples(files: dict[str, Path]) -> dict[str, float]:
    samples = {}
    for label, path in sorted(files.items()):
        try:
            expiry = not_after(path)
        except FileNotFoundError:
            continue  # not enrolled yet, not the hub: nothing to watch
        except (OSError, ValueError) as exc:
            _warn(f"không đọc được chứng thư {label} ({path}): {exc}", "cert_unreadable")
            samples[f'vanban_tls_cert_readable{{cert="{label}"}}'] = 0
            continue
        samples[f'vanban_tls_cert_expiry_timestamp_seconds{{cert="{label}"}}'] = expiry
        samples[f'vanban_tls_cert_readable{{cert="{label}"}}'] = 1
    return samples


# ---------------------------------------------------------------- antivirus signatures

def cvd_build_time(path: Path) -> float | None:
    """Build time from a .cvd/.cld/.cud header: "ClamAV-VDB:<date>:<version>:<signatures>:<level>:<md5>:<dsig>:
    <builder>:<build time, Unix>" padded to 512 bytes (the date is "%d %b %Y %H-%M %z": no colon in it).
    None when the header cannot be read."""
    try:
        with open(path, "rb") as fh:
            header = fh.read(512).decode("ascii", errors="replace")
    except OSError:
        return None
    fields = header.rstrip("\x00 ").split(":")
    if fields[0] != "ClamAV-VDB" or len(fields) < 2:
        return None
    if len(fields) >= 9 and fields[8].strip().isdigit():
        return float(fields[8].strip())
    try:  # an older header without the Unix time: its date field
        return datetime.strptime(fields[1].strip(), "%d %b %Y %H-%M %z").timestamp()
    except ValueError:
        return None


def signature_databases(directory: Path) -> list[Path]:
    """The signature database files clamd loads from `directory` (not recursive, like clamd)."""
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return []
    names = [e.name for e in entries if e.is_file() and e.name.endswith(OFFICIAL_SUFFIXES + OTHER_SUFFIXES)]
    return [Path(directory) / name for name in sorted(names)]


def signature_time(directory: Path) -> tuple[float | None, list[str]]:
    """(build time of the newest signature database, the database files found).

    The time an operator means by "signatures are N days old" is when ClamAV built them, not when freshclam
    copied them: a mirror that stopped updating still hands out files with a fresh mtime, the header keeps the
    build time. So the official databases count by their header (their mtime only when the header is
    damaged), and only they count when there is one: a hand-written local.hdb edited yesterday says nothing
    about the feed and would hide a feed that stopped weeks ago. Without any official database (a lab's
    EICAR-only test.hdb, a closed network fed by hand) the newest mtime of the other files is the answer.
    Files on disk, not clamd's loaded set: this works while clamd is down (VanbanClamdDown says so) and
    without access to its socket, and clamd reloads a changed database within its SelfCheck interval."""
    files = signature_databases(Path(directory))
    official = [p for p in files if p.suffix in OFFICIAL_SUFFIXES]
    stamps = []
    for path in official or files:
        stamp = cvd_build_time(path) if path in official else None
        if stamp is None:
            if path in official:
                _warn(f"đầu tệp {path} không đúng định dạng ClamAV-VDB; dùng thời điểm sửa tệp", "cvd_header_invalid")
            try:
                stamp = path.stat().st_mtime
            except OSError:
                continue
        stamps.append(stamp)
    return (max(stamps) if stamps else None), [p.name for p in files]


# ---------------------------------------------------------------- the command

def collect(data_dir: Path, *, clamav_dir=DEFAULT_CLAMAV_DIR, **cert_options) -> dict[str, dict | None]:
    """{file name: samples}; None for the antivirus file when no database was found (the old file stays, so
    its age keeps growing and VanbanAntivirusSignaturesOld fires if it stays so)."""
    result = {TLS_FILE: certificate_samples(certificate_files(Path(data_dir), **cert_options))}
    stamp, _ = signature_time(Path(clamav_dir))
    if stamp is None:
        _warn(f"không thấy cơ sở dữ liệu chữ ký virus trong {clamav_dir}", "av_signatures_missing")
        result[AV_FILE] = None
    else:
        result[AV_FILE] = {"vanban_av_signature_timestamp_seconds": stamp}
    return result


def parse_cert_option(value: str) -> tuple[str, str]:
    label, sep, path = value.partition("=")
    if not sep or not path:
        raise DomainError(f"--cert cần dạng NHÃN=ĐƯỜNG_DẪN, không phải {value!r}.", code="cert_option_invalid")
    if not LABEL_RE.match(label):
        raise DomainError(f"Nhãn chứng thư {label!r} không hợp lệ: chữ thường, số và _, bắt đầu bằng chữ "
                          "(tối đa 32 ký tự).", code="cert_label_invalid")
    return label, path


def cmd_write_textfile(args) -> int:
    from .textfile import render, write_textfile

    extra = dict(parse_cert_option(v) for v in args.cert or ())
    directory = Path(args.textfile_dir)
    if not args.dry_run and not directory.is_dir():
        raise DomainError(f"Không có thư mục textfile của node exporter {directory} (cài vai trò monitoring "
                          "hoặc chỉ đúng --textfile-dir).", code="textfile_dir_missing")
    files = collect(args.settings.data_path, clamav_dir=args.clamav_dir, https_cert=args.https_cert,
                    exchange_ca_dir=args.exchange_ca_dir, extra=extra)
    for name, samples in files.items():
        if samples is None:
            continue
        if args.dry_run:
            print(f"# {directory / name}\n{render(samples, HELP)}", end="")
        else:
            write_textfile(directory, name, samples, HELP, create_dir=False)
    if not args.dry_run:
        print(_summary(files))
    return 0


def _summary(files: dict) -> str:
    certs = sorted(k.split('"')[1] for k, v in files[TLS_FILE].items()
                   if k.startswith("vanban_tls_cert_readable") and v == 1)
    bad = sorted(k.split('"')[1] for k, v in files[TLS_FILE].items()
                 if k.startswith("vanban_tls_cert_readable") and v == 0)
    av = files[AV_FILE]
    when = (datetime.fromtimestamp(av["vanban_av_signature_timestamp_seconds"]).isoformat(timespec="minutes")
            if av else "không có (giữ tệp cũ)")
    return (f"{TLS_FILE}: {', '.join(certs) or 'không có chứng thư nào'}"
            + (f"; không đọc được: {', '.join(bad)}" if bad else "") + f"; {AV_FILE}: chữ ký virus {when}")


def register(subparsers) -> None:
    m = subparsers.add_parser("metrics", help="số liệu cho node exporter (textfile collector)")
    sub = m.add_subparsers(dest="metrics_command", required=True)
    w = sub.add_parser("write-textfile", help="ghi hạn chứng thư số (vanban_tls.prom) và tuổi chữ ký virus "
                                              "(vanban_av.prom) vào thư mục textfile của node exporter")
    w.add_argument("--textfile-dir", default=DEFAULT_TEXTFILE_DIR,
                   help=f"thư mục textfile collector (mặc định {DEFAULT_TEXTFILE_DIR}; phải có sẵn)")
    w.add_argument("--clamav-dir", default=DEFAULT_CLAMAV_DIR,
                   help=f"thư mục cơ sở dữ liệu chữ ký của clamd (mặc định {DEFAULT_CLAMAV_DIR})")
    w.add_argument("--https-cert", default=DEFAULT_HTTPS_CERT,
                   help=f"chứng thư HTTPS của nginx (mặc định {DEFAULT_HTTPS_CERT})")
    w.add_argument("--exchange-ca-dir", default=DEFAULT_EXCHANGE_CA_DIR,
                   help=f"thư mục CA liên thông của hub (mặc định {DEFAULT_EXCHANGE_CA_DIR}; không có trên nút)")
    w.add_argument("--cert", action="append", metavar="NHÃN=ĐƯỜNG_DẪN",
                   help="thêm (hoặc thay) một chứng thư cần theo dõi; lặp lại được")
    w.add_argument("--dry-run", action="store_true", help="in ra nội dung sẽ ghi, không ghi gì")
    w.set_defaults(func=cmd_write_textfile)
