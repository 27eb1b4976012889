"""The hub protocol (/exchange/v1, see transport.py) as Falcon resources; mounted only when role == "hub".

Who is calling is the CN of the caller's TLS client certificate, verified against the provincial root. Two
deployments, one code path:

1. **gunicorn terminates TLS** on the exchange port 8443 (what the tests run)::

       gunicorn 'vanban.exchange.api:create_wsgi()' --bind 0.0.0.0:8443 --certfile tls.crt --keyfile tls.key \
           --ca-certs ca.crt --cert-reqs 2

   ``--cert-reqs 2`` (CERT_REQUIRED) makes the handshake fail without a certificate of the province; the
   responder reads the verified peer certificate from the socket gunicorn hands the app (``gunicorn.socket``).
2. **nginx terminates TLS** (``ssl_verify_client on``) and proxies to the app on loopback with
   ``proxy_set_header X-SSL-Client-Verify $ssl_client_verify; proxy_set_header X-SSL-Client-S-DN
   $ssl_client_s_dn;``. The app believes these headers only when ``proxy_client_header = true`` in
   exchange.toml AND the request comes from 127.0.0.1/::1 (nginx itself), never from the network.
"""
from __future__ import annotations

import functools
import re

import falcon
from cryptography import x509

from ..errors import DomainError, TooLarge
from ..models import database
from . import hub
from .config import load_config
from .tls import common_name

_LOOPBACK = ("127.0.0.1", "::1")
_CN = re.compile(r"(?:^|,)\s*CN=((?:\\.|[^,\\])+)")


def _json_errors(responder):
    """Errors of this protocol are JSON for machines, whatever app the resources are mounted in."""

    @functools.wraps(responder)
    def wrapper(self, req, resp, *args, **kw):
        try:
            return responder(self, req, resp, *args, **kw)
        except DomainError as exc:
            resp.status = exc.status
            resp.media = {"error": {"code": exc.code, "message": exc.message, **getattr(exc, "details", {})}}

    return wrapper


def client_identity(req, config) -> str:
    """CN of the verified client certificate; 401 when there is none we can believe."""
    sock = req.env.get("gunicorn.socket")
    getpeercert = getattr(sock, "getpeercert", None)
    der = getpeercert(binary_form=True) if getpeercert else None
    if der:
        name = common_name(x509.load_der_x509_certificate(der))
        if name:
            return name
    if config.proxy_client_header and req.remote_addr in _LOOPBACK:
        if req.get_header("X-SSL-Client-Verify") == "SUCCESS":
            m = _CN.search(req.get_header("X-SSL-Client-S-DN") or "")
            if m:
                return m.group(1).replace("\\", "")
    raise falcon.HTTPUnauthorized(title="Cần chứng thư số TLS của máy chủ trong tỉnh",
                                  description="client_certificate_required")


class _Base:
    def __init__(self, ctx):
        self.ctx = ctx
        self.config = load_config(ctx.settings.data_path)

    def who(self, req) -> str:
        return client_identity(req, self.config)


def _row(m) -> dict:
    return {"id": str(m.id), "message_id": m.message_id, "to": m.recipient, "from": m.from_organ, "kind": m.kind,
            "document_id": m.document_id, "status_code": m.status_code, "size": m.size,
            "received_at": m.received_at.isoformat()}


class Messages(_Base):
    @_json_errors
    def on_post(self, req, resp):
        node = self.who(req)
        max_bytes = self.config.max_bytes
        if req.content_length is not None and req.content_length > max_bytes:
            raise TooLarge(f"Gói tin vượt quá {self.config.max_package_mb} MB.", code="too_large")
        row, duplicate = hub.store(
            self.ctx.blobs, self.ctx.clock.now(), sender_node=node, message_id=req.get_header("X-Message-Id"),
            recipient=req.get_param("to") or "", stream=req.bounded_stream, max_bytes=max_bytes,
            trusted=self.config.trusted_certs, has_upstream=bool(self.config.hub_url))
        resp.status = falcon.HTTP_200 if duplicate else falcon.HTTP_201
        resp.media = {"id": str(row.id), "duplicate": duplicate, "state": row.state}

    @_json_errors
    def on_get(self, req, resp):
        node = self.who(req)
        limit = req.get_param_as_int("limit", min_value=1, max_value=500) or 100
        resp.media = {"messages": [_row(m) for m in hub.waiting_for(node, limit)]}


class Message(_Base):
    @_json_errors
    def on_get(self, req, resp, hub_id):
        row = hub.message_for(self.who(req), hub_id)
        resp.content_type = "application/xml"
        resp.stream = self.ctx.blobs.open(row.blob_sha)
        resp.content_length = row.size


class Ack(_Base):
    @_json_errors
    def on_post(self, req, resp, hub_id):
        node = self.who(req)
        media = req.get_media(default_when_empty={}) or {}
        state = media.get("state", "done") if isinstance(media, dict) else "done"
        hub.acknowledge(self.ctx.blobs, self.ctx.clock.now(), node, hub_id, state)
        resp.status = falcon.HTTP_204


class Directory(_Base):
    @_json_errors
    def on_get(self, req, resp):
        self.who(req)
        resp.media = {"agencies": [{"code": a.code, "old_code": a.old_code, "name": a.name, "level": a.level,
                                    "parent_code": a.parent_code, "node": a.node} for a in hub.list_agencies()]}


class Reports(_Base):
    """A node's signed daily statistics (DOMAIN §12 totals the hub cannot see)."""

    @_json_errors
    def on_post(self, req, resp):
        from .daily_xml import MAX_BYTES

        node = self.who(req)
        if req.content_length is not None and req.content_length > MAX_BYTES:
            raise TooLarge("Báo cáo số liệu quá lớn.", code="too_large")
        data = req.bounded_stream.read(MAX_BYTES + 1)
        if len(data) > MAX_BYTES:
            raise TooLarge("Báo cáo số liệu quá lớn.", code="too_large")
        resp.media = hub.store_report(self.ctx.blobs, self.ctx.clock.now(), caller=node, data=data,
                                      trusted=self.config.trusted_certs)
        resp.status = falcon.HTTP_201


class AuditHeads(_Base):
    """A node's audit-log head, witnessed and countersigned by the hub (exchange/witness.py)."""

    @_json_errors
    def on_post(self, req, resp):
        from . import witness

        node = self.who(req)
        if req.content_length is None:
            raise witness.LengthRequired("Cần Content-Length cho đầu nhật ký kiểm tra.")
        if req.content_length > witness.MAX_BODY:
            raise TooLarge("Đầu nhật ký kiểm tra gửi lên quá lớn.", code="too_large")
        head = witness.parse_head(req.bounded_stream.read(req.content_length))
        out = witness.accept_head(self.ctx.clock.now(), node, head, self.config)
        resp.status = falcon.HTTP_200 if out["duplicate"] else falcon.HTTP_201
        resp.media = out


class AuditHeadLatest(_Base):
    """The newest head the hub witnessed for the caller, and its conflicts (`vanban audit verify --hub`)."""

    @_json_errors
    def on_get(self, req, resp):
        from . import witness

        resp.media = witness.latest_for(self.who(req))


def add_routes(app, ctx) -> None:
    """Mount the protocol on ``app`` when this server is the hub (a node answers 404 there)."""
    if ctx.settings.role != "hub":
        return
    app.add_route("/exchange/v1/messages", Messages(ctx))
    app.add_route("/exchange/v1/messages/{hub_id}", Message(ctx))
    app.add_route("/exchange/v1/messages/{hub_id}/ack", Ack(ctx))
    app.add_route("/exchange/v1/directory", Directory(ctx))
    app.add_route("/exchange/v1/reports", Reports(ctx))
    app.add_route("/exchange/v1/audit-heads", AuditHeads(ctx))
    app.add_route("/exchange/v1/audit-heads/latest", AuditHeadLatest(ctx))


class _Connect:
    def process_request(self, req, resp):
        database.connect(reuse_if_open=True)

    def process_response(self, req, resp, resource, req_succeeded):
        if not database.is_closed() and database.in_transaction():
            database.rollback()


class _ExchangeApp(falcon.App):
    ctx = None  # the use-case context, as on the main app (tests reach the clock through it)


def create_exchange_app(settings, *, clock=None):
    """A Falcon app with the exchange protocol only, for the dedicated mutual-TLS port (8443)."""
    from ..runtime import build_context

    ctx = build_context(settings, clock=clock)
    app = _ExchangeApp(middleware=[_Connect()])
    app.ctx = ctx
    add_routes(app, ctx)
    return app


def create_wsgi():
    """gunicorn entry ('vanban.exchange.api:create_wsgi()'), settings from VANBAN_CONFIG / VANBAN_*."""
    from ..settings import load_settings

    return create_exchange_app(load_settings())
