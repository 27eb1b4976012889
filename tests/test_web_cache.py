"""The per-thread page cache (web/cache.py) on a real database: bounded by entries and by bytes, emptied by
any write."""
from vanban.models import database, write_transaction
from vanban.web import cache


def test_cache_is_bounded_by_bytes_and_emptied_by_a_write(app, monkeypatch):
    monkeypatch.setattr(cache, "MAX_BYTES", 10_000)
    cache.clear()
    for i in range(5):
        cache.put(("page", i), "x" * 3_000)
    kept = [i for i in range(5) if cache.get(("page", i))]
    assert kept == [2, 3, 4]  # the oldest went first; 9,000 bytes are within the bound
    cache.put(("page", 4), "y" * 100)  # replacing a value counts its new size only
    cache.put(("page", 5), "z" * 3_000)
    assert cache.get(("page", 2)) and cache.get(("page", 5)) and cache.get(("page", 4)) == "y" * 100
    assert cache.memo(("count",), lambda: 7) == 7 and cache.memo(("count",), lambda: 8) == 7
    with write_transaction():
        database.execute_sql("CREATE TABLE IF NOT EXISTS cache_probe (x)")
        database.execute_sql("INSERT INTO cache_probe VALUES (1)")
    assert cache.get(("page", 5)) is None and cache.memo(("count",), lambda: 8) == 8
