"""Evaluation on each database: transitions once, history with analysis, silences, outbox."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from tests.integration.alerts.receivers import http_receiver
from unity_core.alerts import analyse, enabled_rules, evaluate
from unity_core.config import NotificationSettings
from unity_core.errors import NotificationFailed
from unity_core.notify import Silencer, deliver, mute, queue_notices
from unity_core.storage import MetricRow, create_alert, make_sessionmaker, write_batch
from unity_core.storage.models import AlertHistory, AlertState, Notification, Plugin, PluginStatus

HOT = {"plugin": "nas", "metric": "temp", "operator": ">", "threshold": 80, "hysteresis": 5}


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with make_sessionmaker(engine)() as session:
        session.add(Plugin(plugin_id="nas", name="NAS"))
        session.commit()
        yield session


def write(session: Session, at: datetime, value: float, metric: str = "temp", **tags: str) -> None:
    row = MetricRow(
        time=at, plugin_id="nas", metric_name=metric, value={"v": value}, numeric_value=value,
        tags=tags or None,
    )  # fmt: skip
    write_batch(session, [row])
    session.commit()


def history(session: Session) -> list[AlertHistory]:
    session.expire_all()
    return list(session.scalars(select(AlertHistory).order_by(AlertHistory.time)))


def test_a_crossing_fires_once_and_resolves_once_with_history(session: Session) -> None:
    # Given a rule "temp > 80, resolve at or below 75" and a value that rises, hovers, falls
    create_alert(session, name="Hot NAS", condition=HOT)
    session.commit()
    start = datetime.now(UTC)
    events = []
    for i, value in enumerate([70, 90, 84, 81, 90, 70, 72]):
        at = start + timedelta(seconds=i)
        write(session, at, value)
        # When each write is followed by an evaluation
        outcome = evaluate(session, enabled_rules(session), now=at)
        events += [n.event.value for n in outcome.notices]
    # Then it fired once and resolved once; the hover between 75 and 80 did not flap
    assert events == ["firing", "resolved"]
    rows = history(session)
    assert [(r.triggered, r.value["state"], r.value["value"]) for r in rows] == [
        (True, "firing", 90.0),
        (False, "resolved", 70.0),
    ]
    # And the firing row keeps the analysis of that moment
    analysis = rows[0].value["analysis"]
    assert analysis["context"]["current_value"] == 90.0
    assert analysis["context"]["threshold"] == 80.0
    assert analysis["suggestion"]


def test_each_tag_set_has_its_own_state(session: Session) -> None:
    create_alert(session, name="Hot disk", condition={**HOT, "metric": "disk_temp"})
    session.commit()
    now = datetime.now(UTC)
    write(session, now, 90, "disk_temp", disk="sda")
    write(session, now, 40, "disk_temp", disk="sdb")
    outcome = evaluate(session, enabled_rules(session), now=now)
    assert [n.tags for n in outcome.notices] == [{"disk": "sda"}]
    states = {
        tuple(sorted((s.tags or {}).items())): s.state for s in session.scalars(select(AlertState))
    }
    assert states == {(("disk", "sda"),): "firing"}


@pytest.mark.parametrize("previous", ["none", "resolved"])
def test_two_evaluations_racing_on_one_moment_record_one_transition(
    engine: Engine, session: Session, previous: str
) -> None:
    if engine.dialect.name == "sqlite":
        pytest.skip("SQLite runs every transaction under BEGIN IMMEDIATE: no two interleave")
    # Given a breach (after no state yet, or after an earlier firing that resolved)
    create_alert(session, name="Hot NAS", condition=HOT)
    session.commit()
    now = datetime.now(UTC)
    if previous == "resolved":
        write(session, now - timedelta(seconds=2), 95)
        evaluate(session, enabled_rules(session), now=now - timedelta(seconds=2))
        write(session, now - timedelta(seconds=1), 10)
        evaluate(session, enabled_rules(session), now=now - timedelta(seconds=1))
    write(session, now, 95)
    before = len(history(session))
    rival: list[int] = []

    def rival_evaluates_in_between(rule: Any, at: datetime) -> bool:
        # Called after this evaluation read the state and before it writes the transition:
        # another worker evaluates the same rule and commits first.
        with make_sessionmaker(engine)() as other:
            rival.append(len(evaluate(other, enabled_rules(other), now=now).notices))
        return False

    # When this evaluation continues on the state it read before the rival's commit
    mine = evaluate(session, enabled_rules(session), now=now, silenced=rival_evaluates_in_between)
    # Then only one of the two fired, and history holds one new row
    assert rival == [1]
    assert mine.notices == [] and mine.transitions == 0
    assert len(history(session)) == before + 1


def test_a_for_duration_waits_in_pending(session: Session) -> None:
    create_alert(session, name="Hot NAS", condition={**HOT, "for": "30s"})
    session.commit()
    start = datetime.now(UTC)
    write(session, start, 95)
    assert evaluate(session, enabled_rules(session), now=start).notices == []
    write(session, start + timedelta(seconds=10), 95)
    assert (
        evaluate(session, enabled_rules(session), now=start + timedelta(seconds=10)).notices == []
    )
    write(session, start + timedelta(seconds=31), 95)
    late = evaluate(session, enabled_rules(session), now=start + timedelta(seconds=31))
    assert [n.event.value for n in late.notices] == ["firing"]
    assert [r.value["state"] for r in history(session)] == ["pending", "firing"]


def test_no_data_fires_when_the_plugin_goes_silent_and_resolves_when_it_returns(
    session: Session,
) -> None:
    alert = create_alert(
        session, name="NAS silent", condition={"kind": "no_data", "plugin": "nas", "minutes": 1}
    )
    session.commit()
    created = alert.created_at
    write(session, created, 50)
    assert (
        evaluate(session, enabled_rules(session), now=created + timedelta(seconds=30)).notices == []
    )
    silent = evaluate(session, enabled_rules(session), now=created + timedelta(seconds=61))
    assert [n.event.value for n in silent.notices] == ["firing"]
    write(session, created + timedelta(seconds=70), 50)
    back = evaluate(session, enabled_rules(session), now=created + timedelta(seconds=71))
    assert [n.event.value for n in back.notices] == ["resolved"]


def test_plugin_health_fires_on_paused(session: Session) -> None:
    create_alert(session, name="NAS paused", condition={"kind": "plugin_health", "plugin": "nas"})
    session.add(PluginStatus(plugin_id="nas", health_status="paused", consecutive_failures=10))
    session.commit()
    outcome = evaluate(session, enabled_rules(session))
    assert [n.event.value for n in outcome.notices] == ["firing"]
    assert "paused" in outcome.notices[0].analysis["suggestion"]  # type: ignore[index]


def test_a_firing_alert_is_repeated_after_the_repeat_interval(session: Session) -> None:
    create_alert(session, name="Hot NAS", condition=HOT)
    session.commit()
    start = datetime.now(UTC)
    write(session, start, 95)
    interval = timedelta(minutes=10)
    seen = []
    for minutes in (0, 5, 11, 12):
        at = start + timedelta(minutes=minutes)
        write(session, at + timedelta(microseconds=1), 95)
        outcome = evaluate(
            session, enabled_rules(session), now=at + timedelta(seconds=1), repeat_interval=interval
        )
        seen.append([n.event.value for n in outcome.notices])
    assert seen == [["firing"], [], ["repeat"], []]


def test_a_muted_rule_changes_state_but_sends_nothing(session: Session) -> None:
    alert = create_alert(session, name="Hot NAS", condition=HOT)
    now = datetime.now(UTC)
    mute(
        session, alert_id=alert.id, until=now + timedelta(hours=1), start=now - timedelta(seconds=1)
    )
    session.commit()
    write(session, now, 95)
    outcome = evaluate(
        session, enabled_rules(session), now=now, silenced=Silencer.load(session, now)
    )
    assert outcome.notices == [] and outcome.transitions == 1
    assert [r.value["state"] for r in history(session)] == ["firing"]


def test_a_maintenance_window_silences_every_rule(session: Session) -> None:
    create_alert(session, name="Hot NAS", condition=HOT)
    session.commit()
    now = datetime.now(UTC)
    window = {
        "start": (now - timedelta(minutes=1)).isoformat(),
        "end": (now + timedelta(minutes=1)).isoformat(),
    }
    write(session, now, 95)
    silencer = Silencer.load(session, now, [window])
    assert evaluate(session, enabled_rules(session), now=now, silenced=silencer).notices == []


def test_an_invalid_stored_condition_is_skipped_and_named(session: Session) -> None:
    create_alert(session, name="Broken", condition={"metric": "temp"})
    create_alert(session, name="Hot NAS", condition=HOT)
    session.commit()
    write(session, datetime.now(UTC), 95)
    outcome = evaluate(session, enabled_rules(session))
    assert outcome.evaluated == 1 and len(outcome.notices) == 1
    assert "Broken" in outcome.invalid[0] and "plugin: required" in outcome.invalid[0]


def test_analysis_on_demand_compares_with_the_baseline_and_lists_related_metrics(
    session: Session,
) -> None:
    alert = create_alert(session, name="Hot NAS", condition={**HOT, "aggregation": "avg"})
    session.commit()
    now = datetime.now(UTC)
    for hour in range(1, 25):
        write(session, now - timedelta(hours=hour), 40, host="nas")
    for second in range(0, 60, 10):
        write(session, now - timedelta(seconds=60 - second), 82 + second / 5, host="nas")
    write(session, now - timedelta(seconds=5), 30, "fan_rpm", host="nas")
    result = analyse(session, alert, now=now).to_dict()
    context = result["context"]
    assert context["historical_baseline"] == pytest.approx(40.0)
    assert context["recent_trend"] == "increasing"
    assert context["current_value"] == pytest.approx(sum(82 + s / 5 for s in range(0, 60, 10)) / 6)
    assert [m["metric"] for m in context["related_metrics"]] == ["fan_rpm"]
    assert result["firing"] is True and "usual level" in result["suggestion"]


NOTICE: dict[str, Any] = {"event": "firing", "alert": "Hot NAS", "severity": "warning",
                          "condition": "temp > 80", "tags": {}, "value": 90.0}  # fmt: skip


def test_the_outbox_sends_a_burst_as_one_message_and_keeps_failures(session: Session) -> None:
    with http_receiver(fail_first=1) as receiver:
        settings = NotificationSettings(
            channels=({"name": "hook", "type": "webhook", "url": receiver.url},)
        )
        # Given three notifications queued for the same channel
        ids = [
            queue_notices(session, settings, [{**NOTICE, "alert": name}])[0]
            for name in ("a", "b", "c")
        ]
        session.commit()
        # When the first send fails, the rows wait again with the attempt recorded
        with pytest.raises(NotificationFailed):
            deliver(session, settings, ids[0])
        session.expire_all()
        rows = list(session.scalars(select(Notification)))
        assert {(r.status, r.attempts) for r in rows} == {("pending", 1)}
        assert all("HTTP 500" in (r.last_error or "") for r in rows)
        # And the retry carries all three in one message
        result = deliver(session, settings, ids[0])
        assert (result.sent, result.carried) == (True, 3)
        (request,) = receiver.wait(1)
        assert [a["alert"] for a in request.json()["alerts"]] == ["a", "b", "c"]
        # And the other rows' own sends find nothing left to do
        assert deliver(session, settings, ids[1]).carried == 0
        session.expire_all()
        assert {r.status for r in session.scalars(select(Notification))} == {"sent"}


def test_a_notification_for_a_removed_channel_is_kept_as_orphaned(session: Session) -> None:
    settings = NotificationSettings(
        channels=({"name": "old", "type": "webhook", "url": "http://127.0.0.1:9"},)
    )
    (notification_id,) = queue_notices(session, settings, [NOTICE])
    session.commit()
    result = deliver(session, NotificationSettings(), notification_id)
    assert not result.sent
    row = session.get(Notification, notification_id)
    assert (
        row is not None and row.status == "orphaned" and "not configured" in (row.last_error or "")
    )


def test_unknown_ids_deliver_nothing(session: Session) -> None:
    assert deliver(session, NotificationSettings(), uuid.uuid4()).carried == 0


def test_pruning_keeps_what_is_still_waiting(session: Session) -> None:
    from unity_core.notify import outbox
    from unity_core.notify.silence import prune_silences

    old = datetime.now(UTC) - timedelta(days=100)
    settings = NotificationSettings(
        channels=({"name": "hook", "type": "webhook", "url": "http://127.0.0.1:9"},)
    )
    sent, waiting = (queue_notices(session, settings, [NOTICE], old)[0] for _ in range(2))
    session.execute(
        update(Notification).where(Notification.id == sent).values(status="sent", updated_at=old)
    )
    mute(session, start=old, until=old + timedelta(hours=1))
    session.commit()
    cutoff = datetime.now(UTC) - timedelta(days=90)
    assert outbox.prune(session, cutoff) == 1
    assert prune_silences(session, cutoff) == 1
    session.commit()
    assert [n.id for n in session.scalars(select(Notification))] == [waiting]


def test_a_channel_with_min_severity_gets_only_the_serious_notices(session: Session) -> None:
    settings = NotificationSettings(
        channels=(
            {"name": "all", "type": "webhook", "url": "http://127.0.0.1:9"},
            {"name": "pager", "type": "webhook", "url": "http://127.0.0.1:9",
             "min_severity": "critical"},
        )
    )  # fmt: skip
    queue_notices(session, settings, [NOTICE])
    queue_notices(session, settings, [NOTICE, {**NOTICE, "alert": "Fire", "severity": "critical"}])
    session.commit()
    rows = session.scalars(select(Notification))
    queued = [(n.channel, [a["alert"] for a in n.payload["notices"]]) for n in rows]
    assert sorted(queued) == [
        ("all", ["Hot NAS"]),
        ("all", ["Hot NAS", "Fire"]),
        ("pager", ["Fire"]),
    ]
