"""Demo and test images: a blue handwritten-looking signature and a red round seal (Pillow).

Real agencies upload scans of their own signature and seal; these stand-ins let `vanban demo` and
the tests show what NĐ 30/2020 Phụ lục I asks for: blue signature, red seal, transparent PNGs.
"""

from __future__ import annotations

import functools
import hashlib
import io
import math
import random
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

# Times New Roman stand-in (TCVN 6909 Unicode, NĐ 30 Phụ lục I). Debian's fonts-liberation (1.07)
# lacks most Vietnamese letters (ủ, ệ, ư, ơ...); fonts-liberation2 has them, so it comes first.
FONT_DIRS = ("/usr/share/fonts/truetype/liberation2", "/usr/share/fonts/truetype/liberation")
FALLBACK = {"Regular": "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf",
            "Bold": "/usr/share/fonts/truetype/dejavu/DejaVuSerif-Bold.ttf"}
SIGNATURE_BLUE = (20, 50, 190)
SEAL_RED = (218, 30, 40)
# Drawn larger then reduced: Pillow has no anti-aliased thick lines, downsampling gives smooth edges.
SUPERSAMPLE = 3


def font_path(style: str = "Regular") -> str:
    """Path of Liberation Serif `style` (Regular, Bold, Italic, BoldItalic) with Vietnamese glyphs."""
    for folder in FONT_DIRS:
        path = Path(folder) / f"LiberationSerif-{style}.ttf"
        if path.exists() and _has_vietnamese(str(path)):
            return str(path)
    return FALLBACK.get(style, FALLBACK["Regular"])


@functools.lru_cache(maxsize=8)
def _has_vietnamese(path: str) -> bool:
    from fontTools.ttLib import TTFont

    cmap = TTFont(path, lazy=True).getBestCmap()
    return all(ord(c) in cmap for c in "ủệươỹĐ")


def _png(img: Image.Image) -> bytes:
    out = io.BytesIO()
    img.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _bezier(p0, p1, p2, p3, steps=40):
    for i in range(steps + 1):
        t = i / steps
        u = 1 - t
        yield (u ** 3 * p0[0] + 3 * u * u * t * p1[0] + 3 * u * t * t * p2[0] + t ** 3 * p3[0],
               u ** 3 * p0[1] + 3 * u * u * t * p1[1] + 3 * u * t * t * p2[1] + t ** 3 * p3[1])


def signature_png(name: str, *, width: int = 600, height: int = 240) -> bytes:
    """A deterministic scribble for `name`: loops across the width and an underline flourish."""
    rng = random.Random(hashlib.sha256(name.encode("utf-8")).digest())
    s = SUPERSAMPLE
    img = Image.new("RGBA", (width * s, height * s), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    mid = height * s * 0.5
    x = width * s * 0.08
    points = [(x, mid)]
    loops = 5 + len(name) % 3
    step = width * s * 0.78 / loops
    for _ in range(loops):
        up = mid - rng.uniform(0.25, 0.42) * height * s
        down = mid + rng.uniform(0.05, 0.2) * height * s
        end = (x + step, mid + rng.uniform(-0.08, 0.08) * height * s)
        points += list(_bezier(points[-1], (x + step * 0.2, up), (x + step * 1.1, down), end))[1:]
        x += step
    flourish = list(_bezier(points[-1], (width * s * 0.95, mid + height * s * 0.35),
                            (width * s * 0.2, mid + height * s * 0.42), (width * s * 0.1, mid + height * s * 0.3)))
    for stroke, w in ((points, 5), (flourish[1:], 3)):
        draw.line(stroke, fill=SIGNATURE_BLUE + (255,), width=w * s, joint="curve")
    return _png(img.resize((width, height), Image.LANCZOS))


def _text_on_circle(img, text, font, radius, centre, colour, *, bottom=False):
    """Letters spread on an arc: top arc reads clockwise, bottom arc reads left to right upright."""
    span = math.radians(240 if not bottom else 80)
    n = max(len(text), 1)
    for i, ch in enumerate(text):
        frac = (i + 0.5) / n
        if bottom:
            angle = math.pi / 2 + span / 2 - frac * span  # from lower-left to lower-right
            rotation = math.degrees(math.pi / 2 - angle)
        else:
            angle = -math.pi / 2 - span / 2 + frac * span  # from left, over the top, to the right
            rotation = -math.degrees(angle + math.pi / 2)
        box = font.getbbox(ch)
        w, h = box[2] - box[0] + 4, box[3] + 4
        glyph = Image.new("RGBA", (w, h), (0, 0, 0, 0))
        ImageDraw.Draw(glyph).text((2 - box[0], 2), ch, font=font, fill=colour + (255,))
        glyph = glyph.rotate(rotation, resample=Image.BICUBIC, expand=True)
        gx = centre + radius * math.cos(angle) - glyph.width / 2
        gy = centre + radius * math.sin(angle) - glyph.height / 2
        img.alpha_composite(glyph, (int(gx), int(gy)))


def _star(draw, centre, r_outer, colour):
    points = []
    for k in range(10):
        r = r_outer if k % 2 == 0 else r_outer * 0.4
        a = -math.pi / 2 + k * math.pi / 5
        points.append((centre + r * math.cos(a), centre + r * math.sin(a)))
    draw.polygon(points, fill=colour + (255,))


def seal_png(agency_name: str, *, place: str = "", diameter: int = 600) -> bytes:
    """A red round seal: double ring, agency name on the upper arc, place on the lower arc, a star."""
    d = diameter * SUPERSAMPLE
    img = Image.new("RGBA", (d, d), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    c = d / 2
    ring = d * 0.025
    draw.ellipse((ring, ring, d - ring, d - ring), outline=SEAL_RED + (255,), width=int(ring * 1.4))
    inner = d * 0.2
    draw.ellipse((inner, inner, d - inner, d - inner), outline=SEAL_RED + (255,), width=int(ring * 0.6))
    size = int(d * 0.085) if len(agency_name) <= 28 else int(d * 0.085 * 28 / len(agency_name))
    font = ImageFont.truetype(font_path("Bold"), max(size, 10))
    _text_on_circle(img, agency_name.upper(), font, c - d * 0.115, c, SEAL_RED)
    if place:
        _text_on_circle(img, place.upper(), font, c - d * 0.115, c, SEAL_RED, bottom=True)
    _star(draw, c, d * 0.17, SEAL_RED)
    # Real ink is not fully opaque; 90 % alpha lets the signature show through the overlap.
    alpha = img.getchannel("A").point(lambda v: int(v * 0.9))
    img.putalpha(alpha)
    return _png(img.resize((diameter, diameter), Image.LANCZOS))
