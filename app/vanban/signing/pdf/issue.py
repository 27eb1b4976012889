"""The three signing acts of issuing a document: the person signs, the văn thư numbers and seals, and
attachments get the agency's text stamp."""

from __future__ import annotations

from datetime import datetime

from pyhanko.pdf_utils import layout
from pyhanko.pdf_utils.images import PdfImage
from pyhanko.pdf_utils.text import TextBoxStyle
from pyhanko.stamp import StaticStampStyle, TextStampStyle

from .. import SigningError
from ..pki import Signer
from .appearance import _at_dpi, _BlockStyle, _fill_field, _png, font
from .engine import _at, _hostile_input, _sign, _writer
from .placement import (
    ATTACHMENT_FIELD,
    DATE_FIELD,
    DEFAULT_DATE_BOX,
    DEFAULT_NUMBER_BOX,
    MM,
    NUMBER_FIELD,
    NUMBER_RE,
    PERSON_FIELD,
    SEAL_FIELD,
    SEAL_MM,
    Box,
    _add_issue_field,
    _auto_box,
    _field_refs,
    _fields,
    _inherited,
    _page_rect,
    _seal_rect,
    _title_lines,
    _unique_field,
    issue_date_text,
)


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


def _seal_time(seal_signer: Signer, number_notation: str, when: datetime) -> datetime:
    """What both agency signatures check first: a well-formed number, and a seal key usable at that time."""
    if not NUMBER_RE.match(number_notation or ""):
        raise SigningError("number_invalid", number_notation)
    at = _at(when)
    seal_signer.check_usable(at)
    return at


@_hostile_input
def apply_agency_seal(signed_pdf_bytes: bytes, seal_signer: Signer, seal_png: bytes, *, number_notation: str,
                      issued_at: datetime, place: str | None = None, seal_mm: float = SEAL_MM,
                      tsa_url: str | None = None, timestamper=None) -> bytes:
    """The agency signature (chữ ký số của cơ quan) after number and time are assigned.

    One incremental update fills the number and date fields the person's revision created and adds
    the seal signature; the person's signature therefore stays valid (form filling is permitted).
    """
    at = _seal_time(seal_signer, number_notation, issued_at)
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
    at = _seal_time(seal_signer, number_notation, signed_at)
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
