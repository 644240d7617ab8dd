"""Rule evaluation: the ok → pending → firing → resolved state machine per rule and tag set.

Every transition is written to `alert_history` (a firing one with the analysis of that
moment). State rows change by compare-and-set, so two workers evaluating the same rule
at once (beat and a write-triggered run) record each transition once, never twice.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from unity_core.alerts.analysis import explain
from unity_core.alerts.conditions import Condition, parse_condition
from unity_core.alerts.readings import Reading, read
from unity_core.errors import AlertConditionError
from unity_core.storage.engine import translate_errors
from unity_core.storage.models import Alert, AlertHistory, AlertState
from unity_core.storage.types import utcnow

log = logging.getLogger("unity.alerts")


class State(StrEnum):
    OK = "ok"
    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"


class Event(StrEnum):
    """Why a notice is sent."""

    FIRING = "firing"
    RESOLVED = "resolved"
    REPEAT = "repeat"


@dataclass(frozen=True)
class Notice:
    """Something people should hear about: a rule fired, resolved, or is still firing."""

    event: Event
    alert_id: uuid.UUID
    alert: str
    severity: str
    condition: str
    tags: dict[str, str]
    value: float | None
    time: datetime
    analysis: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "event": self.event.value,
            "alert_id": str(self.alert_id),
            "alert": self.alert,
            "severity": self.severity,
            "condition": self.condition,
            "tags": dict(self.tags),
            "value": self.value,
            "time": self.time.isoformat(),
            "analysis": self.analysis,
        }


@dataclass
class Outcome:
    """What one evaluation pass did."""

    evaluated: int = 0
    transitions: int = 0
    invalid: list[str] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)


def next_state(
    current: State, since: datetime, reading: Reading, condition: Condition, now: datetime
) -> State:
    """The state a tag set moves to; pure, so the machine is testable without a database.

    A reading that cannot be judged (breached None: too few samples) changes nothing.
    Firing ends only when the value is `cleared` (past the hysteresis margin), not merely
    back under the threshold: that is what stops a value hovering at it from flapping.
    """
    if reading.breached is None:
        return current
    if current in (State.OK, State.RESOLVED):
        if not reading.breached:
            return current
        return State.FIRING if condition.for_ <= timedelta(0) else State.PENDING
    if current is State.PENDING:
        if not reading.breached:
            return State.OK
        return State.FIRING if now - since >= condition.for_ else State.PENDING
    return State.RESOLVED if reading.cleared else State.FIRING


def enabled_rules(session: Session) -> list[Alert]:
    """Every enabled rule, oldest first."""
    with translate_errors("listing enabled alert rules"):
        return list(
            session.scalars(
                select(Alert).where(Alert.enabled.is_(True)).order_by(Alert.created_at, Alert.id)
            )
        )


def watched_metrics(rules: Iterable[Alert]) -> set[tuple[str, str | None]]:
    """(plugin, metric) pairs whose writes should trigger an evaluation; metric None = any."""
    watched: set[tuple[str, str | None]] = set()
    for rule in rules:
        try:
            condition = parse_condition(rule.condition)
        except AlertConditionError:
            continue
        # plugin_health rules (metric None) watch every write of their plugin: a failed
        # run's status is persisted with the same outcome.
        watched.add((condition.selector.plugin, condition.selector.metric))
    return watched


def rules_touching(rules: Iterable[Alert], written: Iterable[tuple[str, str]]) -> list[Alert]:
    """The rules that read one of the written (plugin, metric) pairs."""
    written = set(written)
    plugins = {plugin for plugin, _ in written}
    chosen = []
    for rule in rules:
        try:
            selector = parse_condition(rule.condition).selector
        except AlertConditionError:
            continue
        if (selector.plugin, selector.metric) in written or (
            selector.metric is None and selector.plugin in plugins
        ):
            chosen.append(rule)
    return chosen


def evaluate(
    session: Session,
    rules: Sequence[Alert],
    *,
    now: datetime | None = None,
    repeat_interval: timedelta = timedelta(hours=4),
    silenced: Callable[[Alert, datetime], bool] = lambda rule, now: False,
    notify: Callable[[Session, list[Notice]], None] | None = None,
) -> Outcome:
    """Evaluate `rules` at `now`, record transitions and return the notices to send.

    Commits once per rule, so one broken rule never undoes another's transitions; `notify`
    is called with the rule's notices before that commit, so queueing them (the outbox)
    and the state change that caused them are one transaction. A rule whose condition is
    invalid is skipped and named in `Outcome.invalid`. Silenced rules still change state
    and history but produce no notices.
    """
    now = now or utcnow()
    outcome = Outcome()
    for rule in rules:
        try:
            condition = parse_condition(rule.condition)
        except AlertConditionError as error:
            outcome.invalid.append(f"{rule.name} ({rule.id}): {error}")
            continue
        try:
            notices = _evaluate_rule(
                session, rule, condition, now, repeat_interval, silenced, outcome
            )
            if notices and notify is not None:
                notify(session, notices)
            outcome.notices.extend(notices)
            session.commit()
        except BaseException:
            session.rollback()
            raise
        outcome.evaluated += 1
    return outcome


def _evaluate_rule(
    session: Session,
    rule: Alert,
    condition: Condition,
    now: datetime,
    repeat_interval: timedelta,
    silenced: Callable[[Alert, datetime], bool],
    outcome: Outcome,
) -> list[Notice]:
    notices: list[Notice] = []
    readings = read(session, condition, now, since=rule.created_at or now)
    with translate_errors(f"reading the state of alert {rule.id}"):
        states = {
            s.state_key: s
            for s in session.scalars(select(AlertState).where(AlertState.alert_id == rule.id))
        }
    quiet = silenced(rule, now)
    severity = (condition.severity.value if condition.severity else None) or rule.severity
    for reading in readings:
        row = states.get(reading.key)
        current = State(row.state) if row else State.OK
        since = row.since if row else now
        new = next_state(current, since, reading, condition, now)
        if new is current:
            if row is not None and row.value != _finite(reading.value):
                _touch(session, rule, reading, now)
            if new is State.FIRING and row is not None and not quiet:
                due = row.notified_at is None or now - row.notified_at >= repeat_interval
                if due and _claim_notice(session, row, now):
                    notices.append(
                        _notice(Event.REPEAT, rule, condition, severity, reading, now, None)
                    )
            continue
        if not _move(session, rule, reading, row, current, new, now):
            continue  # another worker recorded this transition first
        outcome.transitions += 1
        analysis = (
            explain(session, rule, condition, reading, now).to_dict()
            if new is State.FIRING
            else None
        )
        _record(session, rule, condition, reading, current, new, now, analysis)
        event = {State.FIRING: Event.FIRING, State.RESOLVED: Event.RESOLVED}.get(new)
        if event is not None and not quiet:
            _set_notified(session, rule.id, reading.key, now)
            notices.append(_notice(event, rule, condition, severity, reading, now, analysis))
    return notices


def _move(
    session: Session,
    rule: Alert,
    reading: Reading,
    row: AlertState | None,
    current: State,
    new: State,
    now: datetime,
) -> bool:
    """Compare-and-set the state row; False when another evaluation changed it first."""
    with translate_errors(f"updating the state of alert {rule.id}"):
        if row is None:
            try:
                with session.begin_nested():
                    session.add(
                        AlertState(
                            alert_id=rule.id,
                            state_key=reading.key,
                            tags=reading.tags or None,
                            state=new.value,
                            since=now,
                            value=_finite(reading.value),
                            evaluated_at=now,
                            notified_at=None,
                        )
                    )
            except IntegrityError:
                return False
            return True
        result = session.execute(
            update(AlertState)
            .where(
                AlertState.alert_id == rule.id,
                AlertState.state_key == reading.key,
                AlertState.state == current.value,
                AlertState.since == row.since,
            )
            .values(state=new.value, since=now, value=_finite(reading.value), evaluated_at=now)
            .execution_options(synchronize_session=False)
        )
    return bool(getattr(result, "rowcount", 0))


def _touch(session: Session, rule: Alert, reading: Reading, now: datetime) -> None:
    """Keep the last value of an unchanged state (shown by the API); no history row."""
    with translate_errors(f"updating the state of alert {rule.id}"):
        session.execute(
            update(AlertState)
            .where(AlertState.alert_id == rule.id, AlertState.state_key == reading.key)
            .values(value=_finite(reading.value), evaluated_at=now)
            .execution_options(synchronize_session=False)
        )


def _claim_notice(session: Session, row: AlertState, now: datetime) -> bool:
    """Take the right to send a repeat: only the evaluation whose update wins sends it."""
    with translate_errors(f"updating the state of alert {row.alert_id}"):
        statement = update(AlertState).where(
            AlertState.alert_id == row.alert_id,
            AlertState.state_key == row.state_key,
            AlertState.state == State.FIRING.value,
        )
        if row.notified_at is None:
            statement = statement.where(AlertState.notified_at.is_(None))
        else:
            statement = statement.where(AlertState.notified_at == row.notified_at)
        result = session.execute(
            statement.values(notified_at=now).execution_options(synchronize_session=False)
        )
    return bool(getattr(result, "rowcount", 0))


def _set_notified(session: Session, alert_id: uuid.UUID, key: str, now: datetime) -> None:
    with translate_errors(f"updating the state of alert {alert_id}"):
        session.execute(
            update(AlertState)
            .where(AlertState.alert_id == alert_id, AlertState.state_key == key)
            .values(notified_at=now)
            .execution_options(synchronize_session=False)
        )


def _record(
    session: Session,
    rule: Alert,
    condition: Condition,
    reading: Reading,
    previous: State,
    new: State,
    now: datetime,
    analysis: dict[str, Any] | None,
) -> None:
    context: dict[str, Any] = {
        "state": new.value,
        "previous": previous.value,
        "value": _finite(reading.value),
        "threshold": condition.threshold,
        "condition": condition.describe(),
        "tags": dict(reading.tags),
        "state_key": reading.key,
    }
    if reading.detail:
        context["detail"] = reading.detail
    if analysis is not None:
        context["analysis"] = analysis
    with translate_errors(f"recording a transition of alert {rule.id}"):
        session.add(
            AlertHistory(alert_id=rule.id, time=now, triggered=new is State.FIRING, value=context)
        )
        session.flush()
    log.info(
        "alert %r %s: %s → %s (%s)", rule.name, reading.key or "-", previous, new, context["value"]
    )


def _notice(
    event: Event,
    rule: Alert,
    condition: Condition,
    severity: str,
    reading: Reading,
    now: datetime,
    analysis: dict[str, Any] | None,
) -> Notice:
    return Notice(
        event=event,
        alert_id=rule.id,
        alert=rule.name,
        severity=severity,
        condition=condition.describe(),
        tags=dict(reading.tags),
        value=_finite(reading.value),
        time=now,
        analysis=analysis,
    )


def _finite(value: float | None) -> float | None:
    if value is None or value in (float("inf"), float("-inf")) or value != value:
        return None
    return value
