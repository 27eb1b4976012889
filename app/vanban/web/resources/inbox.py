from __future__ import annotations

import falcon

from ...core import inbox as core
from .. import cache
from .base import Page

TAB_TITLES = {"todo": "Cần xử lý", "overdue": "Quá hạn", "info": "Nhận để biết", "done": "Đã xử lý"}


class Home(Page):
    def on_get(self, req, resp):
        self.redirect("/inbox")


class Inbox(Page):
    def on_get(self, req, resp):
        user = req.context.user
        tab = req.get_param("tab") or "todo"
        tab = tab if tab in TAB_TITLES else "todo"
        page = req.get_param_as_int("page", min_value=1, max_value=10000) or 1
        today = self.ctx.clock.today()
        # The rendered page is kept per session until any database change (web/cache.py): reloading an inbox
        # between two writes costs a session check and a lookup, not a render.
        key = ("inbox", req.context.session.token_hash, tab, page, today)
        cached = cache.get(key)
        if cached is None:
            items = core.inbox(user, tab, today, page=page)
            queue = core.clerk_queue(user) if "clerk" in user.role_set and tab == "todo" else []
            self.render(req, resp, "inbox.html", tab=tab, tabs=TAB_TITLES, items=items, queue=queue, page=page)
            cache.put(key, resp.text)
        else:
            resp.content_type = falcon.MEDIA_HTML
            resp.text = cached
