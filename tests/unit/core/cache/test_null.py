"""NullCache misses everything and never raises; make_cache picks it when the cache is off."""

from __future__ import annotations

from pathlib import Path

from unity_core.cache import Cache, NullCache, RedisCache, make_cache
from unity_core.config.settings import CacheSettings, DatabaseSettings, Settings

from .contract import latest_of, sample


def settings(cache: CacheSettings) -> Settings:
    return Settings(data_dir=Path("data"), database=DatabaseSettings(url="sqlite://"), cache=cache)


def test_every_read_misses_even_after_writes() -> None:
    # Given a null cache that was written to in every way
    cache = NullCache()
    cache.set_json("unity:x", 1, 60)
    cache.record_write({"system": latest_of(sample(1.0))}, {"system": {"health_status": "ok"}})
    cache.delete("unity:x")
    cache.close()
    # Then every read is a miss
    assert cache.get_json("unity:x") is None
    assert cache.get_latest("system") is None
    assert cache.get_status("system") is None


def test_a_disabled_cache_is_a_null_cache() -> None:
    cache = make_cache(settings(CacheSettings(enabled=False)))
    assert isinstance(cache, NullCache)
    assert isinstance(cache, Cache)


def test_cache_type_none_is_a_null_cache_even_with_a_url() -> None:
    config = CacheSettings(enabled=True, type="none", url="redis://127.0.0.1:6379/0")
    assert isinstance(make_cache(settings(config)), NullCache)


def test_a_configured_redis_cache_is_built_without_connecting() -> None:
    # Given a Redis cache URL on a port nothing listens on
    config = CacheSettings(enabled=True, type="redis", url="redis://127.0.0.1:1/0")
    # When the cache is made
    cache = make_cache(settings(config))
    # Then it is a RedisCache (no connection attempted yet), and reads just miss
    assert isinstance(cache, RedisCache)
    assert cache.get_status("system") is None
