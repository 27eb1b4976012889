"""Upload checks: a safe file name and content that matches its extension."""
from __future__ import annotations

import io
import unicodedata
import zipfile

from ..errors import Rejected

ALLOWED = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "odt": "application/vnd.oasis.opendocument.text",
    "doc": "application/msword",
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "tif": "image/tiff",
    "tiff": "image/tiff",
}
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_MAGIC = {
    "pdf": (b"%PDF-",),
    "png": (b"\x89PNG\r\n\x1a\n",),
    "jpg": (b"\xff\xd8\xff",),
    "jpeg": (b"\xff\xd8\xff",),
    "tif": (b"II*\x00", b"MM\x00*"),
    "tiff": (b"II*\x00", b"MM\x00*"),
    "doc": (_OLE,),
}
_ZIP_MARKERS = {"docx": "word/document.xml", "xlsx": "xl/workbook.xml", "odt": "content.xml"}


def clean_filename(name: str | None) -> str:
    """Refuse names that try to leave the upload (path separators, '..', control characters)."""
    name = unicodedata.normalize("NFC", (name or "").strip())
    if not name:
        raise Rejected("Tệp đính kèm không có tên.", code="filename_missing")
    bad = ("/" in name or "\\" in name or name in (".", "..") or name.startswith(".")
           or any(ord(c) < 32 for c in name) or len(name.encode("utf-8")) > 255)
    if bad:
        raise Rejected(f"Tên tệp không hợp lệ: {name[:80]!r}.", code="filename_invalid")
    return name


def extension(name: str) -> str:
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if ext not in ALLOWED:
        raise Rejected(f"Loại tệp .{ext or '?'} không được chấp nhận (chấp nhận: "
                       f"{', '.join(sorted(ALLOWED))}).", code="file_type_not_allowed")
    return ext


def check_content(ext: str, head: bytes, open_full) -> str:
    """Return the content type when the bytes are what the extension claims; else refuse."""
    if ext in _ZIP_MARKERS:
        if not head.startswith(b"PK\x03\x04"):
            raise _mismatch(ext)
        try:
            with open_full() as fh, zipfile.ZipFile(fh) as zf:
                if _ZIP_MARKERS[ext] not in zf.namelist():
                    raise _mismatch(ext)
        except (zipfile.BadZipFile, OSError):
            raise _mismatch(ext) from None
    elif not any(head.startswith(m) for m in _MAGIC[ext]):
        raise _mismatch(ext)
    return ALLOWED[ext]


def check_bytes(name: str, data: bytes) -> tuple[str, str]:
    name = clean_filename(name)
    ext = extension(name)
    return name, check_content(ext, data[:8192], lambda: io.BytesIO(data))


def _mismatch(ext: str) -> Rejected:
    return Rejected(f"Nội dung tệp không khớp với phần mở rộng .{ext}.", code="file_content_mismatch")
