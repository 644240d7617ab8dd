"""The runner: one instance per run, isolated by a deadline, its failures made typed errors."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from unity_core.errors import CollectionFailed, CollectionTimeout
from unity_core.plugins.runner import counters, run_plugin, still_running
from unity_core.plugins.sdk import Accumulator, MetricType, Plugin

SLOT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class Scripted(Plugin):
    """A plugin whose collect_data runs the function the test gives it, recording its hooks."""

    id = "scripted"

    def __init__(self, body: Callable[[Accumulator], Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.body = body
        self.calls: list[str] = []

    def setup(self) -> None:
        self.calls.append("setup")

    def collect_data(self, acc: Accumulator) -> None:
        self.calls.append("collect")
        self.body(acc)

    def teardown(self) -> None:
        self.calls.append("teardown")


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """An event hung plugins wait on; set at the end so no test leaves a thread behind."""
    event = threading.Event()
    yield event
    event.set()


def test_a_run_returns_metrics_item_errors_and_its_duration() -> None:
    # Given a plugin adding a gauge, a counter and failing on one item
    def body(acc: Accumulator) -> None:
        acc.add_gauge("temperature", 41.5, {"sensor": "cpu", "slot": 3, "absent": None})
        acc.add_counter("bytes", 10, unit="bytes")
        acc.error(OSError("no such device"), item="sensor gpu")

    plugin = Scripted(body, instance_id="box-1")
    # When it runs
    collection = run_plugin(plugin, SLOT, timeout=5)
    # Then the collection holds both metrics, the item error and the timing
    assert collection.plugin_id == "box-1"
    assert collection.slot_time == SLOT
    gauge, counter = collection.metrics
    assert (gauge.name, gauge.value, gauge.type) == ("temperature", 41.5, MetricType.GAUGE)
    assert gauge.tags == {"sensor": "cpu", "slot": "3"}
    assert (counter.type, counter.unit, counter.time) == (MetricType.COUNTER, "bytes", None)
    assert collection.errors == ["sensor gpu: OSError: no such device"]
    assert collection.duration_ms > 0
    assert plugin.calls == ["setup", "collect", "teardown"]


def test_an_exception_becomes_collection_failed_and_teardown_still_runs() -> None:
    # Given a plugin that raises mid-run
    def body(acc: Accumulator) -> None:
        acc.add_gauge("partial", 1)
        raise KeyError("missing field")

    plugin = Scripted(body, instance_id="exploding")
    # When it runs
    with pytest.raises(CollectionFailed) as failed:
        run_plugin(plugin, SLOT, timeout=5)
    # Then the error names the instance, chains the cause, and teardown ran
    assert failed.value.plugin_id == "exploding"
    assert str(failed.value) == "exploding: KeyError: 'missing field'"
    assert isinstance(failed.value.__cause__, KeyError)
    assert plugin.calls == ["setup", "collect", "teardown"]


def test_a_failing_setup_skips_collection() -> None:
    # Given a plugin whose setup raises
    class NoSetup(Scripted):
        def setup(self) -> None:
            raise RuntimeError("client library missing")

    plugin = NoSetup(lambda acc: None)
    # When it runs
    with pytest.raises(CollectionFailed, match="RuntimeError: client library missing"):
        run_plugin(plugin, SLOT, timeout=5)
    # Then neither collect nor teardown ran
    assert plugin.calls == []


def test_a_teardown_failure_after_a_good_run_is_an_item_error() -> None:
    # Given a plugin that collects fine but fails to clean up
    class Leaky(Scripted):
        def teardown(self) -> None:
            raise ConnectionResetError("socket already closed")

    # When it runs
    collection = run_plugin(Leaky(lambda acc: acc.add_gauge("up", True)), SLOT, timeout=5)
    # Then the metrics are kept and the teardown failure is reported
    assert [m.name for m in collection.metrics] == ["up"]
    assert collection.errors == ["teardown: ConnectionResetError: socket already closed"]


def test_a_hanging_plugin_times_out_and_its_late_results_are_dropped(
    release: threading.Event,
) -> None:
    # Given a plugin that blocks until released, then adds a metric
    def body(acc: Accumulator) -> None:
        release.wait(10)
        acc.add_gauge("late", 1)

    plugin = Scripted(body, instance_id="hung")
    # When it runs with a short deadline
    started = time.monotonic()
    with pytest.raises(CollectionTimeout) as timed_out:
        run_plugin(plugin, SLOT, timeout=0.2)
    # Then the runner returns at the deadline, naming the instance and the limit
    assert time.monotonic() - started < 2
    assert str(timed_out.value) == "hung: collection exceeded its 0.2 s time limit"
    assert timed_out.value.timeout == 0.2
    # And while the abandoned run still hangs, the next run is refused, not stacked
    with pytest.raises(CollectionFailed, match="still going"):
        run_plugin(Scripted(lambda acc: None, instance_id="hung"), SLOT, timeout=1)
    # And once the abandoned run ends, runs go ahead again
    release.set()
    wait_until(lambda: not still_running("hung"))
    assert plugin.calls == ["setup", "collect", "teardown"]
    again = run_plugin(
        Scripted(lambda acc: acc.add_gauge("on_time", 1), instance_id="hung"), SLOT, timeout=1
    )
    assert [m.name for m in again.metrics] == ["on_time"]


def test_another_instance_is_not_held_up_by_a_hung_one(release: threading.Event) -> None:
    # Given one instance hung past its deadline
    with pytest.raises(CollectionTimeout):
        run_plugin(Scripted(lambda acc: release.wait(10), instance_id="stuck"), SLOT, timeout=0.1)
    # When a different instance runs
    collection = run_plugin(
        Scripted(lambda acc: acc.add_gauge("fine", 1), instance_id="healthy"), SLOT, timeout=1
    )
    # Then it runs normally
    assert [m.name for m in collection.metrics] == ["fine"]


def test_garbage_from_a_plugin_is_recorded_as_given_for_validation_to_judge() -> None:
    # Given a plugin that reports odd values and non-mapping tags, and returns something
    marker = object()

    def body(acc: Accumulator) -> Any:
        acc.add_gauge("odd", marker)  # type: ignore[arg-type]
        acc.add_gauge("tagged", 1, ["not", "a", "mapping"])  # type: ignore[arg-type]
        return "ignored"

    # When it runs
    collection = run_plugin(Scripted(body), SLOT, timeout=5)
    # Then the runner neither fails nor fixes them
    odd, tagged = collection.metrics
    assert odd.value is marker
    assert list(tagged.tags) == ["not", "a", "mapping"]


def test_item_errors_are_logged_on_the_instance_logger(caplog: pytest.LogCaptureFixture) -> None:
    # Given a plugin reporting one item failure
    plugin = Scripted(lambda acc: acc.error("disk /mnt/usb gone"), instance_id="nas-disks")
    # When it runs
    with caplog.at_level(logging.WARNING, logger="unity.plugins"):
        run_plugin(plugin, SLOT, timeout=5)
    # Then the message is on unity.plugins.<id>, the logger the plugin itself has as self.log
    assert [(r.name, r.getMessage()) for r in caplog.records] == [
        ("unity.plugins.nas-disks", "disk /mnt/usb gone")
    ]
    assert plugin.log.name == "unity.plugins.nas-disks"


def test_counters_count_runs_failures_and_timeouts_per_instance(
    release: threading.Event,
) -> None:
    # Given one good run, one failing and one timing out for an instance
    def boom(acc: Accumulator) -> None:
        raise ValueError("boom")

    run_plugin(Scripted(lambda acc: None, instance_id="counted"), SLOT, timeout=1)
    with pytest.raises(CollectionFailed):
        run_plugin(Scripted(boom, instance_id="counted"), SLOT, timeout=1)
    with pytest.raises(CollectionTimeout):
        run_plugin(
            Scripted(lambda acc: release.wait(10), instance_id="counted"), SLOT, timeout=0.05
        )
    # When reading the counters
    figures = counters()["counted"]
    # Then each outcome was counted once
    assert figures == {"collections": 1, "failures": 1, "timeouts": 1}


def test_runs_reuse_threads_instead_of_starting_one_each() -> None:
    # Given a warmed-up runner
    run_plugin(Scripted(lambda acc: None), SLOT, timeout=1)
    before = threading.active_count()
    # When many runs follow one another
    for _ in range(50):
        run_plugin(Scripted(lambda acc: acc.add_gauge("x", 1)), SLOT, timeout=1)
    # Then no thread piles up
    assert threading.active_count() <= before


def test_a_forked_child_runs_plugins_with_its_own_threads() -> None:
    # Given a parent whose runner has idle threads (as a Celery prefork parent might)
    run_plugin(Scripted(lambda acc: None), SLOT, timeout=1)
    # When it forks and the child runs a plugin
    pid = os.fork()
    if pid == 0:  # the child: exit 0 only if the run completed
        try:
            run_plugin(Scripted(lambda acc: acc.add_gauge("x", 1)), SLOT, timeout=2)
        except BaseException:
            os._exit(1)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    # Then the run completed there instead of waiting for the parent's threads
    assert os.waitstatus_to_exitcode(status) == 0


def test_a_deadline_must_be_positive() -> None:
    # Given / When a run is asked for with no time at all / Then it is refused up front
    with pytest.raises(ValueError, match="timeout must be positive"):
        run_plugin(Scripted(lambda acc: None), SLOT, timeout=0)
