"""Counter rates across collections that ran on different workers, on all three databases.

Each collection gets its own SharedCounters, as a collection on another worker process or
host would: the previous sample comes from the cache they share or, without one, from the
raw counter samples stored by the previous collection.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, select

from unity_core.cache import Cache, MemoryCache, NullCache, RedisCache
from unity_core.collection import Outcome, collect_once, persist_outcomes
from unity_core.collection.counters import SharedCounters, counters_key
from unity_core.plugins.sdk import Metric
from unity_core.storage.engine import make_engine, make_sessionmaker
from unity_core.storage.models import PluginMetric

from .helpers import MINUTE, SLOT, Sensors, instance, session_on, settings, stub_run


def collect_rx(engine: Engine | None, cache: Cache, slot: datetime, *totals: float) -> Outcome:
    """One collection of rx_bytes per interface (eth0, eth1, …) with a fresh SharedCounters
    (falling back to `engine`'s stored samples, if given)."""
    metrics = [Metric("rx_bytes", total, {"if": f"eth{i}"}) for i, total in enumerate(totals)]
    counters = SharedCounters(cache, make_sessionmaker(engine) if engine else None)
    return collect_once(
        instance(),
        Sensors(),
        slot,
        worker_host="w1",
        settings=settings(),
        run=stub_run(metrics),
        counters=counters,
    )


def persist(engine: Engine, outcome: Outcome) -> None:
    with session_on(engine) as session:
        persist_outcomes(session, [outcome])
        session.commit()


def stored_rates(engine: Engine) -> dict[tuple[datetime, str], float | None]:
    with session_on(engine) as session:
        rows = session.execute(
            select(PluginMetric.time, PluginMetric.tags, PluginMetric.numeric_value).where(
                PluginMetric.metric_name == "rx_bytes_rate"
            )
        ).all()
    return {(row.time, row.tags["if"]): row.numeric_value for row in rows}


def test_without_a_cache_the_rate_comes_from_the_stored_previous_sample(engine: Engine) -> None:
    # Given a first collection stored in the database (no cache configured)
    first = collect_rx(engine, NullCache(), SLOT, 1_000, 50)
    assert [r.metric_name for r in first.rows if r.metric_name.endswith("_rate")] == []
    persist(engine, first)
    # When the next slot is collected by another worker (its own, empty memory)
    second = collect_rx(engine, NullCache(), SLOT + MINUTE, 7_000, 50)
    persist(engine, second)
    # Then the stored rates are (7000 - 1000) / 60 s and 0, at the second slot
    assert stored_rates(engine) == {(SLOT + MINUTE, "eth0"): 100.0, (SLOT + MINUTE, "eth1"): 0.0}
    # And the rate row is a gauge in bytes per second
    rate = next(r for r in second.rows if r.metric_name == "rx_bytes_rate")
    assert rate.value == {"value": 100.0, "type": "gauge", "unit": "bytes_per_second"}


def test_a_reset_stores_no_rate_and_the_next_interval_is_rated_again(engine: Engine) -> None:
    # Given three stored collections: 9000, then 600 after a reboot, then 1200
    for step, total in enumerate((9_000, 600, 1_200)):
        persist(engine, collect_rx(engine, NullCache(), SLOT + step * MINUTE, total))
    # Then only the interval after the reset has a rate: no negative one, no guess
    assert stored_rates(engine) == {(SLOT + 2 * MINUTE, "eth0"): 10.0}


def test_the_previous_sample_is_found_in_the_cache_before_it_is_persisted(
    engine: Engine,
) -> None:
    # Given a first collection that is not persisted yet (its outcome still queued)
    cache = MemoryCache()
    first = collect_rx(engine, cache, SLOT, 1_000)
    # When the next collection runs, with its own SharedCounters over the same cache
    second = collect_rx(engine, cache, SLOT + MINUTE, 4_000)
    persist(engine, first)
    persist(engine, second)
    # Then it had the previous sample from the cache
    assert stored_rates(engine) == {(SLOT + MINUTE, "eth0"): 50.0}


def test_a_dry_run_reads_counters_but_remembers_nothing(engine: Engine) -> None:
    # Given a stored first collection and an empty cache
    persist(engine, collect_rx(engine, NullCache(), SLOT, 1_000))
    cache = MemoryCache()
    counters = SharedCounters(cache, make_sessionmaker(engine), read_only=True)
    # When a dry run collects the next slot
    outcome = collect_once(
        instance(),
        Sensors(),
        SLOT + MINUTE,
        worker_host="w1",
        settings=settings(),
        run=stub_run([Metric("rx_bytes", 1_600, {"if": "eth0"})]),
        counters=counters,
    )
    # Then it shows the rate from the stored sample, and wrote nothing to the cache
    assert [r.numeric_value for r in outcome.rows if r.metric_name == "rx_bytes_rate"] == [10.0]
    assert cache.get_json(counters_key("sensors")) is None


def test_two_hosts_sharing_redis_agree_on_the_rate(redis_url: str) -> None:
    """Two RedisCache clients stand for two hosts; no database is involved at all."""
    # Given two workers, each with its own Redis client, and no database fallback
    host_a, host_b = RedisCache(redis_url), RedisCache(redis_url)
    try:
        # When host A collects one slot and host B the next
        collect_rx(None, host_a, SLOT, 6_000)
        second = collect_rx(None, host_b, SLOT + MINUTE, 18_000)
    finally:
        host_a.close()
        host_b.close()
    # Then host B derives the rate from host A's sample
    assert [r.numeric_value for r in second.rows if r.metric_name == "rx_bytes_rate"] == [200.0]


def test_a_database_that_is_down_costs_the_fallback_not_the_cached_rates() -> None:
    # Given a cache that knows the previous sample, and a database that cannot be reached
    cache = MemoryCache()
    unreachable = make_sessionmaker(make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none"))
    metrics = [Metric("rx_bytes", 100, {"if": "eth0"})]
    counters = SharedCounters(cache, unreachable)
    collect_once(
        instance(),
        Sensors(),
        SLOT,
        worker_host="w",
        settings=settings(),
        run=stub_run(metrics),
        counters=counters,
    )
    # When the next run has one series the cache knows and one it does not
    later = [Metric("rx_bytes", 700, {"if": "eth0"}), Metric("rx_bytes", 5, {"if": "eth1"})]
    outcome = collect_once(
        instance(),
        Sensors(),
        SLOT + MINUTE,
        worker_host="w",
        settings=settings(),
        run=stub_run(later),
        counters=counters,
    )
    # Then the known series still gets its rate; the run is not failed
    assert outcome.ok
    rates = {
        r.tags["if"]: r.numeric_value for r in outcome.rows if r.metric_name == "rx_bytes_rate"
    }
    assert rates == {"eth0": 10.0}
