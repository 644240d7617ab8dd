"""The Cache contract as tests, run over MemoryCache here and RedisCache in integration."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from unity_core.cache import (
    DASHBOARD_KEY,
    TextCache,
    latest_entry,
    latest_key,
    status_key,
)
from unity_core.storage.batch import MetricRow

T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def sample(value: float, *, at: datetime = T0, cpu: str = "0") -> MetricRow:
    return MetricRow(
        at, "system", "cpu_percent", {"value": value, "type": "gauge"}, value, {"cpu": cpu}
    )


def latest_of(*rows: MetricRow) -> dict[str, dict[str, Any]]:
    return {row.series_key: latest_entry(row) for row in rows}


class CacheContract:
    """Subclasses provide a `cache` fixture (ttl latest=300, status=30) and `ttl_of`."""

    def ttl_of(self, cache: TextCache, key: str) -> float | None:
        raise NotImplementedError

    def test_a_stored_value_reads_back_equal(self, cache: TextCache) -> None:
        # Given a JSON value stored under a key
        value = {"a": [1, 2.5, "x"], "b": None, "c": True}
        cache.set_json("unity:test", value, 60)
        # When it is read
        # Then an equal copy comes back
        assert cache.get_json("unity:test") == value

    def test_a_missing_key_is_a_miss(self, cache: TextCache) -> None:
        assert cache.get_json("unity:absent") is None
        assert cache.get_latest("nobody") is None
        assert cache.get_status("nobody") is None

    def test_delete_removes_keys(self, cache: TextCache) -> None:
        cache.set_json("unity:a", 1, 60)
        cache.set_json("unity:b", 2, 60)
        cache.delete("unity:a", "unity:b")
        assert (cache.get_json("unity:a"), cache.get_json("unity:b")) == (None, None)

    def test_set_json_applies_the_given_ttl(self, cache: TextCache) -> None:
        cache.set_json("unity:ttl", 1, 42)
        left = self.ttl_of(cache, "unity:ttl")
        assert left is not None and 40 <= left <= 42

    def test_a_write_stores_latest_and_status_with_their_ttls_and_drops_the_dashboard(
        self, cache: TextCache
    ) -> None:
        # Given a cached dashboard summary
        cache.set_json(DASHBOARD_KEY, {"plugins": 3}, 60)
        row = sample(12.5)
        # When a write of one plugin is recorded
        cache.record_write({"system": latest_of(row)}, {"system": {"health_status": "ok"}})
        # Then latest and status are readable, with the configured TTLs
        assert cache.get_latest("system") == {row.series_key: latest_entry(row)}
        assert cache.get_status("system") == {"health_status": "ok"}
        latest_ttl = self.ttl_of(cache, latest_key("system"))
        status_ttl = self.ttl_of(cache, status_key("system"))
        assert latest_ttl is not None and 295 <= latest_ttl <= 300
        assert status_ttl is not None and 25 <= status_ttl <= 30
        # And the dashboard summary is invalidated
        assert cache.get_json(DASHBOARD_KEY) is None

    def test_a_write_merges_newer_samples_into_the_latest_and_keeps_the_others(
        self, cache: TextCache
    ) -> None:
        # Given latest samples of cpu 0 and cpu 1 at T0
        cpu0, cpu1 = sample(1.0, cpu="0"), sample(2.0, cpu="1")
        cache.record_write({"system": latest_of(cpu0, cpu1)}, {})
        # When a later sample of cpu 0 and an older one of cpu 1 are written
        newer = sample(3.0, cpu="0", at=T0 + timedelta(minutes=1))
        older = sample(4.0, cpu="1", at=T0 - timedelta(minutes=1))
        cache.record_write({"system": latest_of(newer, older)}, {})
        # Then cpu 0 moves on, cpu 1 keeps its newer value
        latest = cache.get_latest("system")
        assert latest is not None
        assert latest[cpu0.series_key]["numeric_value"] == 3.0
        assert latest[cpu1.series_key]["numeric_value"] == 2.0

    def test_a_write_without_a_status_drops_the_cached_one(self, cache: TextCache) -> None:
        cache.record_write({}, {"system": {"health_status": "ok"}})
        cache.record_write({}, {"system": None})
        assert cache.get_status("system") is None

    def test_a_value_that_is_not_json_reads_as_a_miss(self, cache: TextCache) -> None:
        cache._write([("unity:junk", "{not json", 60)], [])
        assert cache.get_json("unity:junk") is None
