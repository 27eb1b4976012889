"""Assembles the injected parts (clock, blob store, scanner, jobs) from settings, for the web app and the CLI."""
from __future__ import annotations

from .antivirus import make_scanner
from .clock import SystemClock
from .core.blobs import BlobStore
from .core.context import Context
from .jobs import make_jobs
from .models import init_database


def build_context(settings, *, clock=None, scanner=None, jobs=None, readonly=False) -> Context:
    init_database(settings.db_path, readonly=readonly)
    blobs = BlobStore(settings.data_path / "blobs")
    return Context(settings=settings, clock=clock or SystemClock(), blobs=blobs,
                   scanner=scanner or make_scanner(settings), jobs=jobs or make_jobs(settings, blobs))
