"""Periodic exchange jobs for the huey consumer (`vanban worker`). Listed in vanban.jobs.JOB_MODULES as
"vanban.exchange.jobs"; huey calls register(jobs) once per process.

Every minute (huey's periodic granularity): a node pushes its outbox and polls the hub; a hub with an upstream
exchanges with it. Every hour a node sends its signed daily statistics for the days not yet reported or
changed since (exchange/daily.py; idempotent, so an hourly run costs one small query when nothing changed). A run that finds the hub down leaves the rows with their backoff time, so a long outage
costs one failed connection per minute, not one per row. The same functions run by hand as
`vanban exchange push|poll` and `vanban hub upstream`. Every hour a hub removes the bytes of messages
acknowledged longer ago than hub_keep_acknowledged_days (`vanban hub sweep` by hand).

Every hour a node has the hub witness its audit-log head and keeps the signed receipt (exchange/witness.py;
`vanban audit witness` by hand). The hub down, or refusing the head (a conflict: logged as an error), costs
the run one warning and a return value; the next run tries again, and no user request ever waits for it.
"""
from __future__ import annotations

import logging

from huey import crontab

log = logging.getLogger(__name__)


def _context(jobs):
    from ..antivirus import make_scanner
    from ..clock import SystemClock
    from ..core.context import Context

    return Context(settings=jobs.settings, clock=SystemClock(), blobs=jobs.blobs, scanner=make_scanner(jobs.settings),
                   jobs=jobs)


def _run(jobs, what: str) -> dict:
    from .config import load_config

    # A server with no hub configured (not yet enrolled, or kept off the network) stops here, before the
    # exchange libraries (lxml, signxml, cryptography, requests: 23 MB) are imported into the job worker.
    if not load_config(jobs.settings.data_path).hub_url:
        return {}
    from .node import config_of
    from .transport import HubClient, TransportError

    ctx = _context(jobs)
    config = config_of(ctx)
    client = HubClient.from_config(config)
    try:
        if what == "push":
            from .node import push

            return push(ctx, client)
        if what == "poll":
            from .node import poll

            return poll(ctx, client)
        if what == "report":
            from .daily import push_reports

            return push_reports(ctx, client)
        if what == "witness":
            from .witness_node import witness

            return witness(ctx, client)
        from . import hub

        out = hub.forward_upstream(ctx.blobs, client, ctx.clock.now())
        out.update(hub.poll_upstream(ctx.blobs, client, ctx.clock.now(), trusted=config.trusted_certs,
                                     max_bytes=config.max_bytes, tmp_dir=ctx.blobs.tmp))
        return out
    except TransportError as exc:
        # the next run retries; metrics show the backlog. A refused audit head is no link trouble: the hub
        # found this server's audit log cut or rewritten (or restored), which someone must look at.
        level = logging.ERROR if exc.code in ("audit_head_conflict", "audit_conflict_open") else logging.WARNING
        log.log(level, "exchange %s: %s [%s]", what, exc.message, exc.code)
        return {"error": exc.code}


def _sweep(jobs) -> dict:
    """Hub: forget the bytes of messages acknowledged longer ago than hub_keep_acknowledged_days."""
    from . import hub

    ctx = _context(jobs)
    return hub.sweep_acknowledged(ctx.blobs, ctx.clock.now(), jobs.settings.hub_keep_acknowledged_days)


def register(jobs) -> None:
    role = jobs.settings.role

    if role == "node":
        @jobs.huey.periodic_task(crontab(minute="*"), name="exchange_push")
        def exchange_push():
            return jobs.run_in_db(_run, jobs, "push")

        @jobs.huey.periodic_task(crontab(minute="*"), name="exchange_poll")
        def exchange_poll():
            return jobs.run_in_db(_run, jobs, "poll")

        # minute 17: off the hour, when backups and other hourly jobs start
        @jobs.huey.periodic_task(crontab(minute="17"), name="exchange_daily_report")
        def exchange_daily_report():
            return jobs.run_in_db(_run, jobs, "report")

        # minute 29: off the hour and off the other hourly jobs
        @jobs.huey.periodic_task(crontab(minute="29"), name="exchange_audit_witness")
        def exchange_audit_witness():
            return jobs.run_in_db(_run, jobs, "witness")
    else:
        @jobs.huey.periodic_task(crontab(minute="*"), name="exchange_upstream")
        def exchange_upstream():
            return jobs.run_in_db(_run, jobs, "upstream")

        # minute 43: off the hour and off the other hourly jobs
        @jobs.huey.periodic_task(crontab(minute="43"), name="exchange_sweep_acknowledged")
        def exchange_sweep_acknowledged():
            return jobs.run_in_db(_sweep, jobs)
