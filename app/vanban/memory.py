"""Process memory settings for the long-running services (web workers and the job worker)."""
from __future__ import annotations

import contextlib
import ctypes

# glibc mallopt parameters
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8


def tune_malloc(arenas: int = 2, mmap_threshold: int = 256 * 1024) -> None:
    """Keep glibc malloc from holding memory the process no longer uses. Call before the threads start (in the
    gunicorn master, so the workers inherit it). Elsewhere than glibc this does nothing.

    - Arenas: glibc gives each thread its own arena and keeps what a thread once used; with a worker's threads
      and their SQLite page caches that was 10–20 MB of private memory per process on the 1M-document
      benchmark. A couple of arenas serve threads that mostly wait on SQLite.
    - A fixed mmap threshold: by default glibc raises the threshold to the size of the largest block freed so
      far, so after the first login (argon2id takes a 19 MiB block) every later login's block came from the
      heap and those 19 MiB stayed resident in each worker for good. With the threshold fixed, blocks of
      256 KiB and more (argon2's, a large search's candidate list) are mapped and handed back when freed,
      and the heap's free top is trimmed past the same size."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(M_ARENA_MAX, arenas)
        libc.mallopt(M_MMAP_THRESHOLD, mmap_threshold)
        libc.mallopt(M_TRIM_THRESHOLD, mmap_threshold)
