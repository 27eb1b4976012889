"""JSON API resources: parse, call one use case, answer JSON. Errors map in web/errors.py."""
from __future__ import annotations

import falcon

from ..core import accounts, agencies, inbox, incoming, routing
from ..core.access import get_document
from ..core.accounts import require_role
from ..core.doctypes import DOC_TYPES
from ..core.forms import parse_date
from ..core.registers import register_rows
from ..errors import Invalid
from ..models.schema import Attachment
from ..reports import registers as books
from ..reports import render_pdf, render_xlsx
from ..search import search
from ..web.forms import read_form
from ..web.resources.search import query_from
from . import serialize
from .openapi import spec


class _Api:
    def __init__(self, ctx):
        self.ctx = ctx

    def body(self, req):
        form, uploads = read_form(req, self.ctx)
        return form, uploads


class Login(_Api):
    def on_post(self, req, resp):
        form, _ = self.body(req)
        s = self.ctx.settings
        token, session = accounts.login(self.ctx.clock.now(), form.get("username", ""), form.get("password", ""),
                                        req.remote_addr, limit=s.login_max_failures, session_hours=s.session_hours)
        resp.media = {"token": token, "csrf_token": session.csrf_token, "expires_at": session.expires_at.isoformat(),
                      "user": serialize.user(session.user)}


class Logout(_Api):
    def on_post(self, req, resp):
        self.body(req)
        accounts.logout_session(req.context.session)
        resp.status = falcon.HTTP_204


class Me(_Api):
    def on_get(self, req, resp):
        user = req.context.user
        resp.media = {"user": serialize.user(user), "counters": inbox.counters(user, self.ctx.clock.today())}


class DocTypes(_Api):
    def on_get(self, req, resp):
        resp.media = {"doc_types": [{"code": c, "name": n, "abbreviation": a} for c, n, a in DOC_TYPES]}


class Inbox(_Api):
    def on_get(self, req, resp):
        tab = req.get_param("tab") or "todo"
        if tab not in inbox.TABS:
            raise Invalid("tab: todo, overdue, info hoặc done.", code="invalid:tab", field="tab")
        user, today = req.context.user, self.ctx.clock.today()
        page = req.get_param_as_int("page", min_value=1, max_value=10000) or 1
        resp.media = {"tab": tab, "counters": inbox.counters(user, today),
                      "items": [serialize.inbox_item(i) for i in inbox.inbox(user, tab, today, page=page)]}


class Documents(_Api):
    def on_post(self, req, resp):
        form, uploads = self.body(req)
        doc = incoming.register_incoming(self.ctx, req.context.user, form, uploads)
        resp.status = falcon.HTTP_201
        resp.location = f"/api/v1/documents/{doc.id}"
        resp.media = serialize.document(doc, list(doc.attachments))


class Document(_Api):
    def on_get(self, req, resp, doc_id):
        doc = get_document(req.context.user, doc_id)
        resp.media = serialize.document(doc, list(Attachment.select().where(Attachment.document == doc.id)))


class Routing(_Api):
    def on_get(self, req, resp, doc_id):
        doc = get_document(req.context.user, doc_id)
        tree = inbox.routing_tree(doc, self.ctx.clock.today())
        resp.media = {"document_id": doc.id, "root": serialize.node(tree)}


def _specs(value, label):
    if value in (None, ""):
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise Invalid(f"{label}: danh sách các đối tượng {{to, deadline}}.", code=f"invalid:{label}", field=label)
    return value


class Action(_Api):
    def on_post(self, req, resp, doc_id, action):
        user = req.context.user
        form, uploads = self.body(req)
        ctx = self.ctx
        if action == "present":
            result = [incoming.present(ctx, user, get_document(user, doc_id), form.get("leader_id"),
                                       form.get("note", ""))]
        elif action in ("assign", "reassign"):
            lead = form.get("lead")
            if lead is not None and not isinstance(lead, dict):
                raise Invalid("lead: một đối tượng {to, deadline}.", code="invalid:lead", field="lead")
            fn = routing.assign if action == "assign" else routing.reassign
            result = fn(ctx, user, doc_id, instruction=form.get("instruction", ""), lead=lead,
                        co=_specs(form.get("co"), "co"), info=_specs(form.get("info"), "info"))
        elif action == "forward":
            result = [routing.forward(ctx, user, doc_id, to_user_id=form.get("to_user_id"),
                                      role=form.get("role", "co"), note=form.get("note", ""))]
        elif action == "comment":
            routing.comment(ctx, user, doc_id, form.get("text", ""), uploads)
            result = []
        elif action == "complete":
            result = [routing.complete(ctx, user, doc_id, form.get("note", ""))]
        else:
            incoming.discard_uploads(uploads)
            raise falcon.HTTPNotFound(title="Không có thao tác này", description="unknown_action")
        doc = get_document(user, doc_id)
        resp.media = {"document": serialize.document(doc), "assignments": [serialize.assignment(a) for a in result]}


class Search(_Api):
    def on_get(self, req, resp):
        result = search(req.context.user, query_from(req), candidates=self.ctx.settings.search_candidates)
        resp.media = {"total": result.total, "total_capped": result.total_capped,
                      "documents": [serialize.document(d) for d in result.documents]}


class RegisterReport(_Api):
    def on_get(self, req, resp, name):
        builder = {"incoming": books.incoming_register, "tracking": books.tracking_book}.get(name)
        if builder is None:
            raise falcon.HTTPNotFound(title="Không có sổ này", description="unknown_report")
        fmt = req.get_param("format") or "json"
        params = {"from": req.get_param("from"), "to": req.get_param("to")}
        agency, date_from, date_to, rows = register_rows(
            req.context.user, parse_date(params, "from", "Từ ngày", required=False),
            parse_date(params, "to", "Đến ngày", required=False), self.ctx.clock.today())
        if fmt == "json":
            resp.media = {"from": date_from.isoformat(), "to": date_to.isoformat(),
                          "rows": [{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in r.items()}
                                   for r in rows]}
            return
        report = builder(rows, agency.name, date_from, date_to)
        if fmt == "pdf":
            resp.content_type, resp.data = "application/pdf", render_pdf(report)
        elif fmt == "xlsx":
            resp.content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            resp.data = render_xlsx(report)
        else:
            raise Invalid("format: json, pdf hoặc xlsx.", code="invalid:format", field="format")


class AdminCollection(_Api):
    """GET lists and POST creates agencies, departments, users and registers of the admin's agency."""

    def on_get(self, req, resp, kind):
        user = req.context.user
        require_role(user, "admin")
        resp.media = {kind: _list(kind, user)}

    def on_post(self, req, resp, kind):
        user = req.context.user
        form, _ = self.body(req)
        require_role(user, "admin")
        now = self.ctx.clock.now()
        if kind == "agencies":
            obj = agencies.create_agency(now, user, code=form.get("code"), name=form.get("name"),
                                         abbreviation=form.get("abbreviation"), old_code=form.get("old_code"),
                                         parent_code=form.get("parent_code"),
                                         numbering=form.get("numbering") or "shared")
        elif kind == "departments":
            obj = agencies.create_department(now, user, user.agency, name=form.get("name"),
                                             abbreviation=form.get("abbreviation"))
        elif kind == "users":
            dept = (agencies.get_department(user.agency_id, form["department_id"])
                    if form.get("department_id") else None)
            obj = accounts.create_user(now, user, user.agency, username=form.get("username"),
                                       full_name=form.get("full_name"), password=form.get("password"),
                                       roles=form.get("roles") or [], department=dept,
                                       position=form.get("position", ""), email=form.get("email", ""))
        elif kind == "registers":
            obj = agencies.create_register(now, user, user.agency, kind=form.get("kind"), name=form.get("name"),
                                           confidential=bool(form.get("confidential")))
        else:
            raise falcon.HTTPNotFound()
        resp.status = falcon.HTTP_201
        resp.media = _one(kind, obj)


def _one(kind, obj) -> dict:
    if kind == "agencies":
        return {"id": obj.id, "code": obj.code, "old_code": obj.old_code, "name": obj.name,
                "abbreviation": obj.abbreviation, "parent_code": obj.parent_code, "numbering": obj.numbering}
    if kind == "departments":
        return {"id": obj.id, "name": obj.name, "abbreviation": obj.abbreviation}
    if kind == "users":
        return serialize.user(obj)
    return {"id": obj.id, "kind": obj.kind, "name": obj.name, "confidential": obj.confidential}


def _list(kind, user) -> list:
    from ..models.schema import Agency

    if kind == "agencies":
        return [_one(kind, a) for a in Agency.select().order_by(Agency.code)]
    if kind == "departments":
        return [_one(kind, d) for d in agencies.departments(user.agency_id)]
    if kind == "users":
        return [_one(kind, u) for u in accounts.agency_users(user.agency_id)]
    if kind == "registers":
        return [_one(kind, r) for r in agencies.registers(user.agency_id)]
    raise falcon.HTTPNotFound()


class AdminUser(_Api):
    def on_patch(self, req, resp, user_id):
        user = req.context.user
        form, _ = self.body(req)
        dept = None
        if form.get("department_id"):
            dept = agencies.get_department(user.agency_id, form["department_id"])
        updated = accounts.update_user(self.ctx.clock.now(), user, user_id, roles=form.get("roles"),
                                       department=dept, clear_department=form.get("department_id", 0) is None,
                                       active=form.get("active"), full_name=form.get("full_name"),
                                       position=form.get("position"))
        resp.media = {**serialize.user(updated), "active": updated.active}


class OpenApi:
    def on_get(self, req, resp):
        resp.media = spec()


def add_routes(app, ctx):
    v1 = "/api/v1"
    app.add_route("/api/openapi.json", OpenApi())
    app.add_route(f"{v1}/auth/login", Login(ctx))
    app.add_route(f"{v1}/auth/logout", Logout(ctx))
    app.add_route(f"{v1}/me", Me(ctx))
    app.add_route(f"{v1}/doc-types", DocTypes(ctx))
    app.add_route(f"{v1}/inbox", Inbox(ctx))
    app.add_route(f"{v1}/documents", Documents(ctx))
    app.add_route(f"{v1}/documents/{{doc_id:int}}", Document(ctx))
    app.add_route(f"{v1}/documents/{{doc_id:int}}/routing", Routing(ctx))
    app.add_route(f"{v1}/documents/{{doc_id:int}}/actions/{{action}}", Action(ctx))
    app.add_route(f"{v1}/search", Search(ctx))
    app.add_route(f"{v1}/reports/{{name}}", RegisterReport(ctx))
    app.add_route(f"{v1}/admin/{{kind}}", AdminCollection(ctx))
    app.add_route(f"{v1}/admin/users/{{user_id:int}}", AdminUser(ctx))
