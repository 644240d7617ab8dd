"""Alert rules and their history: CRUD, lookups, filters, ordering, cascade, on all databases."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from unity_core.errors import IntegrityViolation, StorageError
from unity_core.storage.alerts import (
    AlertNotFound,
    create_alert,
    delete_alert,
    get_alert,
    list_alerts,
    list_history,
    record_transition,
    update_alert,
)
from unity_core.storage.models import AlertHistory, Plugin

T0 = datetime(2025, 3, 10, 10, 0, tzinfo=UTC)
CPU_HIGH = {"metric": "cpu_percent", "op": ">", "threshold": 80}


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session on a database holding the plugins "system" and "docker"."""
    with Session(engine) as setup:
        setup.add_all(
            [Plugin(plugin_id="system", name="System"), Plugin(plugin_id="docker", name="Docker")]
        )
        setup.commit()
    with Session(engine) as session:
        yield session


def test_a_created_alert_reads_back_with_its_defaults(session: Session) -> None:
    # Given a new rule with only the required fields
    created = create_alert(session, name="High CPU", condition=CPU_HIGH, plugin_id="system")
    alert_id = created.id
    session.commit()
    session.expunge_all()
    # When we read it back by id
    alert = get_alert(session, alert_id)
    # Then every field is there, with the defaults and aware UTC timestamps
    assert (alert.name, alert.condition, alert.plugin_id) == ("High CPU", CPU_HIGH, "system")
    assert (alert.enabled, alert.severity) == (True, "warning")
    assert alert.created_at.utcoffset() == timedelta(0)


def test_create_alert_leaves_the_commit_to_the_caller(engine: Engine, session: Session) -> None:
    # Given a rule created in a transaction that is then rolled back
    create_alert(session, name="Disk full", condition={"metric": "disk_used_percent"})
    session.rollback()
    # When another session lists the rules
    with Session(engine) as other:
        rules = list_alerts(other)
    # Then nothing was committed
    assert rules == []


def test_an_unknown_alert_id_raises_alert_not_found(session: Session) -> None:
    # Given an id no rule has
    missing = uuid.uuid4()
    # When we get, update or delete it, Then AlertNotFound (a StorageError) names the id
    with pytest.raises(AlertNotFound, match=str(missing)) as raised:
        get_alert(session, missing)
    assert isinstance(raised.value, StorageError) and raised.value.alert_id == missing
    with pytest.raises(AlertNotFound):
        update_alert(session, missing, enabled=False)
    with pytest.raises(AlertNotFound):
        delete_alert(session, missing)
    with pytest.raises(AlertNotFound):
        record_transition(session, alert_id=missing, time=T0, triggered=True)


def test_an_alert_for_an_unknown_plugin_is_an_integrity_violation(session: Session) -> None:
    # Given no plugin called "ghost"
    # When we create a rule for it, Then the constraint failure is translated
    with pytest.raises(IntegrityViolation, match="creating alert 'Ghost'"):
        create_alert(session, name="Ghost", condition=CPU_HIGH, plugin_id="ghost")


def test_list_alerts_filters_by_plugin_and_enabled(session: Session) -> None:
    # Given rules on two plugins, one disabled, one global
    create_alert(session, name="a", condition=CPU_HIGH, plugin_id="system")
    create_alert(session, name="b", condition=CPU_HIGH, plugin_id="system", enabled=False)
    create_alert(session, name="c", condition=CPU_HIGH, plugin_id="docker")
    create_alert(session, name="d", condition=CPU_HIGH)
    session.commit()
    # When we list with each filter
    everything = {a.name for a in list_alerts(session)}
    system = {a.name for a in list_alerts(session, plugin_id="system")}
    disabled = {a.name for a in list_alerts(session, enabled=False)}
    system_enabled = {a.name for a in list_alerts(session, plugin_id="system", enabled=True)}
    # Then each returns exactly the matching rules
    assert everything == {"a", "b", "c", "d"}
    assert system == {"a", "b"}
    assert disabled == {"b"}
    assert system_enabled == {"a"}


def test_update_alert_changes_only_the_allowed_fields(engine: Engine, session: Session) -> None:
    # Given a rule
    alert_id = create_alert(session, name="High CPU", condition=CPU_HIGH, plugin_id="system").id
    session.commit()
    # When we change several fields and commit
    update_alert(
        session,
        alert_id,
        name="Very high CPU",
        condition={**CPU_HIGH, "threshold": 95},
        enabled=False,
        severity="critical",
        plugin_id=None,
    )
    session.commit()
    # Then a fresh session sees the changes
    with Session(engine) as other:
        stored = get_alert(other, alert_id)
    assert (stored.name, stored.condition["threshold"], stored.enabled) == (
        "Very high CPU",
        95,
        False,
    )
    assert (stored.severity, stored.plugin_id) == ("critical", None)
    # And a field outside the allowlist is refused by name
    with pytest.raises(ValueError, match="created_at"):
        update_alert(session, alert_id, created_at=T0)


def test_deleting_an_alert_deletes_its_history(engine: Engine, session: Session) -> None:
    # Given two rules, each with history
    doomed = create_alert(session, name="doomed", condition=CPU_HIGH).id
    kept = create_alert(session, name="kept", condition=CPU_HIGH).id
    for alert_id in (doomed, kept):
        record_transition(session, alert_id=alert_id, time=T0, triggered=True, value={"v": 91})
        record_transition(
            session, alert_id=alert_id, time=T0 + timedelta(minutes=5), triggered=False
        )
    session.commit()
    # When we delete one rule and commit
    delete_alert(session, doomed)
    session.commit()
    # Then the rule and its history are gone, the other's history stays
    with Session(engine) as other:
        remaining = other.execute(
            select(AlertHistory.alert_id, func.count()).group_by(AlertHistory.alert_id)
        ).all()
        with pytest.raises(AlertNotFound):
            get_alert(other, doomed)
    assert [(row[0], row[1]) for row in remaining] == [(kept, 2)]


def test_record_transition_rejects_a_naive_time(session: Session) -> None:
    # Given a rule
    alert = create_alert(session, name="x", condition=CPU_HIGH)
    # When we record a transition with a naive time, Then ValueError says so
    with pytest.raises(ValueError, match="aware"):
        record_transition(session, alert_id=alert.id, time=T0.replace(tzinfo=None), triggered=True)


def test_history_is_newest_first_and_filters_by_alert_time_and_state(session: Session) -> None:
    # Given two rules with alternating transitions every minute
    first = create_alert(session, name="first", condition=CPU_HIGH)
    second = create_alert(session, name="second", condition=CPU_HIGH)
    for minute in range(6):
        for alert in (first, second):
            record_transition(
                session,
                alert_id=alert.id,
                time=T0 + timedelta(minutes=minute),
                triggered=minute % 2 == 0,
                value={"minute": minute},
            )
    session.commit()
    # When we list with each filter
    everything = list_history(session)
    of_first = list_history(session, alert_id=first.id)
    window = list_history(session, start=T0 + timedelta(minutes=2), end=T0 + timedelta(minutes=4))
    triggered = list_history(session, alert_id=second.id, triggered=True)
    newest_two = list_history(session, limit=2)
    # Then entries come newest first and each filter keeps exactly its entries
    assert len(everything) == 12
    assert [e.time for e in everything] == sorted((e.time for e in everything), reverse=True)
    assert [e.value["minute"] for e in of_first if e.value] == [5, 4, 3, 2, 1, 0]
    assert {e.alert_id for e in of_first} == {first.id}
    assert sorted({e.time.minute for e in window}) == [2, 3]
    assert [e.time.minute for e in triggered] == [4, 2, 0]
    assert all(e.triggered for e in triggered)
    assert [e.time.minute for e in newest_two] == [5, 5]
    assert all(e.time.utcoffset() == timedelta(0) for e in everything)


def test_history_pages_follow_time_then_id_without_gaps_or_repeats(session: Session) -> None:
    # Given seven transitions, five of them at the very same instant
    alert = create_alert(session, name="flappy", condition=CPU_HIGH)
    times = [T0] * 5 + [T0 + timedelta(seconds=1), T0 - timedelta(seconds=1)]
    for i, at in enumerate(times):
        record_transition(session, alert_id=alert.id, time=at, triggered=i % 2 == 0)
    session.commit()
    # When we page through two entries at a time with the (time, id) cursor
    seen = []
    cursor = None
    while page := list_history(session, alert_id=alert.id, limit=2, before=cursor):
        seen += page
        cursor = (page[-1].time, page[-1].id)
    # Then every entry comes exactly once, newest first, in the same order as one big page
    # (ties are broken by id in the database's own UUID order, which differs on MariaDB)
    assert len(seen) == 7 and len({e.id for e in seen}) == 7
    assert [e.time for e in seen] == sorted(times, reverse=True)
    assert [e.id for e in seen] == [e.id for e in list_history(session, alert_id=alert.id)]


def test_list_history_rejects_a_bad_limit(session: Session) -> None:
    # Given nothing in particular
    # When the limit is out of bounds, Then ValueError
    with pytest.raises(ValueError, match="limit"):
        list_history(session, limit=0)
