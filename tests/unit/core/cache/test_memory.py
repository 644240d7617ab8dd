"""MemoryCache keeps the Cache contract, and expires keys by its clock."""

from __future__ import annotations

import pytest

from unity_core.cache import MemoryCache, TextCache
from unity_core.config.settings import CacheTTL

from .contract import CacheContract


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cache(clock: Clock) -> MemoryCache:
    return MemoryCache(CacheTTL(latest=300, status=30), clock=clock)


class TestMemoryCache(CacheContract):
    def ttl_of(self, cache: TextCache, key: str) -> float | None:
        assert isinstance(cache, MemoryCache)
        return cache.ttl_left(key)


def test_a_key_is_gone_once_its_ttl_has_passed(cache: MemoryCache, clock: Clock) -> None:
    # Given a status cached for 30 s
    cache.record_write({}, {"system": {"health_status": "ok"}})
    # When 29 s pass it is still there; when 30 s have passed it is gone
    clock.now += 29
    assert cache.get_status("system") == {"health_status": "ok"}
    clock.now += 1
    assert cache.get_status("system") is None


def test_a_value_read_back_is_a_copy(cache: MemoryCache) -> None:
    # Given a stored mapping
    value = {"list": [1]}
    cache.set_json("unity:x", value, 60)
    # When the caller changes what it read
    found = cache.get_json("unity:x")
    found["list"].append(2)
    # Then the cached value is unchanged
    assert cache.get_json("unity:x") == {"list": [1]}
