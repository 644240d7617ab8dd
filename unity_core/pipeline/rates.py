"""Rates: every counter's per-second rate since its previous sample, with resets handled.

A counter (bytes sent since boot) is stored as reported; Rates adds `<name>_rate`, a
gauge in `<unit>_per_second`, with the same tags and sample time. The previous sample
lives outside the process (a CounterMemory: the cache, falling back to the stored raw
samples), because consecutive collections of one instance may run on different workers
and hosts.

- First sample of a series (nothing remembered, nothing stored): no rate.
- The counter went down (a reboot, a restarted daemon, a wrap): a reset, and no rate for
  that interval. A rate "from zero" (value / elapsed) would assume the counter restarted
  just after the previous sample, which is rarely true: it is a guess that shows up as a
  dip or a spike. A one-interval gap is honest, and the next run has a true rate again.
- The previous sample is not older than this one (a redelivered slot): it is skipped and
  the newest strictly older one is used, so re-running a slot gives the same rate.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import NamedTuple, Protocol

from unity_core.pipeline.derive import computed_draft
from unity_core.pipeline.stage import Batch, Draft, Stage
from unity_core.pipeline.validate import MAX_NAME, specs_of
from unity_core.plugins.sdk import Metric, MetricType
from unity_core.storage.series import series_key

log = logging.getLogger("unity.pipeline")

RATE_SUFFIX = "_rate"


class CounterSample(NamedTuple):
    """One reading of one counter series."""

    time: datetime
    value: float


class CounterMemory(Protocol):
    """Where counters' previous samples live between runs (see unity_core.collection.counters).

    `exchange` returns, for each series key of `current`, the newest sample it knows that
    is strictly older than the current one's time (missing keys: none known), and then
    remembers `current`. One call per run; it may raise, which costs that run its rates.
    """

    def exchange(
        self, plugin_id: str, current: Mapping[str, CounterSample]
    ) -> Mapping[str, CounterSample]: ...


class LocalCounters:
    """A CounterMemory in this process only: for tests, benchmarks and one-process tools."""

    def __init__(self) -> None:
        self._seen: dict[str, dict[str, list[CounterSample]]] = {}

    def exchange(
        self, plugin_id: str, current: Mapping[str, CounterSample]
    ) -> dict[str, CounterSample]:
        seen = self._seen.setdefault(plugin_id, {})
        previous: dict[str, CounterSample] = {}
        for key, sample in current.items():
            history = seen.get(key, [])
            older = newest_before(history, sample.time)
            if older is not None:
                previous[key] = older
            seen[key] = keep_recent(history, sample)
        return previous


def newest_before(history: list[CounterSample], moment: datetime) -> CounterSample | None:
    """The newest sample of `history` strictly older than `moment`."""
    older = [sample for sample in history if sample.time < moment]
    return max(older) if older else None


def keep_recent(history: list[CounterSample], sample: CounterSample) -> list[CounterSample]:
    """`history` with `sample` added: the two newest distinct times (two, for redelivery)."""
    by_time = {old.time: old for old in history}
    by_time[sample.time] = sample
    return sorted(by_time.values())[-2:]


def rate_between(previous: CounterSample, current: CounterSample) -> float | None:
    """Per-second increase from `previous` to `current`; None for a reset or no elapsed time."""
    elapsed = (current.time - previous.time).total_seconds()
    if elapsed <= 0:
        return None
    increase = current.value - previous.value
    if increase < 0:
        return None
    return round(increase / elapsed, 6)


def rate_unit(unit: str) -> str:
    """The unit of a counter's rate: "bytes" -> "bytes_per_second", "" -> "per_second"."""
    return f"{unit}_per_second" if unit else "per_second"


class Rates(Stage):
    """Adds `<name>_rate` for every counter that has a previous sample (see the module doc).

    Series are keyed exactly as storage keys them (plugin id, metric name, the row's final
    tags), so the memory's fallback can read the stored samples directly. Skipped: runs
    without counters or without a memory (no I/O at all), counters whose rate name the
    plugin declares itself or that would be too long. A memory that fails is logged and
    the run is kept without rates.
    """

    name = "Rates"

    def process(self, batch: Batch) -> Batch:
        memory = batch.counters
        if memory is None:
            return batch
        counters = [d for d in batch.drafts if d.type == "counter" and d.numeric is not None]
        if not counters:
            return batch
        plugin_id = batch.collection.plugin_id
        base = batch.context.base_tags()
        current: dict[str, CounterSample] = {}
        keyed: list[tuple[str, Draft]] = []
        for draft in counters:
            assert draft.time is not None and draft.numeric is not None
            key = series_key(plugin_id, draft.name, {**base, **draft.tags} if draft.tags else base)
            current[key] = CounterSample(draft.time, draft.numeric)
            keyed.append((key, draft))
        try:
            previous = memory.exchange(plugin_id, current)
        except Exception as error:  # Redis or the database away: lose rates, not the run
            log.warning("%s: no counter rates this run: %s", plugin_id, error)
            return batch
        declared = specs_of(batch.plugin_cls)
        for key, draft in keyed:
            before = previous.get(key)
            name = draft.name + RATE_SUFFIX
            if before is None or name in declared or len(name) > MAX_NAME:
                continue
            rate = rate_between(before, current[key])
            if rate is not None:
                source = Metric(name, rate, draft.tags or {}, draft.time, MetricType.GAUGE)
                batch.drafts.append(
                    computed_draft(source, rate, "gauge", rate_unit(draft.unit), None)
                )
        return batch
