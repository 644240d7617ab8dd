"""Running one plugin instance in isolation: its logger, a deadline, error capture and timing.

The plugin stays naive (STYLE 9.5): whatever it raises becomes CollectionFailed, a run past
its deadline becomes CollectionTimeout, and neither can touch another instance. Values are
recorded as given; judging them is the pipeline's validation, not the runner's.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from unity_core.errors import CollectionFailed, CollectionTimeout
from unity_core.plugins.sdk import Collection, Metric, MetricType, MetricValue, Plugin

__all__ = ["CollectingAccumulator", "counters", "run_plugin", "still_running"]

_lock = threading.Lock()
#: Runs abandoned at their deadline, per instance (set once they end): no stacking behind them.
_abandoned: dict[str, threading.Event] = {}
_counters: Counter[tuple[str, str]] = Counter()


class _Workers:
    """Reusable daemon threads for runs: starting a thread costs ~0.5 ms here, reusing ~0.05.

    A thread stuck in an abandoned run is simply not idle: the next run gets another one.
    Daemon threads, so a hung plugin never keeps a worker process from exiting.
    """

    def __init__(self, max_idle: int = 8) -> None:
        self._max_idle = max_idle
        self._reset()

    def _reset(self) -> None:
        self._jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._idle = 0
        self._idle_lock = threading.Lock()

    def submit(self, job: Callable[[], None]) -> None:
        with self._idle_lock:
            spawn = self._idle == 0
            if not spawn:
                self._idle -= 1  # claim a waiting thread for this job
        if spawn:
            threading.Thread(target=self._serve, name="unity-plugin-run", daemon=True).start()
        self._jobs.put(job)

    def _serve(self) -> None:
        jobs = self._jobs
        while True:
            jobs.get()()
            with self._idle_lock:
                if jobs is not self._jobs or self._idle >= self._max_idle:
                    return
                self._idle += 1


_workers = _Workers()
# A forked child (Celery prefork) inherits the counts but not the threads: start afresh.
os.register_at_fork(after_in_child=_workers._reset)


class CollectingAccumulator:
    """The Accumulator the runner hands to plugins: it records metrics and per-item errors.

    After close(), late additions (from a run abandoned at its deadline) are dropped.
    Tags become strings and None-valued tags are dropped; anything else is kept as given.
    """

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.metrics: list[Metric] = []
        self.errors: list[str] = []
        self._log = logger or logging.getLogger("unity.plugins")
        self._closed = False

    def add_gauge(
        self,
        name: str,
        value: MetricValue,
        tags: Mapping[str, Any] | None = None,
        *,
        unit: str | None = None,
        time: datetime | None = None,
    ) -> None:
        self._add(name, value, tags, MetricType.GAUGE, unit, time)

    def add_counter(
        self,
        name: str,
        value: float | int,
        tags: Mapping[str, Any] | None = None,
        *,
        unit: str | None = None,
        time: datetime | None = None,
    ) -> None:
        self._add(name, value, tags, MetricType.COUNTER, unit, time)

    def error(self, error: BaseException | str, *, item: str | None = None) -> None:
        if self._closed:
            return
        text = f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else error
        message = f"{item}: {text}" if item else str(text)
        self._log.warning("%s", message)
        self.errors.append(message)

    def close(self) -> None:
        self._closed = True

    def _add(
        self,
        name: str,
        value: Any,
        tags: Mapping[str, Any] | None,
        kind: MetricType,
        unit: str | None,
        when: datetime | None,
    ) -> None:
        if self._closed:
            return
        clean: Any = tags
        if tags is None:
            clean = {}
        elif isinstance(tags, Mapping):
            clean = {str(k): str(v) for k, v in tags.items() if v is not None}
        self.metrics.append(Metric(name, value, clean, when, kind, unit))


def run_plugin(plugin: Plugin, slot_time: datetime, *, timeout: float) -> Collection:
    """Run setup(), collect_data() and teardown() of `plugin` within `timeout` seconds.

    Returns the Collection (metrics, per-item errors, duration_ms). Raises CollectionTimeout
    when the deadline passes (the run's thread is abandoned: Python cannot stop it, so its
    late results are dropped and the next run of the same instance fails fast while it is
    still going), and CollectionFailed(plugin_id) chained to whatever the plugin raised.
    A teardown() failure after a good collection is recorded as an error of the run.
    """
    if timeout <= 0:
        raise ValueError(f"timeout must be positive, not {timeout}")
    plugin_id = plugin.instance_id
    log = logging.getLogger(f"unity.plugins.{plugin_id}")
    _refuse_if_still_running(plugin_id)
    acc = CollectingAccumulator(log)
    outcome: dict[str, BaseException] = {}
    done = threading.Event()

    def job() -> None:
        try:
            _lifecycle(plugin, acc, outcome)
        finally:
            done.set()

    started = time.perf_counter()
    _workers.submit(job)
    finished = done.wait(timeout)
    duration_ms = (time.perf_counter() - started) * 1000
    acc.close()
    if not finished:
        with _lock:
            _abandoned[plugin_id] = done
            _counters[plugin_id, "timeouts"] += 1
        log.warning("collection abandoned after its %g s time limit", timeout)
        raise CollectionTimeout(plugin_id, timeout)
    error = outcome.get("error")
    if error is not None:
        _count(plugin_id, "failures")
        log.warning("collection failed: %s: %s", type(error).__name__, error)
        raise CollectionFailed(plugin_id, f"{type(error).__name__}: {error}") from error
    _count(plugin_id, "collections")
    log.debug("collected %d metrics in %.1f ms", len(acc.metrics), duration_ms)
    return Collection(plugin_id, slot_time, list(acc.metrics), list(acc.errors), duration_ms)


def still_running(plugin_id: str) -> bool:
    """Whether a run of `plugin_id` abandoned at its deadline is still going in this process."""
    with _lock:
        done = _abandoned.get(plugin_id)
        if done is not None and done.is_set():
            del _abandoned[plugin_id]
            done = None
    return done is not None


def counters() -> dict[str, dict[str, int]]:
    """Per instance in this process: collections, failures and timeouts so far (for /metrics)."""
    with _lock:
        result: dict[str, dict[str, int]] = {}
        for (plugin_id, name), value in _counters.items():
            result.setdefault(plugin_id, {"collections": 0, "failures": 0, "timeouts": 0})
            result[plugin_id][name] = value
        return result


def _lifecycle(
    plugin: Plugin, acc: CollectingAccumulator, outcome: dict[str, BaseException]
) -> None:
    try:
        plugin.setup()
        try:
            plugin.collect_data(acc)
        finally:
            try:
                plugin.teardown()
            except Exception as error:  # a good collection survives a bad teardown
                acc.error(error, item="teardown")
    except BaseException as error:
        outcome["error"] = error


def _refuse_if_still_running(plugin_id: str) -> None:
    if still_running(plugin_id):
        _count(plugin_id, "failures")
        raise CollectionFailed(
            plugin_id, "skipped: an earlier run that exceeded its time limit is still going"
        )


def _count(plugin_id: str, name: str) -> None:
    with _lock:
        _counters[plugin_id, name] += 1
