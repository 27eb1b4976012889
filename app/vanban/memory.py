"""Process memory settings for the long-running services (web workers and the job worker)."""
from __future__ import annotations

import contextlib
import ctypes

M_ARENA_MAX = -8  # glibc mallopt parameter


def limit_malloc_arenas(arenas: int = 2) -> None:
    """glibc gives each thread its own malloc arena and keeps what a thread once used: with a worker's threads
    and their SQLite page caches that was 10–20 MB of private memory per process on the 1M-document benchmark.
    A couple of arenas serve threads that mostly wait on SQLite. Call before the threads start (in the gunicorn
    master, so the workers inherit it). Elsewhere than glibc this does nothing."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").mallopt(M_ARENA_MAX, arenas)
