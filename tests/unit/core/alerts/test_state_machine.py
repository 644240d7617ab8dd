"""next_state: ok → pending → firing → resolved, `for` durations, hysteresis, unknown data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from unity_core.alerts.conditions import parse_condition
from unity_core.alerts.evaluate import State, next_state
from unity_core.alerts.readings import Reading

T0 = datetime(2030, 1, 1, tzinfo=UTC)
HOT = parse_condition(
    {"plugin": "p", "metric": "t", "operator": ">", "threshold": 80, "hysteresis": 5}
)
HOT_FOR_A_MINUTE = parse_condition(
    {"plugin": "p", "metric": "t", "operator": ">", "threshold": 80, "for": "1m"}
)


def reading(value: float | None, condition=HOT) -> Reading:  # type: ignore[no-untyped-def]
    if value is None:
        return Reading("k", {}, None, None, None)
    return Reading("k", {}, value, condition.breached(value), condition.cleared(value))


def run(values: list[float | None], condition=HOT, step=timedelta(seconds=10)) -> list[State]:  # type: ignore[no-untyped-def]
    state, since, seen = State.OK, T0, []
    for i, value in enumerate(values):
        now = T0 + step * i
        new = next_state(state, since, reading(value, condition), condition, now)
        if new is not state:
            since = now
        state = new
        seen.append(state)
    return seen


def test_crossing_without_a_for_duration_fires_at_once_and_resolves_once_cleared() -> None:
    assert run([70, 90, 90, 70]) == [State.OK, State.FIRING, State.FIRING, State.RESOLVED]


def test_a_value_hovering_at_the_threshold_fires_once_and_does_not_flap() -> None:
    states = run([79, 81, 79, 81, 79, 81, 76])
    assert states.count(State.FIRING) == 6
    assert State.RESOLVED not in states


def test_a_for_duration_holds_the_alert_pending_until_it_has_lasted() -> None:
    states = run([90] * 8, HOT_FOR_A_MINUTE)
    assert states[:6] == [State.PENDING] * 6
    assert states[6:] == [State.FIRING, State.FIRING]


def test_a_breach_shorter_than_for_goes_back_to_ok_without_firing() -> None:
    assert run([90, 90, 70, 90], HOT_FOR_A_MINUTE) == [
        State.PENDING, State.PENDING, State.OK, State.PENDING
    ]  # fmt: skip


def test_a_reading_that_cannot_be_judged_changes_nothing() -> None:
    assert run([90, None, None, 70]) == [State.FIRING, State.FIRING, State.FIRING, State.RESOLVED]


def test_a_resolved_alert_fires_again_on_the_next_breach() -> None:
    assert run([90, 70, 90])[-1] is State.FIRING
