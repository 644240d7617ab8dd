"""Unity's Celery tasks: thin shells around unity_core (collect, persist, maintenance).

Senders use `send_collect_task` (or pass `collect_options(instance)` to apply_async): it sets
the plugin's queue and its soft/hard time limits (timeout + grace, + 10 s), which Celery can
only take from the message, not from inside the task. A bare
`celery -A unity_workers call unity.collect --args='["system"]'` gets the defaults of
celeryconfig (collection_timeout based) and loads the instance from the database.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from celery import Task
from celery.exceptions import SoftTimeLimitExceeded
from celery.worker.request import Request

from unity_core.collection import collect_once, encode_outcome, failure_outcome
from unity_core.collection.counters import SharedCounters
from unity_core.errors import (
    CollectionFailed,
    CollectionTimeout,
    PluginError,
    PluginNotFound,
    StorageUnavailable,
)
from unity_core.plugins.registry import PluginInstance, get_instance, instantiate
from unity_core.plugins.runner import run_plugin
from unity_workers import outcome_stream, resources
from unity_workers.alerting import after_persist
from unity_workers.batching import ROWS_HEADER, PersistBatches
from unity_workers.celery import app
from unity_workers.crashloop import redelivered
from unity_workers.maintenance import run_maintenance
from unity_workers.persisting import Delivery, Persister, RetryPolicy

logger = logging.getLogger("unity.workers.tasks")

__all__ = [
    "collect",
    "collect_options",
    "maintenance",
    "persist",
    "send_collect_task",
    "send_persist",
]


def collect_options(instance: Any, *, expires: float | None = None) -> dict[str, Any]:
    """apply_async options for collecting `instance`: queue and per-plugin time limits.

    soft = timeout + grace (the plugin's own deadline fires first and can be retried);
    hard = soft + 10 s; both clamped so hard + the longest backoff stays under the
    visibility timeout (a longer task would be delivered twice while it runs).
    """
    conf = app.conf
    soft = float(instance.timeout) + float(conf.unity_time_limit_grace)
    hard = soft + 10
    ceiling = float(conf.visibility_timeout) - float(conf.unity_retry_backoff_max) - 1
    if hard > ceiling:
        logger.warning(
            "%s: timeout %s s too long for visibility_timeout %s s; hard limit cut to %s s",
            instance.plugin_id,
            instance.timeout,
            conf.visibility_timeout,
            ceiling,
        )
        hard, soft = ceiling, max(1.0, ceiling - 10)
    options: dict[str, Any] = {
        "queue": instance.queue or "collect",
        "soft_time_limit": soft,
        "time_limit": hard,
    }
    if expires is not None:
        options["expires"] = expires
    return options


def send_collect_task(
    instance: Any, slot: datetime | None = None, *, expires: float | None = None
) -> Any:
    """Dispatch one collection of `instance` at `slot` (None: the worker's current time).

    The instance snapshot travels in the message, so the worker needs no database read.
    """
    return collect.apply_async(
        args=[instance.plugin_id],
        kwargs={"slot": slot.isoformat() if slot else None, "instance": instance.to_dict()},
        **collect_options(instance, expires=expires),
    )


def send_persist(
    payload: dict[str, Any], *, rows: int = 1, attempt: int = 0, countdown: float | None = None
) -> None:
    """Hand an encoded outcome to the persist stage: the outcome stream on a Redis broker
    (outcome_stream.py), else a `unity.persist` message on the `persist` queue.

    The short argsrepr keeps Celery from rendering the whole payload for logs and Flower
    (a large share of the publish cost for a 1000-row outcome).
    """
    stream = resources.outcome_stream() if app.conf.unity_outcome_stream else None
    if stream is not None:
        due = outcome_stream.now() + countdown if countdown else 0.0
        stream.add(payload, rows=rows, attempt=attempt, due=due)
        return
    persist.apply_async(
        args=[payload],
        kwargs={"attempt": attempt},
        queue="persist",
        countdown=countdown,
        headers={ROWS_HEADER: max(1, rows)},
        argsrepr=f"[<outcome {payload.get('p')} {payload.get('s')}: {rows} rows>]",
        kwargsrepr=f"{{'attempt': {attempt}}}",
    )


def _countdown(instance: Any, retries: int) -> float:
    delay = float(instance.retry_delay) * float(instance.retry_backoff) ** retries
    return min(delay, float(app.conf.unity_retry_backoff_max))


def _hand_over(outcome: Any) -> dict[str, Any]:
    rows = len(outcome.rows)
    send_persist(encode_outcome(outcome), rows=rows)
    return {"rows": rows, "rejected": outcome.rejected}


def _failure(
    instance: Any, slot_time: datetime, error: BaseException, attempt: int = 0
) -> dict[str, Any]:
    outcome = failure_outcome(
        instance, slot_time, error, worker_host=resources.worker_host(), attempt=attempt
    )
    return {"ok": False, "error": str(error), **_hand_over(outcome)}


class CollectRequest(Request):
    """Records a hard time limit as a failed collection (the killed child cannot)."""

    def on_timeout(self, soft: bool, timeout: float) -> None:
        super().on_timeout(soft, timeout)
        if soft:
            return
        try:
            kwargs = dict(self.kwargs or {})
            args = list(self.args or ())
            instance_dict = kwargs.get("instance") or (args[2] if len(args) > 2 else None)
            slot = kwargs.get("slot") or (args[1] if len(args) > 1 else None)
            if instance_dict is None or slot is None:
                logger.error("%s: hard time limit; no snapshot to record it with", self.id)
                return
            instance = PluginInstance.from_dict(instance_dict)
            _failure(
                instance,
                datetime.fromisoformat(slot),
                CollectionTimeout(instance.plugin_id, timeout),
            )
        except Exception:
            logger.exception("%s: could not record the hard time limit", self.id)


class CollectTask(Task):  # type: ignore[misc]
    Request = "unity_workers.tasks:CollectRequest"


@app.task(bind=True, base=CollectTask, name="unity.collect", acks_late=True)
def collect(
    self: Task, plugin_id: str, slot: str | None = None, instance: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    """Run one collection of `plugin_id` for `slot` and hand the outcome to persisting.

    With `instance` (a PluginInstance.to_dict() snapshot) the database is not touched.
    A failed or timed-out run is retried with the instance's retry_count/delay/backoff,
    for the same slot (so dedup holds); after the last retry the failure outcome is
    persisted. The soft time limit is recorded as a timeout, without a retry.
    """
    slot_time = datetime.fromisoformat(slot) if slot else datetime.now(UTC)
    if slot_time.tzinfo is None:
        slot_time = slot_time.replace(tzinfo=UTC)
    if instance is not None:
        found = PluginInstance.from_dict(instance)
    else:
        found = _load_instance(self, plugin_id)
        if found is None:
            return None
    attempt = int(self.request.retries or 0)
    if redelivered(self.request):
        starts = resources.start_counter().count(str(self.request.id))
        limit = int(app.conf.unity_max_redeliveries)
        if starts > limit:
            # Every earlier delivery ended with its worker process gone: record, do not rerun.
            lost = CollectionFailed(
                plugin_id,
                f"the worker process running this collection died {starts} times "
                f"(limit {limit}); not run again — does the plugin crash its process?",
            )
            return _failure(found, slot_time, lost, attempt)
    try:
        return _collect(self, found, slot_time, attempt)
    except SoftTimeLimitExceeded:
        # Past the plugin's deadline and the grace (the pipeline or the hand-over hung).
        return _failure(found, slot_time, CollectionTimeout(plugin_id, found.timeout), attempt)


def _collect(task: Task, found: Any, slot_time: datetime, attempt: int) -> dict[str, Any]:
    try:
        plugin = instantiate(found, resources.discovery())
    except PluginError as error:
        # Not installed, or bad options: retrying will not help; record it.
        return _failure(found, slot_time, error, attempt)
    failures: list[BaseException] = []
    outcome = collect_once(
        found,
        plugin,
        slot_time,
        worker_host=resources.worker_host(),
        settings=resources.settings(),
        attempt=attempt,
        run=_recording_runner(found, failures),
        # Counters' previous samples: the cache, else the database (opened only if needed).
        counters=SharedCounters(resources.cache(), lambda: resources.sessions()()),
    )
    retryable = bool(failures) and isinstance(failures[-1], (CollectionFailed, CollectionTimeout))
    if not outcome.ok and retryable and attempt < found.retry_count:
        raise task.retry(
            args=[found.plugin_id],
            kwargs={"slot": slot_time.isoformat(), "instance": found.to_dict()},
            countdown=_countdown(found, attempt),
            max_retries=found.retry_count,
            exc=failures[-1],
        )
    return {"ok": bool(outcome.ok), **_hand_over(outcome)}


def _recording_runner(instance: Any, failures: list[BaseException]) -> Any:
    """run_plugin, keeping what it raised (collect_once turns it into a failure outcome)
    and turning the soft time limit into the plugin's CollectionTimeout."""

    def run(plugin: Any, slot_time: datetime, *, timeout: float) -> Any:
        try:
            return run_plugin(plugin, slot_time, timeout=timeout)
        except SoftTimeLimitExceeded as error:
            failures.append(error)
            raise CollectionTimeout(instance.plugin_id, timeout) from error
        except Exception as error:
            failures.append(error)
            raise

    return run


def _load_instance(task: Task, plugin_id: str) -> Any:
    try:
        with resources.sessions()() as session:
            return get_instance(session, plugin_id, resources.settings())
    except PluginNotFound:
        logger.error("unity.collect: no plugin instance %r in the registry", plugin_id)
        return None
    except StorageUnavailable as error:
        raise task.retry(countdown=10, max_retries=3, exc=error) from error


def make_persister() -> Persister:
    """The persist stage as this worker is configured (both the task and the stream use it)."""
    conf = app.conf
    return Persister(
        sessions=resources.sessions,
        cache=resources.cache,
        dead_letters=resources.dead_letters,
        republish=lambda payload, attempt, countdown: send_persist(
            payload, rows=_rows_of(payload), attempt=attempt, countdown=countdown
        ),
        policy=RetryPolicy(
            max_attempts=int(conf.unity_persist_max_attempts),
            base_delay=float(conf.unity_persist_retry_delay),
            max_backoff=float(conf.unity_retry_backoff_max),
        ),
        pause_after=resources.settings().collection.pause_after,
        transient=(StorageUnavailable, SoftTimeLimitExceeded),
        committed=after_persist,
    )


def _rows_of(payload: dict[str, Any]) -> int:
    rows = payload.get("r") if isinstance(payload, dict) else None  # encode_outcome's rows
    return len(rows) if isinstance(rows, list) else 1


# send_events=False: one persist message follows every collection, and its received/started/
# succeeded events cost as much broker work as the collection's own. Flower shows the
# collections (unity.collect keeps its events); persisting is reported through plugin_status
# and the `unity` plugin's batch_write_ms / batch_rows metrics instead.
@app.task(bind=True, base=PersistBatches, name="unity.persist", acks_late=True, send_events=False)
def persist(self: Task, requests: list[Any]) -> list[str]:
    """Write a batch of encoded outcomes in one transaction (see persisting.py).

    Called by celery-batches with the buffered requests; each request's args are
    `[encoded_outcome]` and kwargs `{"attempt": n}`. Returns the ids that may be acked.
    """
    deliveries = []
    for request in requests:
        args, kwargs = list(request.args or ()), dict(request.kwargs or {})
        payload = args[0] if args else kwargs.get("payload", {})
        attempt = int(kwargs.get("attempt", args[1] if len(args) > 1 else 0) or 0)
        deliveries.append(Delivery(request.id, payload, attempt))
    return make_persister().persist(deliveries)


@app.task(name="unity.maintenance", acks_late=True)
def maintenance() -> dict[str, Any]:
    """Create partitions ahead, replay retryable dead letters once the database answers,
    and prune the embedded broker's processed-message folder."""
    return run_maintenance()
