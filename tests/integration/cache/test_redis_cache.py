"""RedisCache on a real Redis: the Cache contract, and an unreachable cache that costs nothing."""

from __future__ import annotations

import logging
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.unit.core.cache.contract import CacheContract, latest_of, sample
from unity_core.cache import RedisCache, TextCache
from unity_core.config.settings import CacheTTL


@pytest.fixture
def cache(redis_url: str) -> Iterator[RedisCache]:
    cache = RedisCache(redis_url, CacheTTL(latest=300, status=30))
    yield cache
    cache.close()


class TestRedisCache(CacheContract):
    def ttl_of(self, cache: TextCache, key: str) -> float | None:
        assert isinstance(cache, RedisCache)
        client = redis.Redis.from_url(cache.url)
        try:
            left = int(client.ttl(key))
        finally:
            client.close()
        return None if left < 0 else float(left)


def test_the_latest_key_is_plain_json_under_the_design_name(
    cache: RedisCache, redis_url: str
) -> None:
    # Given a recorded write
    row = sample(7.0)
    cache.record_write({"system": latest_of(row)}, {})
    # When another client reads the design's key directly
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    text = client.get("unity:plugin:system:latest")
    client.close()
    # Then it is JSON naming the metric and its value
    assert text is not None and '"metric_name":"cpu_percent"' in text


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_cache_on_a_closed_port_misses_quietly_and_warns_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given a cache whose server is not there
    cache = RedisCache(f"redis://127.0.0.1:{closed_port()}/0", retry_after=0.0)
    # When it is used many times
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="unity.cache"):
        for _ in range(5):
            cache.record_write({"system": latest_of(sample(1.0))}, {"system": {"ok": 1}})
            cache.set_json("unity:x", 1, 60)
            cache.delete("unity:x")
            assert cache.get_json("unity:x") is None
            assert cache.get_latest("system") is None
            assert cache.get_status("system") is None
    elapsed = time.monotonic() - started
    # Then nothing was raised, one warning was logged, and no call stalled
    warnings = [r for r in caplog.records if "unavailable" in r.getMessage()]
    assert len(warnings) == 1
    assert elapsed < 2.0


def test_after_a_failure_the_server_is_not_tried_until_retry_after() -> None:
    # Given a cache that just failed, with a long retry_after and a clock we control
    now = [100.0]
    cache = RedisCache(f"redis://127.0.0.1:{closed_port()}/0", clock=lambda: now[0])
    assert cache.get_json("unity:x") is None
    # When it is used within retry_after
    calls: list[str] = []

    def fake_mget(*args: object, **kwargs: object) -> list[None]:
        calls.append("mget")
        return [None]

    cache._client.mget = fake_mget  # type: ignore[method-assign, assignment]
    cache.get_json("unity:x")
    # Then the server is not contacted; after retry_after it is tried again
    assert calls == []
    now[0] += 5.0
    cache.get_json("unity:x")
    assert calls == ["mget"]


def start_redis(port: int, folder: Path) -> subprocess.Popen[bytes]:
    """A redis-server of our own (so the test may kill it), answering PING when returned."""
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1"]
    command += ["--save", "", "--appendonly", "no", "--dir", str(folder)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            redis.Redis(port=port, socket_connect_timeout=0.2).ping()
            return process
        except redis.RedisError:
            time.sleep(0.05)
    process.kill()
    raise AssertionError("redis-server did not start")


def test_a_cache_that_goes_away_and_comes_back_is_used_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a cache on a Redis server we run ourselves, holding a status
    port = closed_port()
    server = start_redis(port, tmp_path)
    try:
        cache = RedisCache(f"redis://127.0.0.1:{port}/0", retry_after=0.0)
        cache.record_write({}, {"system": {"health_status": "ok"}})
        assert cache.get_status("system") == {"health_status": "ok"}
        # When the server dies
        server.kill()
        server.wait()
        with caplog.at_level(logging.WARNING, logger="unity.cache"):
            # Then reads miss and writes are dropped, without errors
            assert cache.get_status("system") is None
            cache.record_write({}, {"system": {"health_status": "failing"}})
            # And when it is back, the cache works again and says so
            server = start_redis(port, tmp_path)
            cache.record_write({}, {"system": {"health_status": "degraded"}})
            assert cache.get_status("system") == {"health_status": "degraded"}
        messages = [r.getMessage() for r in caplog.records]
        assert sum("unavailable" in m for m in messages) == 1
        assert sum("reachable again" in m for m in messages) == 1
    finally:
        server.kill()
        server.wait()
