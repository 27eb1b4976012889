from __future__ import annotations

from ...core import agencies
from ...core.doctypes import DOC_TYPES, STATUS_NAMES
from ...core.forms import parse_date
from ...errors import Invalid
from ...search import Query, search
from .. import cache
from .base import Page


def query_from(req) -> Query:
    """Filters come from whitelists; anything else is refused with a message, never passed on."""
    params = {k: req.get_param(k) or "" for k in ("q", "type", "status", "register", "from", "to", "direction")}
    if params["type"] and params["type"] not in {c for c, _, _ in DOC_TYPES}:
        raise Invalid("Loại văn bản không hợp lệ.", code="invalid:type", field="type")
    if params["status"] and params["status"] not in STATUS_NAMES:
        raise Invalid("Trạng thái không hợp lệ.", code="invalid:status", field="status")
    if params["direction"] and params["direction"] not in ("in", "out"):
        raise Invalid("Chiều văn bản không hợp lệ.", code="invalid:direction", field="direction")
    register = req.get_param_as_int("register", min_value=1) if params["register"] else None
    date_from = parse_date({"from": params["from"]}, "from", "Từ ngày", required=False)
    date_to = parse_date({"to": params["to"]}, "to", "Đến ngày", required=False)
    if date_from and date_to and date_from > date_to:
        raise Invalid("Từ ngày sau đến ngày.", code="bad_date:range", field="from")
    if len(params["q"]) > 500:
        raise Invalid("Từ khóa quá dài (tối đa 500 ký tự).", code="too_long:q", field="q")
    return Query(text=params["q"], doc_type=params["type"], status=params["status"], register_id=register,
                 direction=params["direction"], date_from=date_from, date_to=date_to,
                 page=req.get_param_as_int("page", min_value=1, max_value=1000) or 1)


class Search(Page):
    def on_get(self, req, resp):
        user = req.context.user
        query = query_from(req)
        result = search(user, query, candidates=self.ctx.settings.search_candidates)
        self.render(req, resp, "search.html", query=query, result=result, doc_types=DOC_TYPES,
                    status_names=STATUS_NAMES,
                    registers=cache.memo(("registers", user.agency_id), lambda: agencies.registers(user.agency_id)))
