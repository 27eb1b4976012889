from __future__ import annotations

import falcon

from ...core import accounts, agencies
from ...core.accounts import ROLES, agency_users, require_role
from ...errors import DomainError
from ...models.schema import Agency
from ..forms import read_form
from .base import Page


class Admin(Page):
    def on_get(self, req, resp):
        require_role(req.context.user, "admin")
        self.show(req, resp)

    def show(self, req, resp, error=None, status=200, section=None, values=None):
        user = req.context.user
        self.render(req, resp, "admin.html", status=status, error=error, section=section, values=values or {},
                    agencies=list(Agency.select().order_by(Agency.code)),
                    departments=agencies.departments(user.agency_id),
                    users=list(agency_users(user.agency_id)), registers=agencies.registers(user.agency_id),
                    role_names=ROLES)



class AdminSection(Admin):
    def on_get(self, req, resp, section):
        self.redirect(f"/admin#{section}")

    def on_post(self, req, resp, section):
        user = req.context.user
        form, _ = read_form(req, self.ctx)
        require_role(user, "admin")
        now = self.ctx.clock.now()
        try:
            if section == "agencies":
                agencies.create_agency(now, user, code=form.get("code"), name=form.get("name"),
                                       abbreviation=form.get("abbreviation"), old_code=form.get("old_code"),
                                       parent_code=form.get("parent_code"), numbering=form.get("numbering") or "shared")
            elif section == "departments":
                agencies.create_department(now, user, user.agency, name=form.get("name"),
                                           abbreviation=form.get("abbreviation"))
            elif section == "users":
                dept = agencies.get_department(user.agency_id, form["department_id"]) if form.get("department_id") else None
                accounts.create_user(now, user, user.agency, username=form.get("username"),
                                     full_name=form.get("full_name"), password=form.get("password"),
                                     roles=form.getlist("roles"), department=dept, position=form.get("position", ""),
                                     email=form.get("email", ""))
            elif section == "registers":
                agencies.create_register(now, user, user.agency, kind=form.get("kind"), name=form.get("name"),
                                         confidential=form.get("confidential") == "1")
            else:
                raise falcon.HTTPNotFound()
        except DomainError as exc:
            if exc.status == 403:
                raise
            self.show(req, resp, error=exc, status=exc.status, section=section, values=form)
            return
        self.redirect(f"/admin#{section}")


class AdminUserPage(Page):
    """An agency admin edits one user of the agency (roles, unit, name, active)."""

    def _target(self, req, user_id):
        from ...models.schema import User

        target = User.get_or_none((User.id == user_id) & (User.agency == req.context.user.agency_id))
        if target is None:
            raise falcon.HTTPNotFound(title="Không có người dùng này", description="user_not_found")
        return target

    def show(self, req, resp, target, error=None, status=200):
        self.render(req, resp, "admin_user.html", status=status, target=target, error=error, role_names=ROLES,
                    departments=agencies.departments(req.context.user.agency_id))

    def on_get(self, req, resp, user_id):
        require_role(req.context.user, "admin")
        self.show(req, resp, self._target(req, user_id))

    def on_post(self, req, resp, user_id):
        user = req.context.user
        form, _ = read_form(req, self.ctx)
        require_role(user, "admin")
        target = self._target(req, user_id)
        try:
            dept = agencies.get_department(user.agency_id, form["department_id"]) if form.get("department_id") else None
            accounts.update_user(self.ctx.clock.now(), user, target.id, roles=form.getlist("roles"), department=dept,
                                 clear_department=not form.get("department_id"), active=form.get("active") == "1",
                                 full_name=form.get("full_name", ""), position=form.get("position", ""))
        except DomainError as exc:
            if exc.status == 403:
                raise
            self.show(req, resp, target, error=exc, status=exc.status)
            return
        self.redirect("/admin#users")
