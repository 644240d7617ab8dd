"""Rates: a counter's per-second rate from its previous sample; none on the first or a reset."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

import pytest

from unity_core.pipeline import (
    CounterMemory,
    CounterSample,
    LocalCounters,
    Pipeline,
    PipelineResult,
)
from unity_core.pipeline.rates import rate_between, rate_unit
from unity_core.plugins.sdk import Accumulator, Collection, Metric, MetricSpec, MetricType, Plugin
from unity_core.storage.series import series_key

from .helpers import SLOT, Declared, context, counter, gauge

MINUTE = timedelta(minutes=1)


def run_at(
    memory: CounterMemory | None,
    *metrics: Metric,
    at: timedelta = timedelta(0),
    plugin: type[Plugin] = Declared,
) -> PipelineResult:
    collection = Collection(plugin.id, SLOT + at, list(metrics), [], 1.0)
    return Pipeline().process(collection, plugin, context(now=SLOT + at), counters=memory)


def rates(result: PipelineResult) -> dict[tuple[str, str], float | None]:
    return {
        (row.metric_name, (row.tags or {}).get("if", "")): row.numeric_value
        for row in result.rows
        if row.metric_name.endswith("_rate")
    }


def test_the_first_sample_of_a_counter_has_no_rate() -> None:
    # Given a memory that has never seen the counter
    # When the first collection reports it
    result = run_at(LocalCounters(), counter("bytes_sent", 1000))
    # Then the raw counter is stored and no rate is derived
    assert [row.metric_name for row in result.rows] == ["bytes_sent"]


def test_the_second_sample_gives_the_per_second_increase_with_the_counters_tags() -> None:
    # Given one memory shared by two collections a minute apart, two interfaces each
    memory = LocalCounters()
    run_at(
        memory,
        counter("bytes_sent", 1000, tags={"if": "eth0"}),
        counter("bytes_sent", 5, tags={"if": "lo"}),
    )
    # When the second collection reports higher totals
    second = run_at(
        memory,
        counter("bytes_sent", 7000, tags={"if": "eth0"}),
        counter("bytes_sent", 5, tags={"if": "lo"}),
        at=MINUTE,
    )
    # Then each series gets its own rate: (7000 - 1000) / 60 s and 0 for the idle one
    assert rates(second) == {("bytes_sent_rate", "eth0"): 100.0, ("bytes_sent_rate", "lo"): 0.0}
    row = next(
        r
        for r in second.rows
        if r.metric_name == "bytes_sent_rate" and r.tags and r.tags["if"] == "eth0"
    )
    # And the rate is a gauge in bytes per second, at the counter's time, with its tags
    assert row.value == {"value": 100.0, "type": "gauge", "unit": "bytes_per_second"}
    assert row.time == SLOT + MINUTE
    assert row.tags == {"environment": "test", "host": "box", "if": "eth0"}


def test_a_counter_that_went_down_is_a_reset_and_gets_no_rate_that_interval() -> None:
    # Given a counter at 9000, then reset to 300 (a reboot), then at 900
    memory = LocalCounters()
    run_at(memory, counter("bytes_sent", 9000))
    after_reset = run_at(memory, counter("bytes_sent", 300), at=MINUTE)
    next_run = run_at(memory, counter("bytes_sent", 900), at=2 * MINUTE)
    # Then the reset interval has no rate (never a negative one) and the next is true again
    assert rates(after_reset) == {}
    assert rates(next_run) == {("bytes_sent_rate", ""): 10.0}


def test_a_redelivered_slot_is_rated_against_the_sample_before_it() -> None:
    # Given two collections, then the second slot collected again (a redelivered task)
    memory = LocalCounters()
    run_at(memory, counter("bytes_sent", 1200))
    first = run_at(memory, counter("bytes_sent", 1800), at=MINUTE)
    again = run_at(memory, counter("bytes_sent", 1800), at=MINUTE)
    # Then both give the same rate, from the first slot, not zero over zero seconds
    assert rates(first) == rates(again) == {("bytes_sent_rate", ""): 10.0}


def test_without_a_memory_or_without_counters_nothing_is_derived_or_asked() -> None:
    # Given a memory that fails the test if it is ever asked
    class Untouchable:
        def exchange(
            self, plugin_id: str, current: Mapping[str, CounterSample]
        ) -> dict[str, CounterSample]:
            raise AssertionError("a run without counters must not touch the memory")

    # When a run has only gauges / Then the memory is not asked and no rate appears
    assert rates(run_at(Untouchable(), gauge("temperature", 20.0))) == {}
    # And without any memory a counter is simply stored
    assert [r.metric_name for r in run_at(None, counter("bytes_sent", 5)).rows] == ["bytes_sent"]


def test_a_failing_memory_costs_the_rates_but_not_the_run(caplog: pytest.LogCaptureFixture) -> None:
    # Given a memory whose backend is down
    class Down:
        def exchange(
            self, plugin_id: str, current: Mapping[str, CounterSample]
        ) -> dict[str, CounterSample]:
            raise ConnectionError("redis went away")

    # When a run reports a counter and a gauge
    result = run_at(Down(), counter("bytes_sent", 5), gauge("temperature", 20.0))
    # Then both are stored, no rate, nothing rejected, and the reason is logged
    assert sorted(r.metric_name for r in result.rows) == ["bytes_sent", "temperature"]
    assert result.rejects == []
    assert "no counter rates this run: redis went away" in caplog.text


def test_the_memory_is_keyed_by_the_stored_series_key() -> None:
    # Given a memory that records what it was asked
    asked: list[Mapping[str, CounterSample]] = []

    class Recording(LocalCounters):
        def exchange(
            self, plugin_id: str, current: Mapping[str, CounterSample]
        ) -> dict[str, CounterSample]:
            asked.append(dict(current))
            return super().exchange(plugin_id, current)

    # When a counter with a tag is collected
    result = run_at(Recording(), counter("bytes_sent", 42, tags={"if": "eth0"}))
    # Then the key is the series key of the row storage writes, so storage can answer too
    assert list(asked[0]) == [result.rows[0].series_key]
    assert asked[0][result.rows[0].series_key] == CounterSample(SLOT, 42.0)
    assert result.rows[0].series_key == series_key(
        "declared", "bytes_sent", {"host": "box", "environment": "test", "if": "eth0"}
    )


def test_a_rate_the_plugin_declares_itself_is_not_derived_again() -> None:
    # Given a plugin that reports its own bytes_sent_rate
    class OwnRate(Plugin):
        id = "own_rate"
        metrics = (
            MetricSpec("bytes_sent", unit="bytes", type=MetricType.COUNTER),
            MetricSpec("bytes_sent_rate", unit="bytes_per_second"),
        )

        def collect_data(self, acc: Accumulator) -> None:
            raise AssertionError("built directly")

    memory = LocalCounters()
    run_at(memory, counter("bytes_sent", 0), plugin=OwnRate)
    # When the next run reports both / Then only the plugin's own value is stored
    second = run_at(
        memory, counter("bytes_sent", 600), gauge("bytes_sent_rate", 1.5), at=MINUTE, plugin=OwnRate
    )
    assert rates(second) == {("bytes_sent_rate", ""): 1.5}


@pytest.mark.parametrize(
    ("before", "after", "seconds", "expected"),
    [
        (100.0, 160.0, 60, 1.0),
        (100.0, 100.0, 60, 0.0),
        (100.0, 99.0, 60, None),  # reset
        (100.0, 160.0, 0, None),  # same instant
        (100.0, 160.0, -60, None),  # previous is newer
    ],
)
def test_rate_between(before: float, after: float, seconds: int, expected: float | None) -> None:
    previous = CounterSample(SLOT, before)
    current = CounterSample(SLOT + timedelta(seconds=seconds), after)
    assert rate_between(previous, current) == expected


def test_rate_units_name_the_counters_unit_per_second() -> None:
    assert rate_unit("bytes") == "bytes_per_second"
    assert rate_unit("") == "per_second"
