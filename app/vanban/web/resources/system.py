from __future__ import annotations

import falcon

from ... import __version__, metrics
from ...models import database


class Health:
    """GET /healthz: what the upgrade gate and monitoring check. 503 when the database does not answer."""

    def __init__(self, ctx):
        self.ctx = ctx

    def on_get(self, req, resp):
        try:
            database.execute_sql("SELECT 1 FROM schema_version LIMIT 1").fetchone()
            db = "ok"
        except Exception as exc:  # the point of a health check is to report, not to raise
            db = f"error: {exc.__class__.__name__}"
        resp.status = falcon.HTTP_200 if db == "ok" else falcon.HTTP_503
        resp.media = {"status": "ok" if db == "ok" else "error", "version": __version__,
                      "role": self.ctx.settings.role, "db": db}


class Metrics:
    def __init__(self, ctx):
        self.ctx = ctx

    def on_get(self, req, resp):
        if not self.ctx.settings.metrics_enabled:
            raise falcon.HTTPNotFound()
        resp.content_type = "text/plain; version=0.0.4; charset=utf-8"
        resp.data = metrics.render(self.ctx.settings.role, self.ctx.clock)
