"""Per-request plumbing: database connection, session and CSRF, size limit, metrics, security headers."""
from __future__ import annotations

import hmac
import time

import falcon

from ..core import accounts
from ..errors import TooLarge
from ..metrics import LATENCY, REQUESTS
from ..models import database

SESSION_COOKIE = "vb_session"
# /exchange/v1/ is the hub protocol: callers are identified by their TLS client certificate, not a session;
# /ical/ feeds are authorised by the secret address itself (core/feed_tokens.py).
PUBLIC_PREFIXES = ("/login", "/static/", "/healthz", "/metrics", "/api/v1/auth/login", "/api/openapi.json",
                   "/exchange/v1/", "/ical/")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class DatabaseMiddleware:
    """One connection per worker thread, opened on first use and kept: opening SQLite and setting its pragmas
    on every request would cost more than most of the requests themselves."""

    def process_request(self, req, resp):
        database.connect(reuse_if_open=True)

    def process_response(self, req, resp, resource, req_succeeded):
        if not database.is_closed() and database.in_transaction():
            database.rollback()  # never leave a transaction open across requests


class LimitMiddleware:
    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes

    def process_request(self, req, resp):
        # Refuse before reading a byte: a 2 GB upload is turned away on its Content-Length.
        if req.content_length is not None and req.content_length > self.max_bytes:
            raise TooLarge(f"Dữ liệu gửi lên vượt quá giới hạn {self.max_bytes // (1024 * 1024)} MB.",
                           code="request_too_large")
        if req.content_length is None and "chunked" in (req.get_header("Transfer-Encoding") or "").lower():
            # A chunked body has no length to check up front; browsers and the API client always send one.
            raise falcon.HTTPLengthRequired(title="Thiếu Content-Length", description="length_required")


class AuthMiddleware:
    def __init__(self, clock, session_hours: int):
        self.clock = clock
        self.session_hours = session_hours

    def process_request(self, req, resp):
        req.context.user = None
        req.context.session = None
        req.context.bearer = False
        token = None
        auth = req.get_header("Authorization") or ""
        if auth.startswith("Bearer "):
            token, req.context.bearer = auth[7:].strip(), True
        else:
            token = req.cookies.get(SESSION_COOKIE)
        session = self._session(token) if token else None
        if session is not None:
            req.context.session = session
            req.context.user = session.user
            accounts.touch(self.clock.now(), session, self.session_hours)
        if req.path.startswith(PUBLIC_PREFIXES):
            return
        if session is None:
            if req.path.startswith("/api/"):
                raise falcon.HTTPUnauthorized(title="Chưa đăng nhập", description="unauthenticated")
            raise falcon.HTTPSeeOther("/login?next=" + falcon.uri.encode_value(req.relative_uri))
        if req.method not in SAFE_METHODS and not req.context.bearer:
            self._check_csrf(req, session)

    def _session(self, token):
        """The session row with its user and agency. Cached per thread until the database changes (see
        web/cache.py), so a logout, an expiry extension or a switched-off account is seen at once; the expiry
        time itself is compared with the clock on every request."""
        from . import cache

        now = self.clock.now()
        key = ("session", token)
        session = cache.get(key)
        if session is None:
            session = accounts.session_for(now, token)
            if session is None:
                return None
            cache.put(key, session)
        return session if session.expires_at > now.replace(tzinfo=None) else None

    @staticmethod
    def _check_csrf(req, session):
        """Cookie-authenticated writes must echo the session's token (header or form field); bearer-token API
        calls cannot be forged by another site, so they need none."""
        sent = req.get_header("X-CSRF-Token") or req.context.get("csrf_form_token") or ""
        if not sent:
            req.context.csrf_pending = session.csrf_token  # a form field: checked once the form is parsed
            return
        if not hmac.compare_digest(sent, session.csrf_token):
            raise falcon.HTTPForbidden(title="Phiên làm việc không hợp lệ (CSRF)",
                                       description="csrf_invalid")


def check_form_csrf(req, sent):
    """Called by web.forms.read_form for the csrf_token field, and before the first file part (so a forged
    upload is refused before any of it is stored) and at the end of the form (so a form without it fails)."""
    expected = req.context.get("csrf_pending")
    if expected is None:
        return
    sent = str(sent or "")
    if not sent or not hmac.compare_digest(sent, expected):
        raise falcon.HTTPForbidden(title="Phiên làm việc không hợp lệ (CSRF)", description="csrf_invalid")
    req.context.csrf_pending = None


class MetricsMiddleware:
    def process_request(self, req, resp):
        req.context.started = time.perf_counter()

    def process_response(self, req, resp, resource, req_succeeded):
        route = req.uri_template or "unmatched"
        status = resp.status[:3] if isinstance(resp.status, str) else str(int(resp.status))
        REQUESTS.labels(route, req.method, status).inc()
        LATENCY.labels(route, req.method).observe(time.perf_counter() - req.context.get("started", time.perf_counter()))


class SecurityHeaders:
    def process_response(self, req, resp, resource, req_succeeded):
        resp.set_header("X-Content-Type-Options", "nosniff")
        resp.set_header("X-Frame-Options", "DENY")
        resp.set_header("Referrer-Policy", "same-origin")
        resp.set_header("Content-Security-Policy",
                        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                        "frame-ancestors 'none'; form-action 'self'")
        if req.path.startswith(("/documents", "/api/", "/attachments", "/search", "/inbox", "/reports")):
            resp.cache_control = ["no-store"]
