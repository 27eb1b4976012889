"""The Falcon application factory (nothing happens at import; wsgi.py calls create_app)."""
from __future__ import annotations

from pathlib import Path

import falcon
from jinja2 import Environment, FileSystemLoader, select_autoescape

from ..runtime import build_context
from . import errors, middleware
from .routes import add_routes

HERE = Path(__file__).parent


def make_templates() -> Environment:
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]),
                      auto_reload=False,  # templates ship with the release; no stat() per render
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["d"] = lambda v: v.strftime("%d/%m/%Y") if v else ""
    env.filters["dt"] = lambda v: v.strftime("%d/%m/%Y %H:%M") if v else ""
    return env


class VanbanApp(falcon.App):
    """falcon.App with the use-case context attached (tests swap its clock, scanner or jobs)."""

    ctx = None


def create_app(settings, *, clock=None, scanner=None, jobs=None) -> VanbanApp:
    ctx = build_context(settings, clock=clock, scanner=scanner, jobs=jobs)
    app = VanbanApp(middleware=[
        middleware.MetricsMiddleware(),
        middleware.SecurityHeaders(),
        middleware.LimitMiddleware(settings.max_upload_mb * 1024 * 1024),
        middleware.DatabaseMiddleware(),
        middleware.AuthMiddleware(ctx.clock, settings.session_hours),
    ])
    app.req_options.strip_url_path_trailing_slash = True
    # Multipart text fields are small; files are streamed to disk by web.forms, never buffered whole.
    mp = app.req_options.media_handlers[falcon.MEDIA_MULTIPART]
    mp.parse_options.max_body_part_count = 200
    app.ctx = ctx
    templates = make_templates()
    errors.install(app, templates)
    add_routes(app, ctx, templates)
    app.add_static_route("/static", str(HERE / "static"))
    return app
