"""Fabric tasks for the local admin of a vanban server, one module per concern (see appliance/README.md).

Every task calls the `vanban` CLI on the server (or systemctl/journalctl around it) and prints each command
before it runs; tasks that change data or stop the app refuse to act without --yes.
"""
from __future__ import annotations

from invoke import Collection

from . import backups, certs, logs, status, upgrade, users
from .remote import DEFAULTS

MODULES = (status, logs, backups, users, upgrade, certs)


def build_collection() -> Collection:
    """Flat names (`fab status`, `fab backup-now`, `fab restore`), as admins type them."""
    ns = Collection()
    for module in MODULES:
        for task in Collection.from_module(module).tasks.values():
            ns.add_task(task)
    ns.configure({"vanban": dict(DEFAULTS)})
    return ns
