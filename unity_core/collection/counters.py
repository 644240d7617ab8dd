"""SharedCounters: counters' previous samples in the cache, falling back to the stored samples.

Consecutive collections of one instance may run on any worker of any host, so the
previous sample of a counter cannot live in a worker's memory. It lives in two places:

- the cache, one key per instance (`unity:plugin:<id>:counters`, series_key -> the two
  newest samples as [time, value, time, value], Unix seconds), read and written once per
  run: one round trip each way;
- the database, which stores every raw counter sample anyway: for series the cache does
  not know (no cache configured, Redis restarted, the first run on a new cache) the newest
  stored sample older than this one is read through the series catalog, one index probe
  per series. Samples not persisted yet are not seen there, so with no cache and a
  collection interval shorter than the persist delay a rate spans two intervals: still
  the true average, just coarser.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from unity_core.cache import Cache, NullCache
from unity_core.errors import StorageError
from unity_core.pipeline.rates import CounterSample, keep_recent, newest_before
from unity_core.storage.queries.previous import samples_before

log = logging.getLogger("unity.collection")

#: How long the cache keeps an instance's counters; a series unseen this long is dropped.
COUNTER_TTL_SECONDS = 86_400


def counters_key(plugin_id: str) -> str:
    return f"unity:plugin:{plugin_id}:counters"


class SharedCounters:
    """The workers' CounterMemory (see the module doc); `read_only` for dry runs."""

    def __init__(
        self,
        cache: Cache,
        open_session: Callable[[], Session] | None = None,
        *,
        read_only: bool = False,
    ) -> None:
        self.cache = cache
        self.open_session = open_session
        self.read_only = read_only
        self._cached = not isinstance(cache, NullCache)

    def exchange(
        self, plugin_id: str, current: Mapping[str, CounterSample]
    ) -> dict[str, CounterSample]:
        key = counters_key(plugin_id)
        stored = self.cache.get_json(key) if self._cached else None
        remembered: dict[str, Any] = stored if isinstance(stored, dict) else {}
        remember = self._cached and not self.read_only
        previous: dict[str, CounterSample] = {}
        for series, sample in current.items():
            history = _decode(remembered.get(series))
            older = newest_before(history, sample.time)
            if older is not None:
                previous[series] = older
            if remember:
                remembered[series] = _encode(keep_recent(history, sample))
        missing = [series for series in current if series not in previous]
        if missing and self.open_session is not None:
            try:
                previous.update(self._stored(missing, current))
            except StorageError as error:  # keep what the cache knew, and remember this run
                log.warning("%s: counters' previous samples not read: %s", plugin_id, error)
        if remember:
            oldest = max(s.time for s in current.values()).timestamp() - COUNTER_TTL_SECONDS
            kept = {k: v for k, v in remembered.items() if _newest(v) >= oldest}
            self.cache.set_json(key, kept, COUNTER_TTL_SECONDS)
        return previous

    def _stored(
        self, series: list[str], current: Mapping[str, CounterSample]
    ) -> dict[str, CounterSample]:
        assert self.open_session is not None
        by_time: dict[datetime, list[str]] = {}
        for key in series:
            by_time.setdefault(current[key].time, []).append(key)
        found: dict[str, CounterSample] = {}
        with self.open_session() as session:
            for moment, keys in by_time.items():  # one query: a run's counters share a time
                for key, (when, value) in samples_before(session, keys, moment).items():
                    found[key] = CounterSample(when, value)
        return found


def _decode(stored: Any) -> list[CounterSample]:
    """[t0, v0, t1, v1] (Unix seconds, values) as samples; a damaged entry is a miss."""
    try:
        return [
            CounterSample(datetime.fromtimestamp(stored[i], UTC), float(stored[i + 1]))
            for i in range(0, len(stored), 2)
        ]
    except (TypeError, ValueError, IndexError, OverflowError):
        return []  # the database knows the value


def _newest(stored: Any) -> float:
    """The time of an entry's newest sample; 0 (dropped) for a damaged one."""
    try:
        return float(stored[-2])
    except (TypeError, ValueError, IndexError):
        return 0.0


def _encode(samples: list[CounterSample]) -> list[float]:
    # Flat Unix seconds and values: a fifth of the cost of ISO strings to write and read.
    return [number for sample in samples for number in (sample.time.timestamp(), sample.value)]
