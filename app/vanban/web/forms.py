"""Reading request bodies: urlencoded forms, multipart with streamed files, JSON."""
from __future__ import annotations

import falcon
from falcon.util.uri import parse_query_string

from ..core.incoming import accept_upload, discard_uploads
from .middleware import check_form_csrf


class FormData(dict):
    """Field name → first value; .getlist(name) → every value (repeated fields, multi-selects)."""

    def __init__(self, pairs):
        super().__init__()
        self._lists: dict[str, list[str]] = {}
        for key, value in pairs:
            self._lists.setdefault(key, []).append(value)
            self.setdefault(key, value)

    def getlist(self, key) -> list[str]:
        return self._lists.get(key, [])


def read_form(req, ctx, *, files_field="files"):
    form, uploads = _read_form(req, ctx, files_field)
    try:
        check_form_csrf(req, form.get("csrf_token"))
    except BaseException:
        discard_uploads(uploads)
        raise
    return form, uploads


def _read_form(req, ctx, files_field):
    """Returns (FormData, uploads). Files are streamed to disk, checked and scanned as they arrive; on any
    error the ones already staged are removed before the error propagates."""
    ctype = (req.content_type or "").split(";")[0].strip().lower()
    max_bytes = ctx.settings.max_upload_mb * 1024 * 1024
    if ctype == "multipart/form-data":
        pairs, uploads = [], []
        try:
            for part in req.get_media():
                # part.filename is the name as sent (not Falcon's secure_filename rewrite): a name such as
                # "../../x.pdf" is refused with a message by core.files.clean_filename, not silently renamed.
                if part.filename is not None and part.name == files_field:
                    if part.filename == "":
                        continue  # an empty file input
                    check_form_csrf(req, next((v for k, v in pairs if k == "csrf_token"), ""))
                    uploads.append(accept_upload(ctx, part.filename, part.stream, max_bytes))
                elif part.filename is None:
                    pairs.append((part.name, part.get_text() or ""))
        except falcon.MediaMalformedError as exc:
            discard_uploads(uploads)
            raise falcon.HTTPBadRequest(title="Dữ liệu gửi lên không hợp lệ", description="malformed_form") from exc
        except BaseException:
            discard_uploads(uploads)
            raise
        return FormData(pairs), uploads
    if ctype == "application/x-www-form-urlencoded":
        body = req.bounded_stream.read().decode("utf-8", "replace")
        parsed = parse_query_string(body, keep_blank=True, csv=False)
        pairs = [(k, v) for k, vals in parsed.items() for v in (vals if isinstance(vals, list) else [vals])]
        return FormData(pairs), []
    if ctype == "application/json":
        media = req.get_media()
        if not isinstance(media, dict):
            raise falcon.HTTPBadRequest(title="JSON phải là một đối tượng")
        return media, []
    return FormData([]), []
