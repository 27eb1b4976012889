"""Benchmark: sign (person + agency seal) and verify a 20-page A4 PDF; prints median milliseconds.

    .venv/bin/python tests/perf/bench_signing.py [--runs 15] [--pages 20]

Keys are loaded once (as the web worker would cache the unlocked signer for one request);
image generation is outside the timed part. Verification uses the PKI's trust store and CRLs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fpdf import FPDF

from vanban.signing import pdf as vpdf
from vanban.signing.images import font_path, seal_png, signature_png
from vanban.signing.pki import Pki

PW = "bench-pass-1"
TEXT = ("Căn cứ Nghị định số 30/2020/NĐ-CP ngày 05 tháng 3 năm 2020 của Chính phủ về công tác văn thư; "
        "Ủy ban nhân dân huyện triển khai phần mềm quản lý văn bản và điều hành đến các xã, thị trấn. ") * 8


def make_pdf(pages: int) -> bytes:
    doc = FPDF(format="A4")
    doc.set_margins(30, 20, 15)
    doc.add_font("LS", "", font_path("Regular"))
    doc.set_font("LS", "", 14)
    for i in range(pages):
        doc.add_page()
        doc.multi_cell(0, 7, f"{TEXT}\nTrang {i + 1}.")
    return bytes(doc.output())


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, (time.perf_counter() - start) * 1000


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--pages", type=int, default=20)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        pki = Pki(Path(tmp) / "pki")
        pki.init_root("CA gốc tỉnh", PW)
        pki.issue_agency_ca("H37.02.02", "Ủy ban nhân dân huyện Kỳ Anh", root_passphrase=PW, passphrase=PW)
        person = pki.issue_person("H37.02.02", "nva", "Nguyễn Văn Ánh", "Phó Chủ tịch", ca_passphrase=PW,
                                  passphrase=PW)
        seal = pki.issue_seal("H37.02.02", ca_passphrase=PW, passphrase=PW)
        person_signer, load_ms = timed(pki.load_signer, person["serial"], PW)
        seal_signer = pki.load_signer(seal["serial"], PW)
        trust = pki.trust_store()
        now = datetime.now(UTC)  # after issuing: a signing time before not_before would be refused
        source = make_pdf(args.pages)
        sig_img, seal_img = signature_png("Nguyễn Văn Ánh"), seal_png("Ủy ban nhân dân huyện Kỳ Anh", place="Hà Tĩnh")
        person_ms, seal_ms, verify_ms = [], [], []
        for i in range(args.runs):
            signed, t1 = timed(vpdf.sign_as_person, source, person_signer, title="Phó Chủ tịch",
                               full_name="Nguyễn Văn Ánh", authority_prefix="KT.", on_behalf_of="Chủ tịch",
                               signature_png=sig_img, at=now)
            sealed, t2 = timed(vpdf.apply_agency_seal, signed, seal_signer, seal_img,
                               number_notation=f"{i + 1:02d}/UBND-VP", issued_at=now + timedelta(minutes=5),
                               place="Kỳ Anh")
            report, t3 = timed(vpdf.verify_pdf, sealed, trust=trust)
            assert report.verdict == "valid", report
            person_ms.append(t1)
            seal_ms.append(t2)
            verify_ms.append(t3)
    total = [a + b for a, b in zip(person_ms, seal_ms, strict=True)]
    print(f"{args.pages}-page PDF ({len(source) // 1024} KiB -> {len(sealed) // 1024} KiB signed), {args.runs} runs, "
          f"Python {sys.version.split()[0]}")
    print(f"  unlock PKCS#12 key (once)       {load_ms:8.1f} ms")
    print(f"  sign as person (median)         {statistics.median(person_ms):8.1f} ms")
    print(f"  agency seal + number (median)   {statistics.median(seal_ms):8.1f} ms")
    print(f"  sign total person+agency (med)  {statistics.median(total):8.1f} ms")
    print(f"  verify both signatures (median) {statistics.median(verify_ms):8.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
