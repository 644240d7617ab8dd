"""Rate-limit counts in Redis, batched per process: shared across processes, bounded overshoot."""

from __future__ import annotations

import pytest
from limits import parse
from limits.strategies import FixedWindowRateLimiter

from unity_api import ratelimits
from unity_api.ratelimits import SYNC_EVERY, BatchedRedisStorage


def storage(redis_url: str) -> BatchedRedisStorage:
    return BatchedRedisStorage("unity+" + redis_url, key_prefix="unity-test")


def test_a_limit_holds_within_the_batch_size(redis_url: str) -> None:
    # Given a limit of 50 per minute counted by one API process
    limiter = FixedWindowRateLimiter(storage(redis_url))
    limit = parse("50/minute")
    # When a client sends 100 requests
    allowed = sum(limiter.hit(limit, "token-a") for _ in range(100))
    # Then at least the 50 it may send pass, and at most a batch more
    assert 50 <= allowed <= 50 + SYNC_EVERY - 1


def test_processes_share_one_count_in_redis(redis_url: str) -> None:
    # Given two API processes (two storages) counting the same client
    first, second = storage(redis_url), storage(redis_url)
    # When each sees 100 hits
    for _ in range(100):
        first.incr("shared", 60)
        second.incr("shared", 60)
    # Then Redis holds all but the hits each has not sent yet (fewer than a batch each)
    in_redis = first.get("shared")
    assert 200 - 2 * (SYNC_EVERY - 1) <= in_redis <= 200
    # And each process's view includes the other's synced hits
    assert second.incr("shared", 60) >= in_redis


def test_a_stale_local_count_is_refreshed_from_redis(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(ratelimits.time, "monotonic", lambda: clock[0])
    first, second = storage(redis_url), storage(redis_url)
    first.incr("stale", 60)
    # Another process sends many hits meanwhile
    for _ in range(3 * SYNC_EVERY):
        second.incr("stale", 60)
    # Within MAX_STALE the first still counts locally; after it, it sees the shared count
    assert first.incr("stale", 60) < 3 * SYNC_EVERY
    clock[0] += ratelimits.MAX_STALE
    assert first.incr("stale", 60) >= 2 * SYNC_EVERY
