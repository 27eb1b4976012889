"""HTTPS client of the hub protocol (/exchange/v1), mutual TLS with certificates of the provincial CA.

The protocol, shared by node → hub and hub → upstream hub (commune → district → province → national):

    POST /exchange/v1/messages?to=<OrganId>   body: signed edXML; header X-Message-Id (idempotency key)
    GET  /exchange/v1/messages                what waits for the caller's agencies (JSON list)
    GET  /exchange/v1/messages/<id>           the edXML bytes
    POST /exchange/v1/messages/<id>/ack       {"state": "done" | "fail"}: the hub may now drop it
    GET  /exchange/v1/directory               the agency directory
    POST /exchange/v1/reports                 a node's signed daily statistics (exchange/daily_xml.py);
                                              201 {"stored": n, "stale": m}, agency + day replaced
    POST /exchange/v1/audit-heads             a node's audit-log head {"entry_id", "hash", "count", "at",
                                              "previous": {"entry_id", "hash"} | null} (exchange/witness.py);
                                              201 {"receipt", "signature", "certificate", "duplicate": false},
                                              200 the same for a head already witnessed, 409 a conflict
                                              (audit_head_conflict, audit_conflict_open, audit_previous_outdated)
    GET  /exchange/v1/audit-heads/latest      {"node", "line", "head": signed receipt | null, "open_conflict",
                                              "acknowledged": [...]}: what the hub witnessed for the caller

Errors: connection failures, timeouts, 5xx, 408 and 429 are *retryable* (the job backs off and tries again);
any other 4xx is a *refusal* that retrying cannot fix (unknown recipient, package too large ...). A refusal's
JSON is {"error": {"code", "message", ...details}}; Refused.details keeps the details.
"""
from __future__ import annotations

import json
from pathlib import Path

import requests

from .config import ExchangeConfig

API = "/exchange/v1"
_CHUNK = 256 * 1024


class TransportError(Exception):
    """The hub could not be reached or failed: retry later."""

    retryable = True

    def __init__(self, message: str, code: str = "unreachable", details: dict | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or {}


class Refused(TransportError):
    """The hub refused the request for good (4xx): ``code`` is the hub's stable error code."""

    retryable = False


class HubClient:
    def __init__(self, base_url: str, *, cert: tuple[str, str] | None, ca: str | None,
                 timeout: float = 30.0, session: requests.Session | None = None):
        if not base_url:
            raise TransportError("Chưa cấu hình địa chỉ hub (hub_url)", code="not_configured")
        self.base = base_url.rstrip("/") + API
        self.timeout = timeout
        self.session = session or requests.Session()
        self.session.cert = cert
        self.session.verify = ca if ca else True
        self.session.trust_env = False  # a proxy from the environment must not see (or break) mutual TLS

    @classmethod
    def from_config(cls, config: ExchangeConfig, url: str | None = None) -> HubClient:
        return cls(url or config.hub_url, cert=(str(config.tls_cert_path), str(config.tls_key_path)),
                   ca=str(config.ca_path), timeout=config.timeout_seconds)

    def _call(self, method: str, path: str, **kw) -> requests.Response:
        try:
            resp = self.session.request(method, self.base + path, timeout=(10, self.timeout), **kw)
        except requests.exceptions.SSLError as exc:
            raise TransportError(f"Lỗi TLS với hub: {str(exc)[:200]}", code="tls") from None
        except requests.RequestException as exc:
            raise TransportError(f"Không kết nối được hub: {exc.__class__.__name__}") from None
        except OSError as exc:  # requests' own check of the CA/certificate paths: the node is not enrolled yet
            raise TransportError(f"Thiếu chứng thư liên thông: {str(exc)[:200]}", code="not_configured") from None
        if resp.status_code >= 500 or resp.status_code in (408, 429):
            raise TransportError(f"Hub trả lỗi {resp.status_code}", code=f"http_{resp.status_code}")
        if resp.status_code >= 400:
            code, message, details = _error_of(resp)
            raise Refused(message, code=code, details=details)
        return resp

    def send(self, recipient: str, message_id: str, data: bytes | Path) -> dict:
        """Upload one message for one recipient. Sending the same (message_id, recipient) again is harmless."""
        headers = {"Content-Type": "application/xml", "X-Message-Id": message_id}
        if isinstance(data, Path):
            with open(data, "rb") as fh:
                headers["Content-Length"] = str(data.stat().st_size)
                return self._call("POST", "/messages", params={"to": recipient}, data=fh, headers=headers).json()
        return self._call("POST", "/messages", params={"to": recipient}, data=data, headers=headers).json()

    def list(self, limit: int = 100) -> list[dict]:
        return self._call("GET", "/messages", params={"limit": limit}).json()["messages"]

    def fetch(self, hub_id: str, dest, max_bytes: int) -> int:
        """Stream one message into the binary file ``dest``; refuse (Refused, code too_large) past max_bytes."""
        resp = self._call("GET", f"/messages/{hub_id}", stream=True)
        size = 0
        try:
            for chunk in resp.iter_content(_CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise Refused("Gói tin vượt quá dung lượng cho phép", code="too_large")
                dest.write(chunk)
        except requests.RequestException as exc:
            raise TransportError(f"Mất kết nối khi tải gói tin: {exc.__class__.__name__}") from None
        finally:
            resp.close()
        return size

    def ack(self, hub_id: str, state: str = "done") -> None:
        self._call("POST", f"/messages/{hub_id}/ack", json={"state": state})

    def send_report(self, data: bytes) -> dict:
        """Upload one signed daily statistics report. Sending it again is harmless (agency + day replaced)."""
        return self._call("POST", "/reports", data=data, headers={"Content-Type": "application/xml"}).json()

    def directory(self) -> list[dict]:
        return self._call("GET", "/directory").json()["agencies"]

    def witness_head(self, head: dict) -> dict:
        """Have the hub witness this node's audit-log head; returns its signed receipt (exchange/witness.py)."""
        return _json(self._call("POST", "/audit-heads", json=head))

    def witnessed_head(self) -> dict:
        """The newest head the hub witnessed for this node, and its conflicts."""
        return _json(self._call("GET", "/audit-heads/latest"))


def _json(resp: requests.Response) -> dict:
    try:
        body = resp.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise TransportError("Hub trả lời không phải JSON", code="bad_answer")
    return body


def _error_of(resp: requests.Response) -> tuple[str, str, dict]:
    try:
        err = resp.json()["error"]
        details = {k: v for k, v in err.items() if k not in ("code", "message")}
        return str(err.get("code", f"http_{resp.status_code}")), str(err.get("message", "")), details
    except (ValueError, KeyError, TypeError, AttributeError, json.JSONDecodeError):
        return f"http_{resp.status_code}", resp.text[:200], {}
