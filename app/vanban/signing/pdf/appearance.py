"""What signatures look like: the embedded Vietnamese font, images at print resolution, the person's
block (title, image, name) and the text drawn into the number/date fields."""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass

from PIL import Image
from pyhanko.pdf_utils import generic, layout
from pyhanko.pdf_utils.content import ResourceType
from pyhanko.pdf_utils.font.opentype import GlyphAccumulator, GlyphAccumulatorFactory
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.images import PdfImage
from pyhanko.stamp.base import BaseStamp, BaseStampStyle

from .. import SigningError
from ..images import font_path

# fontTools warns on every subset about a table it drops (FFTM); that is noise in the app log.
logging.getLogger("fontTools.subset").setLevel(logging.ERROR)


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
