"""Celery shells for alerts: `unity.alerts.evaluate` and `unity.notify.send`.

- Beat sends `unity.alerts.evaluate` every `notifications.evaluate_interval` (all rules, and
  a sweep that re-sends notifications whose send task was lost).
- The persist stage calls `after_persist` once a batch is committed: when the batch wrote a
  metric some rule reads (a cached set, re-read every WATCH_TTL seconds, so the hot path
  costs one set lookup per written metric name), it sends an evaluation of just those rules.
- `unity.notify.send` delivers one outbox row (and everything else waiting for its
  channel, as one message); a channel that fails is retried with capped backoff, forever:
  it delays a notification, never loses it. Every failed attempt is kept on the row.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from celery import Task

from unity_core.alerts import Notice, enabled_rules, evaluate, rules_touching, watched_metrics
from unity_core.errors import NotificationFailed, StorageUnavailable
from unity_core.notify import Silencer, deliver, outbox, queue_notices
from unity_core.notify.silence import prune_silences
from unity_workers import resources
from unity_workers.celery import app

__all__ = ["EVALUATE_TASK", "SEND_TASK", "after_persist", "evaluate_alerts", "send_notification"]

log = logging.getLogger("unity.workers.alerts")

EVALUATE_TASK = "unity.alerts.evaluate"
SEND_TASK = "unity.notify.send"
#: Seconds a worker trusts its copy of the watched (plugin, metric) set.
WATCH_TTL = 5.0


class _Watched:
    """The (plugin, metric) pairs rules read; metric None means any metric of the plugin."""

    def __init__(self) -> None:
        self.pairs: set[tuple[str, str | None]] = set()
        self.plugins: set[str] = set()
        self.read_at = float("-inf")
        self.lock = threading.Lock()

    def current(self) -> tuple[set[tuple[str, str | None]], set[str]]:
        with self.lock:
            if time.monotonic() - self.read_at > WATCH_TTL:
                with resources.sessions()() as session:
                    self.pairs = watched_metrics(enabled_rules(session))
                self.plugins = {plugin for plugin, _ in self.pairs}
                self.read_at = time.monotonic()
            return self.pairs, self.plugins


_watched = _Watched()


def after_persist(outcomes: Sequence[Any]) -> None:
    """After a committed batch: evaluate the rules that read what it wrote (best effort)."""
    try:
        pairs, plugins = _watched.current()
        if not plugins:
            return
        hit: set[tuple[str, str]] = set()
        for outcome in outcomes:
            if outcome.plugin_id not in plugins:
                continue
            if (outcome.plugin_id, None) in pairs:
                hit.add((outcome.plugin_id, "*"))
            for name in {row.metric_name for row in outcome.rows}:
                if (outcome.plugin_id, name) in pairs:
                    hit.add((outcome.plugin_id, name))
        if hit:
            evaluate_alerts.apply_async(kwargs={"written": sorted([p, m] for p, m in hit)})
    except Exception:
        # The rows are committed; beat's evaluation will catch up with this write.
        log.warning("could not trigger alert evaluation after a write", exc_info=True)


@app.task(bind=True, name=EVALUATE_TASK, acks_late=True)
def evaluate_alerts(self: Task, written: list[list[str]] | None = None) -> dict[str, Any]:
    """Evaluate every enabled rule, or those reading `written` [plugin, metric] pairs.

    Notices go to the outbox in the same transaction as the state change that caused them;
    a send is scheduled per queued row, `group_wait` seconds later, so a burst coalesces.
    """
    settings = resources.settings().notifications
    now = datetime.now(UTC)
    queued: list[uuid.UUID] = []

    def notify(session: Any, notices: list[Notice]) -> None:
        queued.extend(queue_notices(session, settings, [n.to_dict() for n in notices], now))

    try:
        with resources.sessions()() as session:
            rules = enabled_rules(session)
            if written is not None:
                rules = rules_touching(rules, [(plugin, metric) for plugin, metric in written])
            silencer = Silencer.load(session, now, settings.maintenance)
            outcome = evaluate(
                session,
                rules,
                now=now,
                repeat_interval=timedelta(seconds=settings.repeat_interval),
                silenced=silencer,
                notify=notify,
            )
            lost = [] if written is not None else _housekeeping(session, now)
    except StorageUnavailable as error:
        raise self.retry(countdown=5, max_retries=3, exc=error) from error
    for notification_id in queued:
        send_notification.apply_async((str(notification_id),), countdown=settings.group_wait)
    for notification_id in lost:
        send_notification.apply_async((str(notification_id),))
    for problem in outcome.invalid:
        log.warning("alert rule skipped, its condition is invalid: %s", problem)
    return {
        "evaluated": outcome.evaluated,
        "transitions": outcome.transitions,
        "notifications": len(queued),
        "resent": len(lost),
        "invalid": len(outcome.invalid),
    }


@app.task(bind=True, name=SEND_TASK, acks_late=True, max_retries=None)
def send_notification(self: Task, notification_id: str) -> dict[str, Any]:
    """Deliver one outbox row (with the rest of its channel's queue); retried until sent."""
    settings = resources.settings().notifications
    try:
        with resources.sessions()() as session:
            result = deliver(session, settings, uuid.UUID(notification_id))
    except (NotificationFailed, StorageUnavailable) as error:
        countdown = _backoff(int(self.request.retries or 0))
        log.warning(
            "notification %s not delivered (%s); retry in %.0f s", notification_id, error, countdown
        )
        raise self.retry(countdown=countdown, exc=error) from error
    return {"channel": result.channel, "carried": result.carried, "sent": result.sent}


def _backoff(retries: int) -> float:
    """2, 4, 8 … seconds with jitter, capped under the visibility timeout."""
    cap = float(app.conf.get("unity_retry_backoff_max") or 60)
    delay = min(cap, 2.0 * 2**retries)
    return random.uniform(delay / 2, delay)


def _housekeeping(session: Any, now: datetime) -> list[uuid.UUID]:
    """On beat's pass: prune sent notifications and ended silences as old as the history
    kept (retention.alert_history), and return the rows waiting longer than any retry
    would leave them (their send task was lost) to be sent again."""
    kept = resources.settings().retention.alert_history
    outbox.prune(session, now - kept)
    prune_silences(session, now - kept)
    session.commit()
    cap = float(app.conf.get("unity_retry_backoff_max") or 60)
    older = timedelta(seconds=2 * cap + 60)
    return [row_id for row_id, _ in outbox.waiting(session, now, older)]
