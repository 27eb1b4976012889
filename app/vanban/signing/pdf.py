"""PAdES signatures on outgoing documents, laid out as NĐ 30/2020 Phụ lục I asks.

* :func:`sign_as_person` — the competent person signs: a visible block with the authority line,
  the blue signature image centred between title and name. In the same (signed) revision it adds two
  empty read-only text fields, number/notation and issue date, for the văn thư to fill later.
* :func:`apply_agency_seal` — the văn thư fills those two fields and adds the agency signature whose
  appearance is the red seal at real size, overlapping the left third of the signer's image. Filling
  existing fields plus a new signature is "form filling" in an incremental update (ISO 32000 12.8.2.2),
  which keeps the person's signature valid — unlike drawing new page content, which would not.
* :func:`stamp_attachment` — agency signature on a separate attachment, top-right of page 1, text
  only (number/notation + ISO 8601 time at +07:00), Times New Roman 10 (Liberation Serif), black.
* :func:`verify_pdf` — per-signature report (who, when, chain, revocation, integrity, later changes).

Coordinates in the public API are millimetres from the top-left corner of the page, as in the template.
"""

from __future__ import annotations

import functools
import io
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from PIL import Image
from pyhanko.pdf_utils import generic, layout
from pyhanko.pdf_utils.content import ResourceType
from pyhanko.pdf_utils.font.opentype import GlyphAccumulator, GlyphAccumulatorFactory
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.images import PdfImage
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.text import TextBoxStyle
from pyhanko.sign import fields, signers
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.general import get_pyca_cryptography_hash
from pyhanko.sign.timestamps.common_utils import TimestampRequestError
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.settings import KeyUsageConstraints
from pyhanko.stamp import StaticStampStyle, TextStampStyle
from pyhanko.stamp.base import BaseStamp, BaseStampStyle
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

from . import SigningError
from .images import font_path
from .pki import Signer, TrustStore, agency_code_of, common_name_of

# fontTools warns on every subset about a table it drops (FFTM); that is noise in the app log.
logging.getLogger("fontTools.subset").setLevel(logging.ERROR)

MM = 72 / 25.4
VN_TZ = timezone(timedelta(hours=7), "ICT")  # Vietnam has had no DST since 1975: a fixed offset is exact
PREFIXES = ("TM.", "Q.", "KT.", "TL.", "TUQ.")
PERSON_FIELD = "VanbanNguoiKy"
SEAL_FIELD = "VanbanCoQuan"
ATTACHMENT_FIELD = "VanbanPhuLuc"
NUMBER_FIELD = "VanbanSoKyHieu"
DATE_FIELD = "VanbanNgayBanHanh"
SEAL_MM = 36.0  # round seals of UBND huyện/xã measure 35–36 mm; 36 reads as real size on A4 print
IMAGE_MARK = re.compile(rb"% vanban-image ([\d.]+) ([\d.]+) ([\d.]+) ([\d.]+)")


@dataclass(frozen=True)
class Box:
    """A rectangle in mm from the page's top-left corner; page -1 is the last page."""

    page: int
    x: float
    y: float
    w: float
    h: float


# NĐ 30 Phụ lục I: "Số, ký hiệu" (ô 3) under the agency name on the left, place and date (ô 4) on the
# right, same line. Templates that put them elsewhere pass their own boxes.
DEFAULT_NUMBER_BOX = Box(0, 20, 31, 75, 8)
DEFAULT_DATE_BOX = Box(0, 95, 31, 100, 8)


class _Pdf1000GlyphAccumulator(GlyphAccumulator):
    """pyHanko 0.38 writes /W widths and TJ kerning in font units, PDF reads them as 1/1000 em.

    With TrueType fonts (2048 units/em, Liberation included) every glyph then sits twice as far
    apart. Shaping with HarfBuzz at 1000 units/em makes all three numbers agree.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._font_upem = self.units_per_em
        self.units_per_em = 1000
        self.hb_font.scale = (1000, 1000)

    def _get_cid_and_width(self, glyph_id: int) -> tuple[int, int]:
        if glyph_id not in self._glyphs:
            cid, width = super()._get_cid_and_width(glyph_id)
            self._glyphs[glyph_id] = (cid, round(width * 1000 / self._font_upem))
        return self._glyphs[glyph_id]


class _Font(GlyphAccumulatorFactory):
    def create_font_engine(self, writer, obj_stream=None):
        handle = open(self.font_file, "rb")  # noqa: SIM115 - fontTools reads glyphs lazily from it
        return _Pdf1000GlyphAccumulator(writer=writer, font_handle=handle, font_size=self.font_size)


def font(style: str = "Regular", size: int = 10) -> _Font:
    return _Font(font_path(style), font_size=size)


def _hostile_input(fn):
    """Public signing calls take uploaded PDFs: any parser failure is 'pdf_corrupt', never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (PdfError, KeyError, TypeError, IndexError, AttributeError, ValueError) as exc:
            raise SigningError("pdf_corrupt", f"{type(exc).__name__}: {str(exc)[:200]}") from None

    return wrapper


def _at(at: datetime | None) -> datetime:
    at = at or datetime.now(UTC)
    if at.tzinfo is None:
        raise SigningError("sign_failed", "signing time must carry a time zone")
    return at.astimezone(VN_TZ)


def _writer(pdf_bytes: bytes) -> IncrementalPdfFileWriter:
    try:
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf_bytes), strict=False)
    except (PdfError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise SigningError("pdf_corrupt", str(exc)[:200]) from None
    if writer.prev.encrypted:
        raise SigningError("pdf_encrypted")
    return writer


def _page_rect(writer, box: Box) -> tuple[int, list[float]]:
    """Page index and /Rect [x1 y1 x2 y2] in points for a Box, checked against the MediaBox."""
    count = int(writer.root["/Pages"]["/Count"])
    page_ix = box.page if box.page >= 0 else count + box.page
    if not 0 <= page_ix < count:
        raise SigningError("layout_invalid", f"page {box.page}")
    page_ref, _ = writer.find_page_for_modification(page_ix)
    x0, y0, x1, y1 = [float(v) for v in _inherited(page_ref.get_object(), "/MediaBox")]
    rect = [x0 + box.x * MM, y1 - (box.y + box.h) * MM, x0 + (box.x + box.w) * MM, y1 - box.y * MM]
    if rect[0] < x0 - 0.5 or rect[2] > x1 + 0.5 or rect[1] < y0 - 0.5 or box.w <= 0 or box.h <= 0:
        raise SigningError("layout_invalid", f"{box} outside page")
    return page_ix, rect


def _inherited(page, key):
    while page is not None:
        page = page.get_object()
        if key in page:
            return page[key]
        page = page["/Parent"] if "/Parent" in page else None
    raise SigningError("pdf_corrupt", f"page without {key}")


def _png(data: bytes) -> Image.Image:
    try:
        img = Image.open(io.BytesIO(data))
        img.load()
    except Exception:  # Pillow raises many types for bad input; all mean "not an image we can use"
        raise SigningError("image_invalid") from None
    return img.convert("RGBA")


def _at_dpi(img: Image.Image, width_pt: float, height_pt: float, dpi: int = 300) -> Image.Image:
    """Scans arrive at 600 dpi or more; 300 dpi at the printed size is print quality and keeps PDFs small."""
    w, h = max(1, round(width_pt / 72 * dpi)), max(1, round(height_pt / 72 * dpi))
    return img.resize((w, h), Image.LANCZOS) if img.width > w * 1.1 else img


class _LoadedKeySigner(signers.SimpleSigner):
    """pyHanko re-parses and re-validates the RSA key for every raw signature (~35 ms, twice per PDF).

    The key is already a validated `cryptography` object, so RSA PKCS#1 v1.5 and ECDSA use it directly.
    """

    def __init__(self, key, **kwargs):
        super().__init__(**kwargs)
        self._key = key

    def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
        try:
            algo = self.get_signature_mechanism_for_digest(digest_algorithm).signature_algo
        except ValueError:
            algo = None
        digest = get_pyca_cryptography_hash(digest_algorithm)
        if algo == "rsassa_pkcs1v15" and isinstance(self._key, rsa.RSAPrivateKey):
            return self._key.sign(data, padding.PKCS1v15(), digest)
        if algo == "ecdsa" and isinstance(self._key, ec.EllipticCurvePrivateKey):
            return self._key.sign(data, ec.ECDSA(digest))
        return super().sign_raw(data, digest_algorithm)


def _pyhanko_signer(signer: Signer) -> signers.SimpleSigner:
    def conv(cert):
        return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))

    der = signer.key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption())  # stays in memory, handed to pyHanko
    return _LoadedKeySigner(signer.key, signing_cert=conv(signer.cert), signing_key=asn1_keys.PrivateKeyInfo.load(der),
                            cert_registry=SimpleCertificateStore.from_certs([conv(c) for c in signer.chain]))


class _ClockedPdfSigner(signers.PdfSigner):
    """pyHanko reads the wall clock for /M and the CMS; the workflow's clock must win (tests, replay)."""

    def __init__(self, *args, signing_time: datetime, **kwargs):
        super().__init__(*args, **kwargs)
        self._signing_time = signing_time

    def init_signing_session(self, pdf_out, existing_fields_only=False):
        session = super().init_signing_session(pdf_out, existing_fields_only=existing_fields_only)
        session.system_time = self._signing_time
        return session


def _timestamper(tsa_url, timestamper):
    if timestamper is not None:
        return timestamper
    if tsa_url:
        from pyhanko.sign.timestamps.requests_client import HTTPTimeStamper

        return HTTPTimeStamper(tsa_url, timeout=15)
    return None


def _sign(writer, signer: Signer, field_name, page_ix, rect, style, at, *, reason, tsa_url=None,
          timestamper=None) -> bytes:
    meta = signers.PdfSignatureMetadata(field_name=field_name, md_algorithm="sha256",
                                        subfilter=fields.SigSeedSubFilter.PADES, reason=reason)
    spec = fields.SigFieldSpec(sig_field_name=field_name, on_page=page_ix, box=tuple(rect))
    pdf_signer = _ClockedPdfSigner(meta, _pyhanko_signer(signer), timestamper=_timestamper(tsa_url, timestamper),
                                   stamp_style=style, new_field_spec=spec, signing_time=at)
    try:
        out = pdf_signer.sign_pdf(writer)
    except TimestampRequestError as exc:
        raise SigningError("tsa_failed", str(exc)[:200]) from None
    except (PdfError, ValueError, OSError, KeyError, TypeError) as exc:
        # pyHanko's own SigningError derives from PdfError: field clashes, DocMDP locks, bad objects
        raise SigningError("sign_failed", str(exc)[:200]) from None
    return out.getvalue()


def _unique_field(writer, base: str) -> str:
    names = {str(f.get_object().get("/T")) for f in _fields(writer)}
    n = 1
    while f"{base}{n}" in names:
        n += 1
    return f"{base}{n}"


def _fields(writer) -> list:
    form = writer.root.get("/AcroForm")
    return list(form.get_object().get("/Fields", [])) if form is not None else []


# ---- appearance of the person's block ---------------------------------------------------------

def _text_ops(engine, font_res: str, size: float, text: str, cx: float, baseline: float) -> bytes:
    shaped = engine.shape(text)
    x = cx - shaped.x_advance * size / 2
    return b"BT /%s %g Tf %g %g Td %s ET" % (font_res.encode(), size, x, baseline, shaped.graphics_ops)


@dataclass(frozen=True)
class _BlockStyle(BaseStampStyle):
    """Title line(s), the signature image, then the name — centred, as on paper."""

    title_lines: tuple[str, ...] = ()
    name: str = ""
    image: object = None
    font_size: float = 13
    draw_text: bool = True
    border_width: int = 0

    def create_stamp(self, writer, box, text_params):
        return _BlockStamp(writer=writer, style=self, box=box)


class _BlockStamp(BaseStamp):
    def _render_inner_content(self):
        st, w, h = self.style, self.box.width, self.box.height
        lead = st.font_size * 1.25
        top_h = len(st.title_lines) * lead + 3 if st.draw_text else 0
        bottom_h = lead + 3 if st.draw_text else 0
        cmds = [b"q 0 g"]
        if st.draw_text:
            engine = font("Bold").create_font_engine(self.writer)
            engine.font_size = st.font_size
            self.set_resource(ResourceType.FONT, pdf_name("/FVB"), engine.as_resource())
            for i, line in enumerate(st.title_lines):
                cmds.append(_text_ops(engine, "FVB", st.font_size, line, w / 2, h - (i + 1) * lead))
            cmds.append(_text_ops(engine, "FVB", st.font_size, st.name, w / 2, st.font_size * 0.3))
        # Signature image: as large as the middle band allows, aspect kept, centred both ways.
        band_w, band_h = w - 4, h - top_h - bottom_h - 4
        img = st.image
        scale = min(band_w / img.width, band_h / img.height)
        iw, ih = img.width * scale, img.height * scale
        img = _at_dpi(img, iw, ih)
        ix, iy = (w - iw) / 2, bottom_h + 2 + (band_h - ih) / 2
        pdf_img = PdfImage(img, writer=self.writer, box=layout.BoxConstraints(iw, ih))
        drawn = pdf_img.render()
        self.import_resources(pdf_img.resources)
        # A content-stream comment records where the image sits, so the seal can find it later.
        cmds.append(b"Q\n%% vanban-image %.2f %.2f %.2f %.2f\nq 1 0 0 1 %g %g cm %s Q"
                    % (ix, iy, iw, ih, ix, iy, drawn))
        return cmds


def _title_lines(prefix: str | None, title: str, on_behalf_of: str | None) -> tuple[str, ...]:
    if prefix is not None and prefix not in PREFIXES:
        raise SigningError("authority_prefix_invalid", prefix)
    title = title.strip().upper()
    if prefix is None:
        return (title,)
    if prefix == "Q.":
        return (f"Q. {title}",)  # acting head: one line, "Q. CHỦ TỊCH"
    if not on_behalf_of:
        raise SigningError("authority_prefix_invalid", f"{prefix} needs on_behalf_of")
    return (f"{prefix} {on_behalf_of.strip().upper()}", title)


def _auto_box(writer, w_mm: float, h_mm: float) -> Box:
    """Right column of the last page, just under the lowest line of text (where the block belongs)."""
    from pypdf import PdfReader

    def visit(text, cm, tm, font, size):
        if text.strip():
            lowest.append(tm[4] * cm[1] + tm[5] * cm[3] + cm[5])

    try:
        page = PdfReader(writer.input_stream).pages[-1]
        _, _, x1, y1 = [float(v) for v in page.mediabox]
        lowest = [y1 - 20 * MM]
        page.extract_text(visitor_text=visit)
    except Exception as exc:  # pypdf has many error types for broken content; all mean "corrupt"
        raise SigningError("pdf_corrupt", str(exc)[:200]) from None
    top_mm = (y1 - min(lowest)) / MM + 6
    if top_mm + h_mm > y1 / MM - 15:
        raise SigningError("layout_invalid", "no room for the signature block on the last page; pass box=")
    return Box(-1, x1 / MM - 20 - w_mm, top_mm, w_mm, h_mm)


def _add_issue_field(writer, name: str, box: Box) -> None:
    """An empty, read-only text field: ISO 32000 lets a later revision fill it without breaking signatures."""
    page_ix, rect = _page_rect(writer, box)
    page_ref, _ = writer.find_page_for_modification(page_ix)
    blank = generic.StreamObject({pdf_name("/Type"): pdf_name("/XObject"), pdf_name("/Subtype"): pdf_name("/Form"),
                                  pdf_name("/BBox"): generic.ArrayObject([generic.FloatObject(0)] * 2 + [
                                      generic.FloatObject(rect[2] - rect[0]), generic.FloatObject(rect[3] - rect[1])])},
                                 stream_data=b"")
    widget = generic.DictionaryObject({
        pdf_name("/Type"): pdf_name("/Annot"), pdf_name("/Subtype"): pdf_name("/Widget"),
        pdf_name("/FT"): pdf_name("/Tx"), pdf_name("/T"): generic.pdf_string(name),
        pdf_name("/Ff"): generic.NumberObject(1), pdf_name("/F"): generic.NumberObject(4),
        pdf_name("/Rect"): generic.ArrayObject([generic.FloatObject(v) for v in rect]),
        pdf_name("/P"): page_ref, pdf_name("/DA"): generic.pdf_string("/Helv 13 Tf 0 g"),
        pdf_name("/AP"): generic.DictionaryObject({pdf_name("/N"): writer.add_object(blank)}),
    })
    ref = writer.add_object(widget)
    page = page_ref.get_object()
    if "/Annots" in page:
        annots = page["/Annots"]
        if isinstance(annots, generic.IndirectObject):
            writer.mark_update(annots)
            annots = annots.get_object()
        else:
            writer.update_container(page)
        annots.append(ref)
    else:
        page[pdf_name("/Annots")] = generic.ArrayObject([ref])
        writer.update_container(page)
    _acroform(writer)["/Fields"].append(ref)


def _acroform(writer) -> generic.DictionaryObject:
    root = writer.root
    if "/AcroForm" not in root:
        root[pdf_name("/AcroForm")] = writer.add_object(generic.DictionaryObject({
            pdf_name("/Fields"): generic.ArrayObject()}))
        writer.update_root()
    form_ref = root.raw_get("/AcroForm")
    if isinstance(form_ref, generic.IndirectObject):
        writer.mark_update(form_ref)
    else:
        writer.update_root()
    form = form_ref.get_object()
    if "/DR" not in form:
        helv = generic.DictionaryObject({pdf_name("/Type"): pdf_name("/Font"), pdf_name("/Subtype"): pdf_name("/Type1"),
                                         pdf_name("/BaseFont"): pdf_name("/Helvetica"),
                                         pdf_name("/Encoding"): pdf_name("/WinAnsiEncoding")})
        form[pdf_name("/DR")] = generic.DictionaryObject({pdf_name("/Font"): generic.DictionaryObject(
            {pdf_name("/Helv"): writer.add_object(helv)})})
    return form


@_hostile_input
def sign_as_person(pdf_bytes: bytes, signer: Signer, *, title: str, full_name: str, signature_png: bytes,
                   authority_prefix: str | None = None, on_behalf_of: str | None = None,
                   box: Box | None = None, at: datetime | None = None, issue_fields: bool = True,
                   number_box: Box = DEFAULT_NUMBER_BOX, date_box: Box = DEFAULT_DATE_BOX,
                   draw_text: bool = True, tsa_url: str | None = None, timestamper=None) -> bytes:
    """The competent person's signature (người có thẩm quyền ký).

    `authority_prefix` is TM./KT./TL./TUQ. with `on_behalf_of` (e.g. KT. + "Chủ tịch" over "Phó Chủ tịch"),
    Q. (acting, one line) or None. `box` defaults to the right column under the last text line.
    `draw_text=False` draws only the image, for templates that already print title and name.
    """
    at = _at(at)
    signer.check_usable(at)
    lines = _title_lines(authority_prefix, title, on_behalf_of)
    image = _png(signature_png)
    writer = _writer(pdf_bytes)
    box = box or _auto_box(writer, 80, 50 if len(lines) > 1 else 45)
    page_ix, rect = _page_rect(writer, box)
    if issue_fields:
        existing = {str(f.get_object().get("/T")) for f in _fields(writer)}
        for name, fbox in ((NUMBER_FIELD, number_box), (DATE_FIELD, date_box)):
            if name not in existing:
                _add_issue_field(writer, name, fbox)
    style = _BlockStyle(title_lines=lines, name=full_name.strip(), image=image, draw_text=draw_text)
    reason = " ".join(lines) + " — " + full_name.strip()
    return _sign(writer, signer, _unique_field(writer, PERSON_FIELD), page_ix, rect, style, at,
                 reason=reason, tsa_url=tsa_url, timestamper=timestamper)


# ---- the văn thư: number, date and the agency seal ------------------------------------------------

# Notations keep the decree's mixed case (TTr, CTr, QyĐ): Phụ lục III abbreviations are not all upper case.
NUMBER_RE = re.compile(r"^\d{1,6}(/\d{4})?/[0-9A-Za-zĐđ]+(-[0-9A-Za-zĐđ]+)*$")


def issue_date_text(issued_at: datetime, place: str | None) -> str:
    """NĐ 30/2020 Phụ lục I: days below 10 and months 1–2 get a leading zero ("ngày 05 tháng 02")."""
    d = issued_at.astimezone(VN_TZ)
    month = f"{d.month:02d}" if d.month < 3 else str(d.month)
    text = f"ngày {d.day:02d} tháng {month} năm {d.year}"
    return f"{place.strip()}, {text}" if place else text[0].upper() + text[1:]


def _fill_field(writer, field_ref, text: str, font_style: str, size: float) -> None:
    fld = field_ref.get_object()
    x1, y1, x2, y2 = [float(v) for v in fld["/Rect"]]
    w, h = abs(x2 - x1), abs(y2 - y1)
    engine = font(font_style).create_font_engine(writer)
    engine.font_size = size
    ops = b"/Tx BMC q 0 g " + _text_ops(engine, "FV", size, text, w / 2, (h - size * 0.66) / 2) + b" Q EMC"
    resources = generic.DictionaryObject({pdf_name("/Font"): generic.DictionaryObject(
        {pdf_name("/FV"): engine.as_resource()})})
    xobj = generic.StreamObject({pdf_name("/Type"): pdf_name("/XObject"), pdf_name("/Subtype"): pdf_name("/Form"),
                                 pdf_name("/BBox"): generic.ArrayObject([generic.FloatObject(v) for v in (0, 0, w, h)]),
                                 pdf_name("/Resources"): resources}, stream_data=ops)
    writer.mark_update(field_ref)
    fld[pdf_name("/V")] = generic.pdf_string(text)
    fld[pdf_name("/AP")] = generic.DictionaryObject({pdf_name("/N"): writer.add_object(xobj)})


def _field_refs(writer) -> dict[str, object]:
    return {str(ref.get_object().get("/T")): ref for ref in _fields(writer)}


def _page_index_of(writer, page_ref) -> int:
    for i in range(int(writer.root["/Pages"]["/Count"])):
        if writer.find_page_for_modification(i)[0].idnum == page_ref.idnum:
            return i
    raise SigningError("pdf_corrupt", "widget on no page")


def _person_image_rect(writer) -> tuple[int, list[float]]:
    """Where the signer's image is drawn: from our marker in the appearance, else the middle of the widget."""
    sig_fields = [r for r in _fields(writer) if r.get_object().get("/FT") == "/Sig" and "/V" in r.get_object()]
    if not sig_fields:
        raise SigningError("pdf_not_signed")
    ours = [r for r in sig_fields if str(r.get_object().get("/T", "")).startswith(PERSON_FIELD)]
    fld = (ours or sig_fields)[-1].get_object()
    x1, y1, x2, y2 = [float(v) for v in fld["/Rect"]]
    page_ix = _page_index_of(writer, fld.raw_get("/P"))
    try:
        mark = IMAGE_MARK.search(fld["/AP"]["/N"].data)
    except (KeyError, AttributeError, TypeError):
        mark = None
    if mark:
        ix, iy, iw, ih = (float(v) for v in mark.groups())
        return page_ix, [x1 + ix, y1 + iy, x1 + ix + iw, y1 + iy + ih]
    w, h = x2 - x1, y2 - y1
    return page_ix, [x1 + w * 0.2, y1 + h * 0.3, x2 - w * 0.2, y2 - h * 0.3]


def _seal_rect(writer, seal_mm: float) -> tuple[int, list[float]]:
    """The seal covers the left third of the signer's image (Phụ lục I), centred on it vertically."""
    page_ix, (ix1, iy1, ix2, iy2) = _person_image_rect(writer)
    d = seal_mm * MM
    right = ix1 + (ix2 - ix1) / 3
    cy = (iy1 + iy2) / 2
    rect = [right - d, cy - d / 2, right, cy + d / 2]
    page_ref, _ = writer.find_page_for_modification(page_ix)
    px0, py0, px1, py1 = [float(v) for v in _inherited(page_ref.get_object(), "/MediaBox")]
    if rect[0] < px0 or rect[1] < py0 or rect[3] > py1:
        raise SigningError("layout_invalid", "seal would fall off the page")
    return page_ix, rect


@_hostile_input
def apply_agency_seal(signed_pdf_bytes: bytes, seal_signer: Signer, seal_png: bytes, *, number_notation: str,
                      issued_at: datetime, place: str | None = None, seal_mm: float = SEAL_MM,
                      tsa_url: str | None = None, timestamper=None) -> bytes:
    """The agency signature (chữ ký số của cơ quan) after number and time are assigned.

    One incremental update fills the number and date fields the person's revision created and adds
    the seal signature; the person's signature therefore stays valid (form filling is permitted).
    """
    if not NUMBER_RE.match(number_notation or ""):
        raise SigningError("number_invalid", number_notation)
    at = _at(issued_at)
    seal_signer.check_usable(at)
    image = _png(seal_png)
    writer = _writer(signed_pdf_bytes)
    page_ix, rect = _seal_rect(writer, seal_mm)
    refs = _field_refs(writer)
    if NUMBER_FIELD not in refs or DATE_FIELD not in refs:
        raise SigningError("issue_fields_missing")
    _fill_field(writer, refs[NUMBER_FIELD], f"Số: {number_notation}", "Regular", 13)
    _fill_field(writer, refs[DATE_FIELD], issue_date_text(at, place), "Italic", 13)
    # Image boxed a hair under the field so pyHanko's layout never rounds it "too wide".
    side = rect[2] - rect[0] - 0.01
    image = _at_dpi(image, side, side)
    style = StaticStampStyle(background=PdfImage(image, box=layout.BoxConstraints(side, side)), border_width=0,
                             background_opacity=1.0, background_layout=layout.SimpleBoxLayoutRule(
                                 x_align=layout.AxisAlignment.ALIGN_MID, y_align=layout.AxisAlignment.ALIGN_MID,
                                 margins=layout.Margins(), inner_content_scaling=layout.InnerScaling.NO_SCALING))
    return _sign(writer, seal_signer, _unique_field(writer, SEAL_FIELD), page_ix, rect, style, at,
                 reason=f"Phát hành văn bản số {number_notation}", tsa_url=tsa_url, timestamper=timestamper)


@_hostile_input
def stamp_attachment(pdf_bytes: bytes, seal_signer: Signer, *, number_notation: str, signed_at: datetime,
                     tsa_url: str | None = None, timestamper=None) -> bytes:
    """Agency signature on an attachment file: top-right of page 1, no image, black Times 10 (Phụ lục I)."""
    if not NUMBER_RE.match(number_notation or ""):
        raise SigningError("number_invalid", number_notation)
    at = _at(signed_at)
    seal_signer.check_usable(at)
    writer = _writer(pdf_bytes)
    # Inside the 20 mm top margin, flush with the 15 mm right margin: never covers the body text.
    page_ref, _ = writer.find_page_for_modification(0)
    width_mm = float(_inherited(page_ref.get_object(), "/MediaBox")[2]) / MM
    page_ix, rect = _page_rect(writer, Box(0, width_mm - 15 - 60, 7, 60, 11))
    text = f"{number_notation}\n{at.isoformat(timespec='seconds')}".replace("%", "%%")
    right_top = layout.SimpleBoxLayoutRule(x_align=layout.AxisAlignment.ALIGN_MAX,
                                           y_align=layout.AxisAlignment.ALIGN_MAX, margins=layout.Margins())
    style = TextStampStyle(stamp_text=text, border_width=0, inner_content_layout=right_top,
                           text_box_style=TextBoxStyle(font=font("Regular", 10),
                                                       font_size=10, leading=12, text_color=(0, 0, 0),
                                                       box_layout_rule=right_top))
    return _sign(writer, seal_signer, _unique_field(writer, ATTACHMENT_FIELD), page_ix, rect, style, at,
                 reason=f"Phát hành kèm văn bản số {number_notation}", tsa_url=tsa_url, timestamper=timestamper)


# ---- verification -----------------------------------------------------------------------------------

# Revocations that say nothing against the key: a signature made before them keeps its value even
# without a trusted timestamp (RFC 5280 5.3.1 reason codes).
BENIGN_REASONS = {x509.ReasonFlags.superseded, x509.ReasonFlags.cessation_of_operation,
                  x509.ReasonFlags.affiliation_changed}
PROBLEMS = {
    "not_intact": "Nội dung đã bị sửa sau khi ký (chữ ký không khớp).",
    "modified_after_signing": "Văn bản có thay đổi không được phép sau khi ký.",
    "untrusted": "Chứng thư số không chuỗi được tới CA gốc tin cậy.",
    "expired": "Chứng thư số không còn hiệu lực tại thời điểm ký.",
    "revoked": "Chứng thư số đã bị thu hồi trước thời điểm ký.",
    "revoked_after_signing": "Chứng thư số bị thu hồi sau khi ký; không có dấu thời gian tin cậy để xác nhận.",
    "unreadable": "Không đọc được chữ ký.",
}


@dataclass
class SignatureReport:
    field_name: str
    signer_common_name: str | None = None
    agency_code: str | None = None
    organization: str | None = None
    serial: str | None = None
    signing_time: datetime | None = None  # claimed by the signer (/M), the only time in PAdES B-B
    timestamp_time: datetime | None = None  # from a TSA token (PAdES B-T), trusted when chain_trusted
    intact: bool = False  # covered bytes unchanged and the CMS signature checks
    chain_trusted: bool = False
    chain: list[str] = field(default_factory=list)  # common names, signer first, root last
    chain_reason: str | None = None
    valid_at_signing_time: bool = False
    revoked: bool = False
    revoked_at: datetime | None = None
    revocation_reason: str | None = None
    coverage: str = "unclear"  # entire_file | entire_revision | unclear
    modified_after_signing: bool = True
    modification_level: str | None = None
    verdict: str = "invalid"  # valid | invalid | untrusted | indeterminate
    problems: list[str] = field(default_factory=list)

    @property
    def messages(self) -> list[str]:
        return [PROBLEMS[p] for p in self.problems]


@dataclass
class VerificationReport:
    signatures: list[SignatureReport]
    verdict: str  # valid | invalid | untrusted | indeterminate | unsigned

    @property
    def valid(self) -> bool:
        return self.verdict == "valid"


def _reader(pdf_bytes: bytes) -> PdfFileReader:
    try:
        reader = PdfFileReader(io.BytesIO(pdf_bytes), strict=False)
        encrypted = reader.encrypted
    except Exception as exc:  # hostile input: any parse failure is "corrupt", never a crash
        raise SigningError("pdf_corrupt", str(exc)[:200]) from None
    if encrypted:
        raise SigningError("pdf_encrypted")
    return reader


def verify_pdf(pdf_bytes: bytes, *, trust=None, trust_roots=(), crls=(), other_certs=(),
               at: datetime | None = None) -> VerificationReport:
    """Check every signature. `trust` is a pki.TrustStore; or pass roots/CRLs/intermediates directly.

    Each signature is judged at `at` if given, else at its own signing time (TSA time when present):
    "was the certificate good when this was signed". Revocation comes only from the CRLs given.
    """
    if trust is None:
        trust = TrustStore(tuple(trust_roots), tuple(other_certs), tuple(crls))
    reader = _reader(pdf_bytes)
    try:
        embedded = list(reader.embedded_regular_signatures)
    except Exception as exc:  # a broken AcroForm is as bad as a broken file
        raise SigningError("pdf_corrupt", str(exc)[:200]) from None
    reports = [_verify_one(emb, trust, at) for emb in embedded]
    if not reports:
        return VerificationReport([], "unsigned")
    order = ["valid", "indeterminate", "untrusted", "invalid"]
    return VerificationReport(reports, max((r.verdict for r in reports), key=order.index))


def _asn1(cert: x509.Certificate):
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def _verify_one(emb, trust, at: datetime | None) -> SignatureReport:
    rep = SignatureReport(field_name=str(emb.field_name))
    try:
        cert = x509.load_der_x509_certificate(emb.signer_cert.dump())
        rep.signer_common_name, rep.agency_code = common_name_of(cert), agency_code_of(cert)
        orgs = cert.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)
        rep.organization = str(orgs[0].value) if orgs else None
        rep.serial = f"{cert.serial_number:x}"
        rep.signing_time = emb.self_reported_timestamp
        moment = at or rep.signing_time or datetime.now(UTC)
        ctx = ValidationContext(trust_roots=[_asn1(c) for c in trust.roots],
                                other_certs=[_asn1(c) for c in trust.intermediates], moment=moment,
                                allow_fetching=False, revocation_mode="soft-fail")
        usage = KeyUsageConstraints(key_usage={"non_repudiation", "digital_signature"}, match_all_key_usages=False)
        status = validate_pdf_signature(emb, ctx, key_usage_settings=usage)
    except Exception as exc:  # hostile input: report the signature as unreadable, keep checking others
        rep.problems.append("unreadable")
        rep.chain_reason = str(exc)[:200]
        return rep
    if status.timestamp_validity is not None and status.timestamp_validity.trusted:
        rep.timestamp_time = status.timestamp_validity.timestamp
        moment = at or rep.timestamp_time
    rep.intact = bool(status.intact and status.valid)
    path = status.validation_path
    rep.chain_trusted = path is not None and status.trust_problem_indic is None
    chain = list(path.iter_certs(include_root=True)) if path is not None else []
    rep.chain = [common_name_of(x509.load_der_x509_certificate(c.dump())) for c in reversed(chain)]
    rep.chain_reason = None if rep.chain_trusted else (
        status.trust_problem_indic.name if status.trust_problem_indic else "NO_CHAIN")
    rep.valid_at_signing_time = cert.not_valid_before_utc <= moment <= cert.not_valid_after_utc
    rep.coverage = status.coverage.name.lower() if status.coverage else "unclear"
    level = status.modification_level
    rep.modification_level = level.name.lower() if level is not None else None
    # Later signatures, DSS updates and filling the number/date fields are allowed (FORM_FILLING);
    # anything else — new page content, annotations, changed objects — counts as a modification.
    rep.modified_after_signing = rep.coverage != "entire_file" and (
        level is None or level > ModificationLevel.FORM_FILLING or status.docmdp_ok is False)
    _revocation(rep, [cert] + [x509.load_der_x509_certificate(c.dump()) for c in chain[:-1]], trust, moment)
    _judge(rep)
    return rep


def _revocation(rep: SignatureReport, certs, trust, moment: datetime) -> None:
    for cert in certs:
        entry = trust.revocation_of(cert)
        if entry is None:
            continue
        rep.revoked, rep.revoked_at = True, entry.revocation_date_utc
        try:
            reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
        except x509.ExtensionNotFound:
            reason = x509.ReasonFlags.unspecified
        rep.revocation_reason = reason.name
        if entry.revocation_date_utc <= moment:
            rep.problems.append("revoked")
        elif reason not in BENIGN_REASONS and rep.timestamp_time is None:
            rep.problems.append("revoked_after_signing")
        return


def _judge(rep: SignatureReport) -> None:
    if not rep.intact:
        rep.problems.insert(0, "not_intact")
    if rep.modified_after_signing:
        rep.problems.append("modified_after_signing")
    if not rep.valid_at_signing_time:
        rep.problems.append("expired")
    if not rep.chain_trusted and "expired" not in rep.problems:
        rep.problems.append("untrusted")
    hard = {"not_intact", "modified_after_signing", "expired", "revoked", "unreadable"}
    if hard & set(rep.problems):
        rep.verdict = "invalid"
    elif "untrusted" in rep.problems:
        rep.verdict = "untrusted"
    elif rep.problems:
        rep.verdict = "indeterminate"
    else:
        rep.verdict = "valid"
