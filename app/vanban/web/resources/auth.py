from __future__ import annotations

import falcon

from ...core import accounts
from ...errors import Throttled, Unauthenticated
from ..forms import read_form
from ..middleware import SESSION_COOKIE
from .base import Page


def _safe_next(target: str) -> str:
    # only local paths: "//evil.example" or "https://..." would turn the login into an open redirect
    return target if target.startswith("/") and not target.startswith("//") else "/inbox"


class Login(Page):
    def on_get(self, req, resp):
        self.render(req, resp, "login.html", next=_safe_next(req.get_param("next") or "/inbox"), counters={})

    def on_post(self, req, resp):
        form, _ = read_form(req, self.ctx)
        settings = self.ctx.settings
        try:
            token, _session = accounts.login(self.ctx.clock.now(), form.get("username", ""),
                                             form.get("password", ""), req.remote_addr,
                                             limit=settings.login_max_failures,
                                             session_hours=settings.session_hours)
        except (Unauthenticated, Throttled) as exc:
            self.render(req, resp, "login.html", status=exc.status, error=exc.message,
                        username=form.get("username", ""), next=_safe_next(form.get("next", "/inbox")), counters={})
            return
        resp.set_cookie(SESSION_COOKIE, token, secure=settings.cookie_secure, http_only=True, same_site="Lax",
                        path="/", max_age=settings.session_hours * 3600)
        raise falcon.HTTPSeeOther(_safe_next(form.get("next", "/inbox")))


class Logout(Page):
    def on_post(self, req, resp):
        read_form(req, self.ctx)
        token = req.cookies.get(SESSION_COOKIE)
        if token:
            accounts.logout(token)
        resp.unset_cookie(SESSION_COOKIE, path="/")
        raise falcon.HTTPSeeOther("/login")
