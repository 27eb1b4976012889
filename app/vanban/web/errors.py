"""Domain errors are mapped to HTTP here, once: a Vietnamese page for the browser, {"error": {code, message}}
for the API (STYLE §6)."""
from __future__ import annotations

import logging

import falcon

from ..errors import DomainError

log = logging.getLogger("vanban.web")


def _wants_json(req) -> bool:
    return req.path.startswith("/api/")


def install(app, templates):
    def render(req, resp, status, code, message, field=None):
        resp.status = status
        if _wants_json(req):
            resp.media = {"error": {"code": code, "message": message, **({"field": field} if field else {})}}
        else:
            resp.content_type = falcon.MEDIA_HTML
            resp.text = templates.get_template("error.html").render(
                status=status, message=message, code=code, user=req.context.get("user"),
                csrf=_csrf(req))

    def domain_error(req, resp, ex, params):
        render(req, resp, ex.status, ex.code, ex.message, ex.field)

    def http_error(req, resp, ex, params):
        for key, value in (ex.headers or {}).items():
            resp.set_header(key, value)
        code = ex.description if ex.description and " " not in ex.description else ex.title
        message = ex.title if ex.description == code else f"{ex.title}: {ex.description}"
        render(req, resp, ex.status_code, _code(code, ex.status_code), message or ex.title)

    def unexpected(req, resp, ex, params):
        log.exception("unhandled error on %s %s", req.method, req.path)
        render(req, resp, 500, "internal_error", "Lỗi hệ thống; thao tác chưa được thực hiện. Báo quản trị.")

    app.add_error_handler(Exception, unexpected)
    app.add_error_handler(falcon.HTTPError, http_error)
    app.add_error_handler(DomainError, domain_error)


def _code(code, status):
    if code and all(c.isalnum() or c in "_:-" for c in code):
        return code
    return {400: "bad_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found",
            405: "method_not_allowed", 413: "too_large", 415: "unsupported_media_type"}.get(status, "error")


def _csrf(req):
    session = req.context.get("session")
    return session.csrf_token if session else ""
