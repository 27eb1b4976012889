"""`vanban exchange ...` (node side) and `vanban hub ...` (hub side). Plug-in for vanban.cli (PLUGINS)."""
from __future__ import annotations

import json
import os
import sys


def _ctx(args):
    from ..runtime import build_context

    return build_context(args.settings)


def _client(ctx, url=None):
    from .node import config_of
    from .transport import HubClient

    return HubClient.from_config(config_of(ctx), url)


def _print(obj) -> None:
    print(json.dumps(obj, ensure_ascii=False, default=str))


def cmd_setup(args) -> int:
    from .config import write_config

    values = {"node_name": args.node_name, "hub_url": args.hub_url or ""}
    if args.max_package_mb:
        values["max_package_mb"] = args.max_package_mb
    if args.proxy_client_header:
        values["proxy_client_header"] = True
    print(f"wrote {write_config(args.settings.data_path, **values)}")
    return 0


def cmd_issue_identity(args) -> int:
    """Run at the provincial IT centre, where the root key lives; copy the output directory to the server."""
    from ..signing.pki import Pki
    from .tls import issue_identity

    passphrase = os.environ.get("VANBAN_ROOT_PASSPHRASE") or sys.stdin.readline().strip()
    out = issue_identity(Pki(args.pki), args.out, name=args.name, role=args.role, root_passphrase=passphrase,
                         hosts=args.host or [args.name])
    _print(out)
    return 0


def _transport_failed(exc) -> int:
    print(f"lỗi: {exc.message} [{exc.code}]", file=sys.stderr)
    return 3


def _with_hub(args, exchange) -> int:
    """Run ``exchange(ctx, client)`` against the hub and print its result; exit 3 when the link fails."""
    from .transport import TransportError

    ctx = _ctx(args)
    try:
        _print(exchange(ctx, _client(ctx)))
    except TransportError as exc:
        return _transport_failed(exc)
    return 0


def cmd_push(args) -> int:
    from .node import push

    return _with_hub(args, push)


def cmd_poll(args) -> int:
    from .node import poll

    return _with_hub(args, poll)


def cmd_report(args) -> int:
    from .daily import push_reports

    return _with_hub(args, push_reports)


def cmd_status(args) -> int:
    from peewee import fn

    from ..models.exchange import ExchangeInbox
    from .node import outbox_overview, receipts

    ctx = _ctx(args)
    inbox = dict(ExchangeInbox.select(ExchangeInbox.state, fn.COUNT(ExchangeInbox.id))
                 .group_by(ExchangeInbox.state).tuples())
    _print({"outbox": outbox_overview(ctx.clock.now()), "inbox": inbox,
            "receipts": [{"document_id": r.document_id, "recipient": r.recipient, "status": r.status_code,
                          "at": r.status_at} for r in receipts(limit=args.limit)]})
    return 0


def cmd_hub_add(args) -> int:
    from . import hub

    _ctx(args)
    a = hub.add_agency(args.code, args.name, args.node, parent_code=args.parent_code, old_code=args.old_code,
                       level=args.level)
    print(f"agency {a.code} ({a.name}) hosted by {a.node}")
    return 0


def cmd_hub_list(args) -> int:
    from . import hub

    _ctx(args)
    for a in hub.list_agencies(active_only=False):
        print(f"{a.code:20} {a.old_code or '':14} {a.level:9} {a.node:20} {a.name}"
              + ("" if a.active else "  (ngừng hoạt động)"))
    _print({"queue": hub.queue_summary()})
    return 0


def cmd_hub_sync(args) -> int:
    """The directory from a JSON list on stdin ([{code, name, node, old_code?, parent_code?, level?}]): the
    playbooks send every agency of the inventory's nodes; prints what was added, updated and deactivated (JSON)."""
    from . import hub

    try:
        entries = json.load(sys.stdin)
    except json.JSONDecodeError as exc:
        print(f"lỗi: danh sách cơ quan không phải JSON: {exc}", file=sys.stderr)
        return 2
    if not isinstance(entries, list):
        print("lỗi: cần một danh sách JSON các cơ quan", file=sys.stderr)
        return 2
    _ctx(args)
    _print(hub.sync_directory(entries))
    return 0


def cmd_hub_upstream(args) -> int:
    """Forward what is for agencies outside the province, and fetch what the upstream holds for ours."""
    from . import hub
    from .node import config_of
    from .transport import TransportError

    ctx = _ctx(args)
    config = config_of(ctx)
    if not config.hub_url:
        print("no upstream hub configured (hub_url)")
        return 0
    client = _client(ctx)
    try:
        out = hub.forward_upstream(ctx.blobs, client, ctx.clock.now())
        out.update(hub.poll_upstream(ctx.blobs, client, ctx.clock.now(), trusted=config.trusted_certs,
                                     max_bytes=config.max_bytes, tmp_dir=ctx.blobs.tmp))
    except TransportError as exc:
        return _transport_failed(exc)
    _print(out)
    return 0


def cmd_hub_redeliver(args) -> int:
    """After a node is rebuilt from a backup: queue again what it acknowledged since the snapshot."""
    from ..errors import Invalid, NotFound
    from . import hub

    ctx = _ctx(args)
    try:
        _print(hub.redeliver(ctx.blobs, ctx.clock.now(), args.node, args.since, ctx.clock.tz,
                             margin_minutes=args.margin_minutes))
    except (Invalid, NotFound) as exc:
        print(f"lỗi: {exc.message} [{exc.code}]", file=sys.stderr)
        return 2
    return 0


def cmd_hub_sweep(args) -> int:
    from . import hub

    ctx = _ctx(args)
    _print(hub.sweep_acknowledged(ctx.blobs, ctx.clock.now(), ctx.settings.hub_keep_acknowledged_days))
    return 0


def cmd_hub_audit_heads(args) -> int:
    """The audit-log heads the hub witnessed, per node, and the conflicts waiting for the IT centre."""
    from . import witness

    _ctx(args)
    nodes = witness.overview(node=args.node)
    if args.json:
        _print({"nodes": nodes})
        return 0
    for n in nodes:
        h = n["head"]
        head = f"entry {h['entry_id']} ({h['count']} entries, {h['hash'][:12]}…) at {h['witnessed_at']}" if h else "-"
        c = n["open_conflict"]
        state = f"CONFLICT #{c['id']} {c['kind']} since {c['detected_at']} ({c['repeats']} heads refused since)" if c else "ok"
        print(f"{n['node']:20} line {n['line']:<3} {head:70} {state}")
        if c:
            print(f"    {c['message']}")
        for a in n["acknowledged"] if args.node else ():
            print(f"    #{a['id']} {a['kind']} at {a['detected_at']}, acknowledged by {a['acknowledged_by']} at "
                  f"{a['acknowledged_at']}: {a['note']}")
        for r in n.get("recent", []):
            print(f"    line {r['line']} entry {r['entry_id']:>8} {r['count']:>8} entries {r['hash']} {r['witnessed_at']}")
    return 0


def cmd_hub_audit_ack(args) -> int:
    """Accept a node's open audit conflict (after a restore the IT centre knows of): a new line starts."""
    import getpass

    from . import witness

    ctx = _ctx(args)
    by = os.environ.get("SUDO_USER") or getpass.getuser()
    out = witness.acknowledge(ctx.clock.now(), args.node, note=args.note, by=by, conflict_id=args.conflict)
    print(f"acknowledged conflict #{out['conflict']} ({out['kind']}) of {out['node']}; its next audit head "
          f"starts line {out['new_line']}")
    return 0


def register(subparsers) -> None:
    ex = subparsers.add_parser("exchange", help="liên thông: push, poll, status, setup")
    sub = ex.add_subparsers(dest="exchange_command", required=True)
    s = sub.add_parser("setup", help="write <data>/exchange.toml")
    s.add_argument("--node-name", required=True, help="CN of this server's TLS certificate")
    s.add_argument("--hub-url", help="https://hub:8443 (a hub: its upstream hub, or nothing)")
    s.add_argument("--max-package-mb", type=int)
    s.add_argument("--proxy-client-header", action="store_true", help="hub behind nginx on loopback")
    s.set_defaults(func=cmd_setup)
    i = sub.add_parser("issue-identity", help="issue TLS and signing certificates from the provincial root")
    i.add_argument("--pki", required=True, help="PKI directory holding the provincial root")
    i.add_argument("--name", required=True)
    i.add_argument("--role", choices=("node", "hub"), required=True)
    i.add_argument("--host", action="append", help="DNS name or IP in the certificate (repeatable)")
    i.add_argument("--out", required=True)
    i.set_defaults(func=cmd_issue_identity)
    sub.add_parser("push", help="send due outbox rows to the hub").set_defaults(func=cmd_push)
    sub.add_parser("poll", help="fetch, store and acknowledge messages from the hub").set_defaults(func=cmd_poll)
    sub.add_parser("report", help="send the signed daily statistics due to the hub").set_defaults(func=cmd_report)
    st = sub.add_parser("status", help="outbox depth, inbox states, latest receipts (JSON)")
    st.add_argument("--limit", type=int, default=20)
    st.set_defaults(func=cmd_status)

    h = subparsers.add_parser("hub", help="provincial hub: agency directory and relay")
    hs = h.add_subparsers(dest="hub_command", required=True)
    a = hs.add_parser("add-agency", help="add or update an agency of the directory")
    a.add_argument("--code", required=True)
    a.add_argument("--name", required=True)
    a.add_argument("--node", required=True, help="CN of the hosting server's TLS certificate")
    a.add_argument("--parent-code")
    a.add_argument("--old-code")
    a.add_argument("--level", default="district", choices=("province", "district", "commune"))
    a.set_defaults(func=cmd_hub_add)
    hs.add_parser("list", help="the directory and the queue").set_defaults(func=cmd_hub_list)
    hs.add_parser("sync-directory", help="add or update the agencies of a JSON list on stdin (playbooks) and "
                                        "deactivate those of its servers it no longer lists; prints what changed"
                  ).set_defaults(func=cmd_hub_sync)
    hs.add_parser("upstream", help="exchange with the upstream hub once").set_defaults(func=cmd_hub_upstream)
    r = hs.add_parser("redeliver", help="queue again what a rebuilt node acknowledged since its snapshot (JSON)")
    r.add_argument("--node", required=True, help="the node's name (CN), or agency codes it hosts (comma separated)")
    r.add_argument("--since", required=True, help="ISO time of the restored snapshot, e.g. 2026-03-09T01:00:00+00:00")
    r.add_argument("--margin-minutes", type=int, default=0,
                   help="start this many minutes before --since (clock skew; a second copy is harmless)")
    r.set_defaults(func=cmd_hub_redeliver)
    hs.add_parser("sweep", help="remove the bytes of messages acknowledged longer ago than "
                                "hub_keep_acknowledged_days").set_defaults(func=cmd_hub_sweep)
    ah = hs.add_parser("audit-heads", help="audit-log heads witnessed per node, and conflicts waiting")
    ah.add_argument("--node", help="one node, with its recent heads and acknowledged conflicts")
    ah.add_argument("--json", action="store_true")
    ah.set_defaults(func=cmd_hub_audit_heads)
    ak = hs.add_parser("audit-ack", help="accept a node's open audit conflict (a known restore): a new line starts")
    ak.add_argument("--node", required=True)
    ak.add_argument("--conflict", type=int, help="the conflict's number, to be sure it is the one you checked")
    ak.add_argument("--note", required=True, help="why (kept with the conflict), e.g. the restored archive")
    ak.set_defaults(func=cmd_hub_audit_ack)
