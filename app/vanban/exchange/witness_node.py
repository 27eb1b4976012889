"""Node side of the audit-head witness (exchange/witness.py has the why): send the head, keep the hub's receipt,
and in `vanban audit verify` check the log against every receipt and, with --hub, against the hub's own record.

The hash chain already proves everything up to its last entry; a receipt proves where the last entry *was*.
If the entry a receipt names is still there with the same hash, the chain fixes everything before it too, so
only the newest receipt of the current line has to match (older ones are checked for their signatures and
used to say how far the log still agrees). Receipts of earlier lines predate a rollback the IT centre
acknowledged (a restore from backup) and are not compared with the log.

Deleting the receipts together with the tail leaves a log that looks intact here; `--hub` asks the hub for the
newest head it witnessed for this server, which nothing on this server can delete.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..core import audit
from ..models import write_transaction
from ..models.witness import AuditReceipt
from . import receipt


@dataclass
class Findings:
    problems: list[str] = field(default_factory=list)  # tampering: `audit verify` exits 1
    notes: list[str] = field(default_factory=list)  # what was checked
    missing: set = field(default_factory=set)  # (entry_id, hash) witnessed but no longer in the log


@dataclass(frozen=True)
class Witnessed:
    entry_id: int
    hash: str
    witnessed_at: str
    source: str  # "receipt 12", "the hub's record, line 0"


def node_name(config) -> str:
    """This server as the hub knows it: the CN of its TLS client certificate (else exchange.toml's node_name)."""
    if config.tls_cert_path.exists():
        from cryptography import x509

        return receipt.common_name(x509.load_pem_x509_certificate(config.tls_cert_path.read_bytes()))
    return config.node_name


def _trusted(config):
    from .codes import EdxmlError
    from .transport import TransportError

    try:
        return config.trusted_certs
    except EdxmlError as exc:
        raise TransportError(exc.reason, code="not_configured") from None


# ---------------------------------------------------------------------------------------------- witness
def witness(ctx, client) -> dict:
    """Have the hub witness this server's audit-log head and keep its receipt (hourly job, `vanban audit
    witness`). Raises TransportError: the link failed, the answer was not a good receipt, or the hub refused
    the head (Refused, code audit_head_conflict or audit_conflict_open: a cut or restored log)."""
    from .node import config_of

    config = config_of(ctx)
    head = audit.head()
    if head is None:
        return {"witnessed": False, "reason": "empty"}
    body = {"entry_id": head.entry_id, "hash": head.hash, "count": head.count, "at": head.at,
            "previous": _previous(client.witnessed_head())}
    answer = client.witness_head(body)
    fields = _checked(answer, config, head)
    with write_transaction():
        AuditReceipt.insert(hub=fields["hub"], line=fields["line"], entry_id=fields["entry_id"], hash=fields["hash"],
                            count=fields["count"], witnessed_at=fields["witnessed_at"], signature=answer["signature"],
                            certificate=answer["certificate"], received_at=ctx.clock.local()
                            ).on_conflict_ignore().execute()
    return {"witnessed": True, "line": fields["line"], "entry_id": fields["entry_id"], "count": fields["count"],
            "witnessed_at": fields["witnessed_at"], "duplicate": bool(answer.get("duplicate"))}


def _previous(known: dict) -> dict | None:
    """The head the hub last witnessed, with this server's hash of that entry now (None when it is gone): the
    hub compares them, so a log cut and written past its old head cannot pass as a longer one."""
    from .transport import TransportError

    head = known.get("head")
    if not head:
        return None
    entry_id = head.get("receipt", {}).get("entry_id") if isinstance(head, dict) else None
    if type(entry_id) is not int:
        raise TransportError("Hub trả đầu nhật ký đã xác nhận không đúng định dạng", code="bad_answer")
    return {"entry_id": entry_id, "hash": audit.hash_at(entry_id)}


def _checked(answer: dict, config, head) -> dict:
    from .transport import TransportError

    try:
        fields = answer["receipt"]
        receipt.check(fields, answer["signature"], answer["certificate"], _trusted(config), node=node_name(config))
    except (KeyError, TypeError):
        raise TransportError("Hub trả biên nhận không đúng định dạng", code="receipt_invalid") from None
    except receipt.ReceiptInvalid as exc:
        raise TransportError(f"Biên nhận của hub không hợp lệ: {exc.reason}", code="receipt_invalid") from None
    if (fields["entry_id"], fields["hash"], fields["count"]) != (head.entry_id, head.hash, head.count):
        raise TransportError("Biên nhận của hub không khớp đầu nhật ký đã gửi", code="receipt_mismatch")
    return fields


# ---------------------------------------------------------------------------------------------- verify
def _fields(r: AuditReceipt, node: str) -> dict:
    """The signed fields of a stored receipt (the node is not stored: it is this server)."""
    return receipt.payload(hub=r.hub, node=node, line=r.line, entry_id=r.entry_id, hash=r.hash, count=r.count,
                           witnessed_at=r.witnessed_at)


def check_receipts(config) -> Findings:
    """Every stored receipt: signed by the hub for this server, and the log still reaches the newest one."""
    from ..models import database

    if not database.table_exists(AuditReceipt._meta.table_name):
        return Findings()  # a database from before migration 12 has no receipts
    rows = list(AuditReceipt.select().order_by(AuditReceipt.line, AuditReceipt.entry_id))
    if not rows:
        return Findings()
    from .codes import EdxmlError

    try:
        trusted = config.trusted_certs
    except EdxmlError:
        return Findings([f"{len(rows)} hub receipts cannot be checked: no provincial CA certificate at "
                         f"{config.ca_path}"])
    me = node_name(config)
    found, valid = Findings(), []
    for r in rows:
        try:
            receipt.check(_fields(r, me), r.signature, r.certificate, trusted, node=me)
        except receipt.ReceiptInvalid as exc:
            found.problems.append(f"hub receipt {r.id} (entry {r.entry_id}): {exc.reason}: the receipt was "
                                  "forged or altered")
            continue
        valid.append(r)
    if not valid:
        return found
    line = max(r.line for r in valid)
    current = sorted((r for r in valid if r.line == line), key=lambda r: r.entry_id, reverse=True)
    against_log([Witnessed(r.entry_id, r.hash, r.witnessed_at, f"receipt {r.id}") for r in current], found)
    found.notes.append(f"hub receipts checked: {len(valid)} (newest: entry {current[0].entry_id} witnessed at "
                       f"{current[0].witnessed_at}, line {line})")
    if len(valid) > len(current):
        found.notes.append(f"{len(valid) - len(current)} receipts of earlier lines (before a rollback the IT centre "
                           "acknowledged) are not compared with the log")
    return found


def against_log(witnessed: list[Witnessed], found: Findings) -> None:
    """``witnessed``: heads of one line, newest first. A problem unless the log holds the newest as witnessed."""
    newest = witnessed[0]
    if audit.hash_at(newest.entry_id) == newest.hash or (newest.entry_id, newest.hash) in found.missing:
        return
    last = audit.head()
    last_id = last.entry_id if last else 0
    seen = f"the hub witnessed entry {newest.entry_id} with hash {newest.hash} at {newest.witnessed_at} ({newest.source})"
    if newest.entry_id > last_id:
        message = f"entries after {last_id} were removed: {seen}"
    else:
        message = f"entry {newest.entry_id} is not the entry the hub witnessed (edited, or cut and written again): {seen}"
    intact = next((w for w in witnessed[1:] if audit.hash_at(w.entry_id) == w.hash), None)
    if intact is not None:
        message += f"; the log still matches the hub's witness of entry {intact.entry_id} at {intact.witnessed_at}"
    found.problems.append(message)
    found.missing.add((newest.entry_id, newest.hash))


def check_hub(config, client, found: Findings) -> None:
    """What the hub holds for this server: its newest witnessed head must still be in the log, and no conflict
    may be waiting. Adds to ``found``; raises TransportError when the hub cannot be asked (or answers nonsense)."""
    from .transport import TransportError

    answer = client.witnessed_head()
    conflict = answer.get("open_conflict")
    if conflict:
        found.problems.append(f"the hub holds conflict #{conflict.get('id')} ({conflict.get('kind')}) since "
                              f"{conflict.get('detected_at')}, not yet acknowledged by the IT centre: "
                              f"{conflict.get('message')}")
    head = answer.get("head")
    if head:
        try:
            fields = head["receipt"]
            receipt.check(fields, head["signature"], head["certificate"], _trusted(config), node=node_name(config))
        except (KeyError, TypeError, receipt.ReceiptInvalid) as exc:
            raise TransportError(f"Hub trả đầu nhật ký đã xác nhận không hợp lệ: {exc}", code="bad_answer") from None
        against_log([Witnessed(fields["entry_id"], fields["hash"], fields["witnessed_at"],
                               f"the hub's record, line {fields['line']}")], found)
        found.notes.append(f"the hub's newest witness (line {fields['line']}): entry {fields['entry_id']} at "
                           f"{fields['witnessed_at']}")
    else:
        found.notes.append(f"the hub has witnessed no head of this server in line {answer.get('line')} yet")
    for c in answer.get("acknowledged", [])[:1]:
        found.notes.append(f"line {c.get('line', 0) + 1} began when {c.get('acknowledged_by') or 'the IT centre'} "
                           f"acknowledged conflict #{c.get('id')} ({c.get('kind')}) at {c.get('acknowledged_at')}: "
                           f"{c.get('note')}")
