"""Periodic jobs of work management (issue 9) for the huey consumer (`vanban worker`).

Register by adding "vanban.work_jobs" to vanban.jobs.JOB_MODULES; huey then calls register(jobs) once per
process. Every scan is idempotent (notifications carry a dedup key, scans keep high-water marks), so a run
repeated after a crash or by hand changes nothing twice.

- every 5 minutes: routing assignments and documents arrived from other agencies → notifications
- every 15 minutes: tasks due soon / overdue, dossiers due for the archive within 30 days → notifications
- every 5 minutes: e-mail digests through the SMTP relay (one per person, spaced by mail_batch_minutes)
"""
from __future__ import annotations

import logging
import smtplib

from huey import crontab

log = logging.getLogger(__name__)


def _context(jobs):
    from .antivirus import make_scanner
    from .clock import SystemClock
    from .core.context import Context

    return Context(settings=jobs.settings, clock=SystemClock(), blobs=jobs.blobs, scanner=make_scanner(jobs.settings),
                   jobs=jobs)


def scan_events(ctx) -> dict:
    from .core import notifications

    return {"assigned": notifications.scan_assignments(ctx), "arrived": notifications.scan_arrivals(ctx)}


def scan_deadlines(ctx) -> dict:
    from .core import dossiers, tasks

    return {**tasks.scan_deadlines(ctx), "dossier_due": dossiers.scan_due(ctx)}


def send_mail(ctx) -> dict:
    from .core.mailer import MailConfig, send_pending

    try:
        return send_pending(ctx, MailConfig.from_settings(ctx.settings))
    except (OSError, smtplib.SMTPException) as exc:
        log.warning("mail relay: %s; notifications stay pending for the next run", exc)
        return {"error": str(exc)[:200]}


def register(jobs) -> None:
    @jobs.huey.periodic_task(crontab(minute="*/5"), name="work_scan_events")
    def work_scan_events():
        return jobs.run_in_db(scan_events, _context(jobs))

    @jobs.huey.periodic_task(crontab(minute="*/15"), name="work_scan_deadlines")
    def work_scan_deadlines():
        return jobs.run_in_db(scan_deadlines, _context(jobs))

    @jobs.huey.periodic_task(crontab(minute="*/5"), name="work_send_mail")
    def work_send_mail():
        return jobs.run_in_db(send_mail, _context(jobs))
