"""Where things go on the page (NĐ 30/2020 Phụ lục I): boxes in mm, the signature block's place, the
number/date form fields and the seal's position over the signer's image."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name

from .. import SigningError

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


# Notations keep the decree's mixed case (TTr, CTr, QyĐ): Phụ lục III abbreviations are not all upper case.
NUMBER_RE = re.compile(r"^\d{1,6}(/\d{4})?/[0-9A-Za-zĐđ]+(-[0-9A-Za-zĐđ]+)*$")


def issue_date_text(issued_at: datetime, place: str | None) -> str:
    """NĐ 30/2020 Phụ lục I: days below 10 and months 1–2 get a leading zero ("ngày 05 tháng 02")."""
    d = issued_at.astimezone(VN_TZ)
    month = f"{d.month:02d}" if d.month < 3 else str(d.month)
    text = f"ngày {d.day:02d} tháng {month} năm {d.year}"
    return f"{place.strip()}, {text}" if place else text[0].upper() + text[1:]


def _unique_field(writer, base: str) -> str:
    names = {str(f.get_object().get("/T")) for f in _fields(writer)}
    n = 1
    while f"{base}{n}" in names:
        n += 1
    return f"{base}{n}"


def _fields(writer) -> list:
    form = writer.root.get("/AcroForm")
    return list(form.get_object().get("/Fields", [])) if form is not None else []


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
