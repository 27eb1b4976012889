"""What HTML resources share: rendering with the layout's context and redirects after a POST."""
from __future__ import annotations

import falcon

from ...core import inbox as inbox_core
from ...core.accounts import ROLES
from .. import cache


class Page:
    def __init__(self, ctx, templates):
        self.ctx = ctx
        self.templates = templates

    def render(self, req, resp, template, status=200, **values):
        user = req.context.user
        session = req.context.session
        layout = {"user": user, "csrf": session.csrf_token if session else "", "roles": ROLES,
                  "settings": self.ctx.settings, "today": self.ctx.clock.today(),
                  "scanner_enabled": getattr(self.ctx.scanner, "enabled", True)}
        if user is not None and "counters" not in values:
            # the nav's counts, kept per thread until the next database change (web/cache.py), like the inbox
            today = layout["today"]
            layout["counters"] = cache.memo(("counters", user.id, today), lambda: inbox_core.counters(user, today))
        resp.status = status
        resp.content_type = falcon.MEDIA_HTML
        resp.text = self.templates.get_template(template).render(**layout, **values)

    @staticmethod
    def redirect(to: str):
        raise falcon.HTTPSeeOther(to)
