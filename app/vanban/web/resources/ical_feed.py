"""Calendar subscription addresses (issue 9 §3): the iCalendar feed for calendar programs, which cannot log in."""
from __future__ import annotations

import falcon

from ...core import calendar
from ...core.feed_tokens import token_for, user_for
from .base import Page


class SubscribedFeed:
    """GET /ical/{user_id}/{scope}/{token}.ics: the feed for calendar programs, authorised by the secret address
    (core/feed_tokens.py) instead of a session."""

    def __init__(self, ctx):
        self.ctx = ctx

    def on_get(self, req, resp, user_id, scope, token):
        if scope not in ("agency", "mine") or not token.endswith(".ics"):
            raise falcon.HTTPNotFound()
        user = user_for(self.ctx.settings.data_path, user_id, scope, token[:-4])
        if user is None:
            raise falcon.HTTPNotFound(title="Địa chỉ lịch không hợp lệ hoặc đã bị thu hồi", description="feed_not_found")
        events = calendar.feed_events(user, scope, self.ctx.clock.today())
        resp.content_type = "text/calendar; charset=utf-8"
        from ...core import calendar_ical  # icalendar loads on the first feed request, not in every worker

        resp.data = calendar_ical.feed(events, name=f"Lịch công tác {user.agency.name}", now=self.ctx.clock.now())



class SubscribeInfo(Page):
    """GET /calendar/subscribe: the signed-in user's secret feed addresses."""

    def on_get(self, req, resp):
        user = req.context.user
        base = (self.ctx.settings.base_url or f"{req.scheme}://{req.netloc}").rstrip("/")
        links = {scope: f"{base}/ical/{user.id}/{scope}/{token_for(self.ctx.settings.data_path, user, scope)}.ics"
                 for scope in ("agency", "mine")}
        self.render(req, resp, "calendar_subscribe.html", links=links)


def add_routes(app, ctx, templates):
    app.add_route("/ical/{user_id:int}/{scope}/{token}", SubscribedFeed(ctx))
    app.add_route("/calendar/subscribe", SubscribeInfo(ctx=ctx, templates=templates))
