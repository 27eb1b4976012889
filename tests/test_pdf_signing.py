"""PAdES signing of outgoing documents, checked by our verifier and independently by poppler's pdfsig.

Real parts: a PKI on disk, PDFs made by fpdf2 with Vietnamese text, pyHanko, pdfsig with an NSS
database made by certutil, pdftoppm for the rendering check, LibreOffice for DOCX conversion.
"""

import io
import re
import shutil
import subprocess
import zipfile
from datetime import UTC, datetime, timedelta

import pytest
from fpdf import FPDF
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from pypdf import PdfReader

from vanban.signing import SigningError
from vanban.signing import pdf as vpdf
from vanban.signing.images import font_path, seal_png, signature_png
from vanban.signing.pki import Pki, load_signer

NOW = datetime(2025, 11, 20, 1, 0, tzinfo=UTC)
SIGNED = NOW + timedelta(days=1)  # 2025-11-21 08:00 +07:00
ISSUED = SIGNED + timedelta(hours=2)
CODE, AGENCY = "H37.02.02", "Ủy ban nhân dân huyện Kỳ Anh"
PW = "pass-word-1"
needs_pdfsig = pytest.mark.skipif(not (shutil.which("pdfsig") and shutil.which("certutil")),
                                  reason="needs poppler-utils (pdfsig) and libnss3-tools (certutil)")


def make_pdf(pages: int = 2, *, encrypt: bool = False) -> bytes:
    doc = FPDF(format="A4")
    doc.set_margins(30, 20, 15)
    doc.add_font("LS", "", font_path("Regular"))
    doc.add_font("LS", "B", font_path("Bold"))
    for i in range(pages):
        doc.add_page()
        if i == 0:
            doc.set_font("LS", "B", 12)
            doc.cell(70, 6, "ỦY BAN NHÂN DÂN", align="C")
            doc.cell(0, 6, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", align="C", new_x="LMARGIN", new_y="NEXT")
            doc.cell(70, 6, "HUYỆN KỲ ANH", align="C", new_x="LMARGIN", new_y="NEXT")
            doc.ln(14)
        doc.set_font("LS", "", 14)
        doc.multi_cell(0, 7, "Về việc triển khai phần mềm quản lý văn bản và điều hành. " * 5 + f"Trang {i + 1}.")
    if encrypt:
        doc.set_encryption(owner_password="chu-so-huu", user_password="nguoi-doc")
    return bytes(doc.output())


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    base = tmp_path_factory.mktemp("sign")
    pki = Pki(base / "pki", clock=lambda: NOW, ca_key_bits=2048)
    pki.init_root("CA gốc tỉnh Hà Tĩnh", PW)
    pki.issue_agency_ca(CODE, AGENCY, root_passphrase=PW, passphrase=PW)
    person = pki.issue_person(CODE, "nva", "Nguyễn Văn Ánh", "Phó Chủ tịch", ca_passphrase=PW, passphrase=PW)
    seal = pki.issue_seal(CODE, ca_passphrase=PW, passphrase=PW)
    env = {"base": base, "pki": pki, "person": pki.load_signer(person["serial"], PW),
           "seal": pki.load_signer(seal["serial"], PW), "sig_png": signature_png("Nguyễn Văn Ánh"),
           "seal_png": seal_png(AGENCY, place="Hà Tĩnh")}
    env["person_pdf"] = sign_person(env, make_pdf())
    env["sealed_pdf"] = vpdf.apply_agency_seal(env["person_pdf"], env["seal"], env["seal_png"],
                                               number_notation="05/UBND-VP", issued_at=ISSUED, place="Kỳ Anh")
    env["attachment_pdf"] = vpdf.stamp_attachment(make_pdf(1), env["seal"], number_notation="05/UBND-VP",
                                                  signed_at=ISSUED)
    return env


def sign_person(env, data, signer=None, **kw):
    kw = {"authority_prefix": "KT.", "on_behalf_of": "Chủ tịch", "at": SIGNED, **kw}
    return vpdf.sign_as_person(data, signer or env["person"], title="Phó Chủ tịch", full_name="Nguyễn Văn Ánh",
                               signature_png=env["sig_png"], **kw)


def test_person_then_seal_both_valid(env):
    report = vpdf.verify_pdf(env["sealed_pdf"], trust=env["pki"].trust_store())
    assert report.verdict == "valid", report
    person, seal = report.signatures
    assert person.signer_common_name == "Nguyễn Văn Ánh" and person.agency_code == CODE
    assert person.chain == ["Nguyễn Văn Ánh", f"{AGENCY} CA", "CA gốc tỉnh Hà Tĩnh"]
    assert person.signing_time == SIGNED and person.signing_time.utcoffset() == timedelta(hours=7)
    # the seal revision only filled the number/date fields: allowed, not a modification
    assert person.coverage == "entire_revision" and person.modification_level == "form_filling"
    assert not person.modified_after_signing and person.intact and person.chain_trusted
    assert seal.signer_common_name == AGENCY and seal.coverage == "entire_file" and seal.signing_time == ISSUED
    fields = PdfReader(io.BytesIO(env["sealed_pdf"])).get_fields()
    assert fields[vpdf.NUMBER_FIELD]["/V"] == "Số: 05/UBND-VP"
    assert fields[vpdf.DATE_FIELD]["/V"] == "Kỳ Anh, ngày 21 tháng 11 năm 2025"


def test_issue_date_leading_zeros():
    # NĐ 30: days below 10 and months 1-2 get a leading zero, other months do not
    assert vpdf.issue_date_text(datetime(2026, 2, 5, 3, tzinfo=UTC), "Hà Nội") == "Hà Nội, ngày 05 tháng 02 năm 2026"
    assert vpdf.issue_date_text(datetime(2026, 3, 15, 3, tzinfo=UTC), None) == "Ngày 15 tháng 3 năm 2026"


def pdfsig(path, nssdir) -> str:
    run = subprocess.run(["pdfsig", "-nssdir", f"sql:{nssdir}", str(path)], capture_output=True, text=True,
                         timeout=60)
    return run.stdout


@pytest.fixture(scope="module")
def nss(env):
    """Two NSS databases: one trusting our provincial root, one empty."""
    dbs = {}
    for name, trusted in (("trusted", True), ("empty", False)):
        d = env["base"] / f"nss-{name}"
        d.mkdir()
        subprocess.run(["certutil", "-N", "-d", f"sql:{d}", "--empty-password"], check=True, capture_output=True)
        if trusted:
            subprocess.run(["certutil", "-A", "-d", f"sql:{d}", "-n", "vanban-root", "-t", "C,C,C",
                            "-i", str(env["pki"].dir / "root" / "ca.crt")], check=True, capture_output=True)
        dbs[name] = d
    return dbs


@needs_pdfsig
def test_pdfsig_agrees(env, nss, tmp_path):
    sealed, attachment = tmp_path / "sealed.pdf", tmp_path / "attachment.pdf"
    sealed.write_bytes(env["sealed_pdf"])
    attachment.write_bytes(env["attachment_pdf"])
    out = pdfsig(sealed, nss["trusted"])
    assert out.count("Signature Validation: Signature is Valid.") == 2, out
    assert out.count("Certificate Validation: Certificate is Trusted.") == 2, out
    assert "Signer Certificate Common Name: Nguyễn Văn Ánh" in out and f"Common Name: {AGENCY}" in out
    assert "Signature Type: ETSI.CAdES.detached" in out  # PAdES
    out = pdfsig(attachment, nss["trusted"])
    assert "Signature is Valid." in out and "Certificate is Trusted." in out
    # the chain matters: without our root, NSS does not trust the same signature
    out = pdfsig(sealed, nss["empty"])
    assert "Signature is Valid." in out and "Certificate is Trusted." not in out


def flip_inside_signed_range(data: bytes) -> bytes:
    # A byte of the first page's text content, well inside the person's /ByteRange
    pos = data.index(b"/Producer")
    return data[:pos + 12] + bytes([data[pos + 12] ^ 0x01]) + data[pos + 13:]


@needs_pdfsig
def test_flipped_byte_reported_by_both(env, nss, tmp_path):
    tampered = flip_inside_signed_range(env["sealed_pdf"])
    report = vpdf.verify_pdf(tampered, trust=env["pki"].trust_store())
    assert report.verdict == "invalid"
    assert all(not s.intact and "not_intact" in s.problems for s in report.signatures)
    path = tmp_path / "tampered.pdf"
    path.write_bytes(tampered)
    out = pdfsig(path, nss["trusted"])
    assert out.count("Signature Validation: Digest Mismatch.") == 2, out


def test_incremental_update_after_signature_flagged(env):
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    writer = IncrementalPdfFileWriter(io.BytesIO(env["person_pdf"]))
    extra = writer.add_object(generic.StreamObject(stream_data=b"BT /F1 24 Tf 100 100 Td (Them chu) Tj ET"))
    writer.add_stream_to_page(0, extra)
    out = io.BytesIO()
    writer.write(out)
    report = vpdf.verify_pdf(out.getvalue(), trust=env["pki"].trust_store())
    sig = report.signatures[0]
    assert sig.intact and sig.modified_after_signing and "modified_after_signing" in sig.problems
    assert report.verdict == "invalid"


def test_seal_overlaps_left_third_of_signature(env, tmp_path):
    reader = PdfReader(io.BytesIO(env["sealed_pdf"]))
    widgets = {a["/T"]: a for a in (x.get_object() for x in reader.pages[-1]["/Annots"]) if "/T" in a}
    person, seal = widgets[vpdf.PERSON_FIELD + "1"], widgets[vpdf.SEAL_FIELD + "1"]
    ap = person["/AP"]["/N"].get_data()
    ix, iy, iw, ih = (float(v) for v in vpdf.IMAGE_MARK.search(ap).groups())
    px1, py1 = float(person["/Rect"][0]), float(person["/Rect"][1])
    sx1, sy1, sx2, sy2 = (float(v) for v in seal["/Rect"])
    assert sx2 - sx1 == pytest.approx(vpdf.SEAL_MM * vpdf.MM, abs=0.1)  # real size, 36 mm
    assert sx2 == pytest.approx(px1 + ix + iw / 3, abs=0.5)  # covers the left third of the image
    assert (sy1 + sy2) / 2 == pytest.approx(py1 + iy + ih / 2, abs=0.5)
    # Render the signature page and look at the ink: red seal, blue signature, both in the overlap.
    subprocess.run(["pdftoppm", "-png", "-r", "50", "-f", str(len(reader.pages)), "-l", str(len(reader.pages)),
                    "-singlefile", "-", str(tmp_path / "page")], input=env["sealed_pdf"], check=True, timeout=60)
    img = Image.open(tmp_path / "page.png").convert("RGB")
    height_pt = float(reader.pages[-1].mediabox[3])

    def pixels(x1, y1, x2, y2):
        k = 50 / 72
        box = (int(x1 * k), int((height_pt - y2) * k), int(x2 * k), int((height_pt - y1) * k))
        raw = img.crop(box).tobytes()
        return [tuple(raw[i:i + 3]) for i in range(0, len(raw), 3)]

    def red(p):
        return p[0] > 150 and p[1] < 110 and p[2] < 110

    def blue(p):
        return p[2] > 120 and p[0] < 110

    seal_px = pixels(sx1, sy1, sx2, sy2)
    image_abs = (px1 + ix, py1 + iy, px1 + ix + iw, py1 + iy + ih)
    right_part = pixels(image_abs[0] + iw / 3, image_abs[1], image_abs[2], image_abs[3])
    overlap = pixels(image_abs[0], image_abs[1], image_abs[0] + iw / 3, image_abs[3])
    assert sum(map(red, seal_px)) > 200 and sum(map(blue, right_part)) > 30
    assert not any(map(red, right_part)), "seal must not reach past the left third"
    assert any(map(red, overlap)) and any(map(blue, overlap))


def test_attachment_stamp_top_right_text_only(env):
    reader = PdfReader(io.BytesIO(env["attachment_pdf"]))
    page = reader.pages[0]
    widget = page["/Annots"][0].get_object()
    x1, y1, x2, y2 = (float(v) for v in widget["/Rect"])
    width, height = float(page.mediabox[2]), float(page.mediabox[3])
    assert x2 == pytest.approx(width - 15 * vpdf.MM, abs=1) and height - y2 < 20 * vpdf.MM
    ap = widget["/AP"]["/N"]
    content = ap.get_data() + b"".join(x.get_object().get_data() for x in ap.get("/Resources", {}).get("/XObject", {}).values())
    assert b"/Image" not in content and b" 10 Tf" in content and b"0 0 0 rg" in content
    assert all(re.fullmatch(r"/\w+\+LiberationSerif-Identity-H", f["/BaseFont"]) for f in _fonts(ap))
    # pyHanko 0.38 wrote glyph widths in font units; ours are 1/1000 em ("0" is 500 in Times/Liberation)
    assert 500 in _widths(ap)
    sig = vpdf.verify_pdf(env["attachment_pdf"], trust=env["pki"].trust_store()).signatures[0]
    assert sig.verdict == "valid" and sig.signing_time.isoformat() == "2025-11-21T10:00:00+07:00"


def _fonts(xobj):
    """Font dictionaries used by an appearance stream, including nested form XObjects."""
    resources = xobj.get("/Resources", {})
    for font in resources.get("/Font", {}).values():
        yield font.get_object()
    for child in resources.get("/XObject", {}).values():
        yield from _fonts(child.get_object())


def _widths(ap) -> list[int]:
    out = []
    for font in _fonts(ap):
        w = font["/DescendantFonts"][0].get_object()["/W"]
        out += [int(v) for item in w if isinstance(item, list) for v in item]
    return out


def test_expired_revoked_untrusted_signers(env, tmp_path):
    pki = env["pki"]
    short = pki.issue_person(CODE, "short", "Đỗ Văn Hạn", "Phó Chủ tịch", ca_passphrase=PW, passphrase=PW, days=1)
    signer = pki.load_signer(short["serial"], PW)
    with pytest.raises(SigningError) as err:
        sign_person(env, make_pdf(1), signer, at=NOW + timedelta(days=3))
    assert err.value.code == "cert_expired"
    signed = sign_person(env, make_pdf(1), signer, at=NOW + timedelta(hours=2))
    late = vpdf.verify_pdf(signed, trust=pki.trust_store(), at=NOW + timedelta(days=3)).signatures[0]
    assert not late.valid_at_signing_time and late.verdict == "invalid" and "expired" in late.problems

    lost = pki.issue_person(CODE, "lost", "Lê Văn Mất", "Phó Chủ tịch", ca_passphrase=PW, passphrase=PW)
    before = sign_person(env, make_pdf(1), pki.load_signer(lost["serial"], PW), at=NOW + timedelta(hours=1))
    pki.clock = lambda: NOW + timedelta(hours=5)
    pki.revoke(lost["serial"], ca_passphrase=PW, reason="key_compromise")
    pki.clock = lambda: NOW
    with pytest.raises(SigningError) as err:
        sign_person(env, make_pdf(1), pki.load_signer(lost["serial"], PW))
    assert err.value.code == "cert_revoked"
    # signed before a key compromise, no trusted timestamp: cannot be sure -> indeterminate
    rep = vpdf.verify_pdf(before, trust=pki.trust_store()).signatures[0]
    assert rep.revoked and rep.verdict == "indeterminate" and "revoked_after_signing" in rep.problems
    # the thief signs after revocation with a loader that skips checks: the verifier still refuses
    thief = load_signer(pki.dir / pki.read_index()["certs"][lost["serial"]]["path"], PW)
    stolen = sign_person(env, make_pdf(1), thief)
    rep = vpdf.verify_pdf(stolen, trust=pki.trust_store()).signatures[0]
    assert rep.revoked and rep.verdict == "invalid" and "revoked" in rep.problems

    other = Pki(tmp_path / "other", clock=lambda: NOW, ca_key_bits=2048)
    other.init_root("CA lạ", PW)
    other.issue_agency_ca("H99", "Cơ quan lạ", root_passphrase=PW, passphrase=PW)
    rec = other.issue_person("H99", "x", "Người Lạ", "Giám đốc", ca_passphrase=PW, passphrase=PW)
    stranger = sign_person(env, make_pdf(1), other.load_signer(rec["serial"], PW))
    rep = vpdf.verify_pdf(stranger, trust=pki.trust_store()).signatures[0]
    assert rep.intact and not rep.chain_trusted and rep.verdict == "untrusted"
    with pytest.raises(SigningError) as err:
        sign_person(env, make_pdf(1), load_signer(other.dir / rec["path"], PW, trust=pki.trust_store()))
    assert err.value.code == "cert_untrusted"


def test_bad_pdfs_and_bad_input(env):
    encrypted = make_pdf(1, encrypt=True)
    for call in (lambda d: vpdf.verify_pdf(d, trust=env["pki"].trust_store()), lambda d: sign_person(env, d)):
        with pytest.raises(SigningError) as err:
            call(encrypted)
        assert err.value.code == "pdf_encrypted"
        for corrupt in (b"%PDF-1.7\n1 0 obj << /Type /Catalog", b"not a pdf at all", make_pdf(1)[:900]):
            with pytest.raises(SigningError) as err:
                call(corrupt)
            assert err.value.code == "pdf_corrupt"
    unsigned = make_pdf(1)
    assert vpdf.verify_pdf(unsigned, trust=env["pki"].trust_store()).verdict == "unsigned"
    cases = [
        (lambda: vpdf.apply_agency_seal(unsigned, env["seal"], env["seal_png"], number_notation="05/UBND-VP",
                                        issued_at=ISSUED), "pdf_not_signed"),
        (lambda: vpdf.apply_agency_seal(env["person_pdf"], env["seal"], env["seal_png"], number_notation="05 UBND",
                                        issued_at=ISSUED), "number_invalid"),
        (lambda: vpdf.apply_agency_seal(sign_person(env, unsigned, issue_fields=False), env["seal"],
                                        env["seal_png"], number_notation="15/QĐ-UBND", issued_at=ISSUED),
         "issue_fields_missing"),
        (lambda: sign_person(env, unsigned, authority_prefix="PHÓ."), "authority_prefix_invalid"),
        (lambda: sign_person(env, unsigned, box=vpdf.Box(0, 180, 250, 80, 50)), "layout_invalid"),
        (lambda: vpdf.sign_as_person(unsigned, env["person"], title="Chủ tịch", full_name="A",
                                     signature_png=b"GIF89a", at=SIGNED), "image_invalid"),
    ]
    for call, code in cases:
        with pytest.raises(SigningError) as err:
            call()
        assert err.value.code == code


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cuts=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), min_size=1, max_size=4))
def test_damaged_pdfs_never_crash(env, cuts):
    """Bytes damaged anywhere (uploads, bad disks): a clear refusal or a report, never a traceback."""
    data = bytearray(env["sealed_pdf"])
    for where, value in cuts:
        data[int(where * (len(data) - 1))] = value
    try:
        report = vpdf.verify_pdf(bytes(data), trust=env["pki"].trust_store())
    except SigningError as exc:
        assert exc.code in ("pdf_corrupt", "pdf_encrypted")
    else:
        assert report.verdict in ("valid", "invalid", "untrusted", "indeterminate", "unsigned")
    try:
        vpdf.apply_agency_seal(bytes(data), env["seal"], env["seal_png"], number_notation="06/UBND-VP",
                               issued_at=ISSUED)
    except SigningError:
        pass


def test_pades_b_t_with_timestamp(env):
    """B-T path with pyHanko's in-process TSA (no network here); token time is reported once trusted."""
    from asn1crypto import keys
    from asn1crypto import x509 as asn1_x509
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper

    from vanban.signing.pki import TrustStore

    def cert(subject, issuer, key, signing_key, *, ca):
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(NOW - timedelta(days=1))
                   .not_valid_after(NOW + timedelta(days=30))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if not ca:
            builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        return builder.sign(signing_key, hashes.SHA256())

    # pyHanko's dummy TSA is RSA-only
    root_key, tsa_key = (rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(2))
    root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "CA dấu thời gian")])
    tsa_root = cert(root_name, root_name, root_key, root_key, ca=True)
    tsa_cert = cert(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "TSA thử nghiệm")]), root_name, tsa_key,
                    root_key, ca=False)
    der = serialization.Encoding.DER
    tsa = DummyTimeStamper(
        tsa_cert=asn1_x509.Certificate.load(tsa_cert.public_bytes(der)),
        tsa_key=keys.PrivateKeyInfo.load(tsa_key.private_bytes(der, serialization.PrivateFormat.PKCS8,
                                                               serialization.NoEncryption())),
        fixed_dt=SIGNED + timedelta(seconds=3))
    signed = sign_person(env, make_pdf(1), timestamper=tsa)
    trust = env["pki"].trust_store()
    untrusted_tsa = vpdf.verify_pdf(signed, trust=trust).signatures[0]
    assert untrusted_tsa.timestamp_time is None  # an untrusted TSA's time is not used
    sig = vpdf.verify_pdf(signed, trust=TrustStore(trust.roots + (tsa_root,), trust.intermediates,
                                                    trust.crls)).signatures[0]
    assert sig.timestamp_time == SIGNED + timedelta(seconds=3) and sig.verdict == "valid"


def _minimal_docx(text: str) -> bytes:
    """The four parts Word needs, written by hand (python-docx is not installed)."""
    ns = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
    parts = {
        "[Content_Types].xml": '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>',
        "_rels/.rels": '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>',
        "word/document.xml": f'<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="{ns}"><w:body><w:p><w:r><w:rPr><w:rFonts w:ascii="Times New Roman" w:hAnsi="Times New Roman"/></w:rPr><w:t>{text}</w:t></w:r></w:p></w:body></w:document>',
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, body in parts.items():
            z.writestr(name, body)
    return out.getvalue()


@pytest.mark.slow
@pytest.mark.skipif(not (shutil.which("libreoffice") or shutil.which("soffice")), reason="needs LibreOffice")
def test_docx_to_pdf_then_sign(env, tmp_path):
    from vanban.signing.convert import docx_to_pdf

    pdf = docx_to_pdf(_minimal_docx("Quyết định về việc ban hành quy chế làm việc"), tmp_dir=tmp_path)
    assert "Quyết định về việc ban hành" in PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    assert list(tmp_path.iterdir()) == []  # private work dir and profile removed
    assert vpdf.verify_pdf(sign_person(env, pdf), trust=env["pki"].trust_store()).verdict == "valid"
    with pytest.raises(SigningError) as err:
        docx_to_pdf(b"PK\x03\x04 broken zip", tmp_dir=tmp_path)
    assert err.value.code == "convert_failed"


def test_number_pattern_accepts_mixed_case_abbreviations():
    """NĐ 30/2020 Phụ lục III: Tờ trình TTr, Chương trình CTr, Quy định QyĐ keep their lower-case letters."""
    from vanban.signing.pdf import NUMBER_RE

    for ok in ("12/TTr-UBND", "03/CTr-UBND", "07/QyĐ-UBND", "05/UBND-VP", "15/QĐ-UBND"):
        assert NUMBER_RE.match(ok), ok
    for bad in ("12/TTr UBND", "/QĐ-UBND", "12/QĐ--UBND"):
        assert not NUMBER_RE.match(bad), bad
