"""Benchmark: the outgoing workflow's sign and issue use cases on a 20-page PDF, through the app's core (real SQLite
file, blob store, numbering under BEGIN IMMEDIATE, PKCS#12 unlock, PAdES signature, agency seal, attachment stamp),
then verification of the issued PDF. Prints median milliseconds.

    .venv/bin/python tests/perf/bench_sign_issue.py [--runs 10] [--pages 20] [--raw]

`--raw` also runs the signing library's own benchmark (tests/perf/bench_signing.py: pyHanko only, keys unlocked
once), so the difference is what the workflow adds (key unlock per request, database, files).
Antivirus scanning is off (NullScanner: clamd time belongs to uploads) and text extraction is queued to huey, not
run inline, as in production.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_signing import make_pdf  # noqa: E402 - the signing library's 20-page Vietnamese A4 PDF

PW = "bench-pass-1"


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, (time.perf_counter() - start) * 1000


def setup(data: Path):
    from vanban.clock import SystemClock
    from vanban.core import accounts, agencies, signing_service
    from vanban.core.incoming import Upload
    from vanban.models import migrations
    from vanban.runtime import build_context
    from vanban.settings import load_settings
    from vanban.signing.images import seal_png, signature_png
    from vanban.signing.pki import Pki

    settings = load_settings(environ={}, data_dir=str(data), clamd_socket="", jobs_immediate=False)
    ctx = build_context(settings, clock=SystemClock())
    now = ctx.clock.now()
    migrations.migrate(now.replace(tzinfo=None))
    agency = agencies.create_agency(now, None, code="H37.02.02", name="UBND huyện Kỳ Anh", abbreviation="UBND")
    unit = agencies.create_department(now, None, agency, name="Văn phòng", abbreviation="VP")
    users = {name: accounts.create_user(now, None, agency, username=name, full_name=full, password=PW, roles=roles,
                                        department=unit, position=pos)
             for name, full, roles, pos in [("chuyenvien", "Trần Chuyên Viên", "specialist", ""),
                                            ("truongphong", "Lê Trưởng Phòng", "unit_head", ""),
                                            ("vanthu", "Ngô Văn Thư", "clerk", ""),
                                            ("lanhdao", "Nguyễn Văn Ánh", "leader", "Phó Chủ tịch")]}
    pki = Pki(data / "pki", clock=lambda: now - timedelta(days=1))
    pki.init_root("CA gốc tỉnh", PW)
    pki.issue_agency_ca("H37.02.02", "UBND huyện Kỳ Anh", root_passphrase=PW, passphrase=PW)
    pki.issue_person("H37.02.02", "lanhdao", "Nguyễn Văn Ánh", "Phó Chủ tịch", ca_passphrase=PW, passphrase=PW)
    pki.issue_seal("H37.02.02", ca_passphrase=PW, passphrase=PW)

    def png_upload(data_bytes, name):
        return Upload(name, ctx.blobs.stage_bytes(data_bytes), "image/png")

    signing_service.set_image(ctx, users["lanhdao"], "signature", [png_upload(signature_png("Nguyễn Văn Ánh"), "ky.png")])
    signing_service.set_image(ctx, users["vanthu"], "seal", [png_upload(seal_png("UBND huyện Kỳ Anh"), "dau.png")])
    return ctx, users, unit, Upload


def one_run(ctx, users, unit, upload_cls, source: bytes, attachment: bytes):
    from vanban.core import issuing, outgoing, signing_service

    files = [upload_cls("cong-van.pdf", ctx.blobs.stage_bytes(source), "application/pdf"),
             upload_cls("phu-luc.pdf", ctx.blobs.stage_bytes(attachment), "application/pdf")]
    draft = outgoing.create_draft(ctx, users["chuyenvien"], {"doc_type": "CV", "subject": "Về việc thử nghiệm hiệu năng",
                                                     "signer_id": users["lanhdao"].id, "authority_prefix": "KT.",
                                                     "on_behalf_of": "Chủ tịch"},
                                  files, [{"to": f"dept:{unit.id}"}, {"to": "agency:H37.99"}])
    outgoing.approve_content(ctx, users["truongphong"], draft.id)
    outgoing.approve_format(ctx, users["vanthu"], draft.id)
    outgoing.submit(ctx, users["chuyenvien"], draft.id)
    _, sign_ms = timed(signing_service.sign, ctx, users["lanhdao"], draft.id, PW)
    doc, issue_ms = timed(issuing.issue, ctx, users["vanthu"], draft.id, PW, "Kỳ Anh")
    with ctx.blobs.open(doc.attachments[0].blob_id) as fh:
        issued = fh.read()
    report, verify_ms = timed(signing_service.verify_bytes, ctx, issued)
    assert report.verdict == "valid", report
    return sign_ms, issue_ms, verify_ms, len(issued)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--pages", type=int, default=20)
    parser.add_argument("--raw", action="store_true", help="also run tests/perf/bench_signing.py")
    args = parser.parse_args(argv)
    source, attachment = make_pdf(args.pages), make_pdf(2)
    with tempfile.TemporaryDirectory() as tmp:
        ctx, users, unit, upload_cls = setup(Path(tmp) / "data")
        one_run(ctx, users, unit, upload_cls, source, attachment)  # warm-up: imports, fonts, first connection
        runs = [one_run(ctx, users, unit, upload_cls, source, attachment) for _ in range(args.runs)]
    sign, issue, verify = ([r[i] for r in runs] for i in range(3))
    total = [a + b for a, b in zip(sign, issue, strict=True)]
    print(f"{args.pages}-page PDF ({len(source) // 1024} KiB -> {runs[-1][3] // 1024} KiB issued), {args.runs} runs, "
          f"Python {sys.version.split()[0]}; app core, SQLite on disk, keys unlocked per call")
    print(f"  sign (unlock + PAdES + store)                {statistics.median(sign):8.1f} ms")
    print(f"  issue (unlock + number + seal + stamp + rows) {statistics.median(issue):8.1f} ms")
    print(f"  sign total signer + agency (median)           {statistics.median(total):8.1f} ms")
    print(f"  verify issued PDF, both signatures (median)   {statistics.median(verify):8.1f} ms")
    if args.raw:
        import bench_signing

        print("signing library alone (tests/perf/bench_signing.py):")
        bench_signing.main(["--runs", str(args.runs), "--pages", str(args.pages)])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
