"""Every URL of the web UI and the API, in one place."""
from __future__ import annotations

from ..api import resources as api
from .resources import admin, auth, documents, fleet, ical_feed, inbox, outgoing, reports, search, system
from .resources import exchange as exchange_pages


def add_routes(app, ctx, templates):
    page = {"ctx": ctx, "templates": templates}
    app.add_route("/healthz", system.Health(ctx))
    app.add_route("/metrics", system.Metrics(ctx))
    app.add_route("/login", auth.Login(**page))
    app.add_route("/logout", auth.Logout(**page))
    app.add_route("/", inbox.Home(**page))
    app.add_route("/inbox", inbox.Inbox(**page))
    app.add_route("/documents", documents.Documents(**page))
    app.add_route("/documents/new", documents.NewDocument(**page))
    app.add_route("/documents/{doc_id:int}", documents.DocumentPage(**page))
    app.add_route("/documents/{doc_id:int}/{action}", documents.DocumentAction(**page))
    app.add_route("/attachments/{attachment_id:int}", documents.AttachmentDownload(**page))
    app.add_route("/search", search.Search(**page))
    app.add_route("/reports", reports.ReportsIndex(**page))
    app.add_route("/reports/{name}", reports.Report(**page))
    app.add_route("/admin", admin.Admin(**page))
    app.add_route("/admin/{section}", admin.AdminSection(**page))
    app.add_route("/admin/users/{user_id:int}", admin.AdminUserPage(**page))
    api.add_routes(app, ctx)
    if ctx.settings.role == "hub":  # one-time-token enrolment of new servers (appliance first boot)
        from .. import enroll

        enroll.add_routes(app, ctx)
    outgoing.add_routes(app, ctx, templates)
    from .resources import work as work_pages  # issue 9: tasks, dossiers, calendar, staff, notifications

    work_pages.add_routes(app, ctx, templates)
    ical_feed.add_routes(app, ctx, templates)
    exchange_pages.add_routes(app, page)
    fleet.add_routes(app, page)  # issue 6: the hub's fleet monitoring pages
