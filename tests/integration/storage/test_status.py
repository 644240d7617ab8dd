"""register_plugin(), upsert_status() and get_status() on all three databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine

from unity_core.errors import IntegrityViolation
from unity_core.storage.write import get_status, register_plugin, upsert_status

from .write_helpers import count, open_session

RUN = datetime(2030, 6, 1, 12, 0, 5, tzinfo=UTC)


def test_registering_a_plugin_twice_leaves_one_unchanged_row(engine: Engine) -> None:
    # Given a registered plugin
    with open_session(engine) as session:
        first = register_plugin(session, "nas-disks", "NAS disks", config={"mount": "/srv"})
        session.commit()
    # When it is registered again with the same arguments
    with open_session(engine) as session:
        second = register_plugin(session, "nas-disks", "NAS disks", config={"mount": "/srv"})
        session.commit()
    # Then there is still one row, with the same identity and creation time
    assert count(engine, "plugins") == 1
    assert second.id == first.id
    assert second.created_at == first.created_at
    assert (second.name, second.enabled, second.config) == ("NAS disks", False, {"mount": "/srv"})


def test_registering_again_with_new_arguments_updates_name_flag_and_config(engine: Engine) -> None:
    # Given a registered, disabled plugin with a config
    with open_session(engine) as session:
        register_plugin(session, "ups", "UPS", config={"host": "a"})
        session.commit()
    # When it is registered again enabled, renamed, without config
    with open_session(engine) as session:
        updated = register_plugin(session, "ups", "Basement UPS", enabled=True)
        session.commit()
    # Then the row carries exactly the new values
    assert (updated.name, updated.enabled, updated.config) == ("Basement UPS", True, None)
    assert count(engine, "plugins") == 1


def test_upsert_status_creates_the_row_then_changes_only_the_fields_given(engine: Engine) -> None:
    # Given a registered plugin without status
    with open_session(engine) as session:
        register_plugin(session, "ups", "UPS")
        session.commit()
        assert get_status(session, "ups") is None
    # When a first status is recorded with a run time given in +02:00
    local_run = RUN.astimezone(timezone(timedelta(hours=2)))
    with open_session(engine) as session:
        upsert_status(session, "ups", last_run=local_run, health_status="ok")
        session.commit()
        created = get_status(session, "ups")
    # Then the row exists with those fields, in UTC, and defaults elsewhere
    assert created is not None
    assert created.last_run == RUN and created.last_run.tzinfo == UTC
    assert (created.health_status, created.error_count, created.last_error) == ("ok", 0, None)
    # When only the error fields are updated
    with open_session(engine) as session:
        upsert_status(session, "ups", last_error="timeout", error_count=3, health_status="failing")
        session.commit()
        updated = get_status(session, "ups")
    # Then they change and the run time given before is kept
    assert updated is not None
    assert (updated.last_error, updated.error_count, updated.health_status) == (
        "timeout",
        3,
        "failing",
    )
    assert updated.last_run == RUN
    assert updated.last_success is None
    assert count(engine, "plugin_status") == 1


def test_the_status_of_an_unregistered_plugin_is_an_integrity_violation(engine: Engine) -> None:
    # Given no plugin called "ghost"
    # When a status is recorded for it, Then the foreign key refuses it as IntegrityViolation
    with open_session(engine) as session, pytest.raises(IntegrityViolation, match="ghost"):
        upsert_status(session, "ghost", health_status="ok")
        session.flush()
    assert count(engine, "plugin_status") == 0


def test_upsert_status_never_commits(engine: Engine) -> None:
    # Given a registered plugin
    with open_session(engine) as session:
        register_plugin(session, "ups", "UPS")
        session.commit()
    # When a status is recorded but the caller rolls back
    with open_session(engine) as session:
        upsert_status(session, "ups", health_status="ok")
        assert get_status(session, "ups") is not None
        session.rollback()
    # Then nothing was stored
    assert count(engine, "plugin_status") == 0


def test_a_naive_status_time_is_refused_before_any_sql(engine: Engine) -> None:
    # Given a registered plugin
    with open_session(engine) as session:
        register_plugin(session, "ups", "UPS")
        session.commit()
    # When a status with a zone-less run time is recorded, Then it is refused by name
    with open_session(engine) as session, pytest.raises(ValueError, match="last_run"):
        upsert_status(session, "ups", last_run=datetime(2030, 6, 1, 12, 0))
    assert count(engine, "plugin_status") == 0
