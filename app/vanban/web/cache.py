"""Per-thread caches invalidated by any database change (models.db.generation).

A gthread worker keeps one SQLite connection per thread, so each thread keeps its own small cache keyed on
that connection's generation: a hit costs one PRAGMA and a dict lookup, and any commit anywhere (another
thread, another worker, the job worker, the CLI) empties it before the next read."""
from __future__ import annotations

import threading
from collections import OrderedDict

from ..models.db import generation

_local = threading.local()
MAX_ENTRIES = 512
# Rendered pages are ~15 KB: without a byte bound, a district's 200 users could keep 512 × 15 KB in each of a
# worker's threads between two writes. Values other than text count as 1 KB.
MAX_BYTES = 2 * 1024 * 1024


def _size(value) -> int:
    return len(value) if isinstance(value, (str, bytes)) else 1024


def _store() -> OrderedDict:
    gen = generation()
    store = getattr(_local, "store", None)
    if store is None or _local.gen != gen:
        store = _local.store = OrderedDict()
        _local.gen, _local.bytes = gen, 0
    return store


def get(key):
    store = _store()
    value = store.get(key)
    if value is not None:
        store.move_to_end(key)
    return value


def put(key, value) -> None:
    store = _store()
    old = store.pop(key, None)
    if old is not None:
        _local.bytes -= _size(old)
    store[key] = value
    _local.bytes += _size(value)
    while store and (len(store) > MAX_ENTRIES or _local.bytes > MAX_BYTES):
        _, dropped = store.popitem(last=False)
        _local.bytes -= _size(dropped)


def memo(key, compute):
    """The cached value for key, computed (and kept until the next database change) on a miss."""
    value = get(key)
    if value is None:
        value = compute()
        put(key, value)
    return value


def clear() -> None:
    _local.store = None
