"""persist_outcomes on all three databases: rows, rejects and plugin health in one transaction."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import Engine, func, select

from unity_core.cache import MemoryCache, latest_key
from unity_core.collection import (
    after_commit,
    decode_outcome,
    encode_outcome,
    persist_outcomes,
)
from unity_core.storage.models import MetricReject, Plugin, PluginStatus
from unity_core.storage.write import get_status, register_plugin

from .helpers import MINUTE, SLOT, failed, good, metric_count, session_on


def status(engine: Engine, plugin_id: str = "sensors") -> PluginStatus:
    with session_on(engine) as session:
        found = get_status(session, plugin_id)
    assert found is not None
    return found


def rejects(engine: Engine) -> list[MetricReject]:
    with session_on(engine) as session:
        return list(session.scalars(select(MetricReject).order_by(MetricReject.reason)))


def test_many_outcomes_are_stored_in_one_call_with_their_summary_rows(engine: Engine) -> None:
    # Given three successful runs of two plugins (two temperatures each, plus the summary row)
    outcomes = [
        good(SLOT, temps=(20.0, 21.0)),
        good(SLOT + MINUTE, temps=(22.0, 23.0)),
        good(SLOT, "attic", temps=(5.0, 6.0)),
    ]
    # When they are persisted and committed
    with session_on(engine) as session:
        report = persist_outcomes(session, outcomes)
        session.commit()
    # Then every row is stored, and the report says so
    assert (report.outcomes, report.rows_offered, report.rows_written) == (3, 9, 9)
    assert metric_count(engine) == 9
    assert metric_count(engine, metric_name="collection") == 3
    assert metric_count(engine, plugin_id="attic") == 3


def test_nothing_is_visible_until_the_caller_commits(engine: Engine) -> None:
    # Given outcomes persisted in a transaction that is then rolled back
    with session_on(engine) as session:
        persist_outcomes(session, [good(), failed(SLOT + MINUTE)])
        session.rollback()
    # Then neither rows nor statuses were kept
    assert metric_count(engine) == 0
    with session_on(engine) as session:
        assert session.scalar(select(func.count()).select_from(PluginStatus)) == 0


def test_a_redelivered_batch_stores_nothing_twice_and_counts_nothing_twice(
    engine: Engine,
) -> None:
    # Given a batch with a degraded run, shipped through the broker encoding, and persisted
    batch = [encode_outcome(good(SLOT, temps=(20.0,), bad=2)), encode_outcome(good(SLOT + MINUTE))]
    with session_on(engine) as session:
        persist_outcomes(session, [decode_outcome(o) for o in batch])
        session.commit()
    before = status(engine)
    # When the same batch is delivered again (and once more, duplicated inside itself)
    with session_on(engine) as session:
        report = persist_outcomes(session, [decode_outcome(o) for o in batch + batch])
        session.commit()
    # Then no row, reject or counter was added
    assert (report.duplicates, report.rows_written) == (4, 0)
    assert metric_count(engine) == 4
    assert len(rejects(engine)) == 2
    after = status(engine)
    assert after.rejected_count == before.rejected_count == 2
    assert after.error_count == before.error_count == 0
    assert after.run_count == before.run_count == 2


def test_a_run_redelivered_to_another_worker_is_stored_and_counted_once(engine: Engine) -> None:
    # Given a slot collected on worker w1 (with a reject) and persisted
    with session_on(engine) as session:
        persist_outcomes(session, [good(SLOT, worker="w1", bad=1)])
        session.commit()
    # When the same slot is collected again on worker w2 and persisted
    with session_on(engine) as session:
        report = persist_outcomes(session, [good(SLOT, worker="w2", bad=1)])
        session.commit()
    # Then nothing new is stored or counted
    assert (report.duplicates, report.rows_written) == (1, 0)
    assert metric_count(engine) == 2
    assert status(engine).rejected_count == 1
    assert len(rejects(engine)) == 1


def test_a_clean_run_marks_the_plugin_healthy(engine: Engine) -> None:
    # Given a successful run with nothing rejected
    with session_on(engine) as session:
        persist_outcomes(session, [good(worker="worker-7")])
        session.commit()
    # Then the status records the run
    found = status(engine)
    assert found.last_run == SLOT
    assert found.last_success == SLOT
    assert found.health_status == "ok"
    assert (found.consecutive_failures, found.error_count, found.rejected_count) == (0, 0, 0)
    assert found.last_duration_ms == 3.0
    assert found.worker_host == "worker-7"


def test_rejected_metrics_are_kept_with_reasons_and_the_plugin_is_degraded(
    engine: Engine,
) -> None:
    # Given two runs, one with two out-of-range readings, one clean
    with session_on(engine) as session:
        persist_outcomes(session, [good(SLOT, bad=2)])
        persist_outcomes(session, [good(SLOT + MINUTE, bad=1)])
        session.commit()
    # Then the valid readings are stored and the rejects kept with their reasons
    assert metric_count(engine, metric_name="temperature") == 2
    stored = rejects(engine)
    assert len(stored) == 3
    assert stored[0].plugin_id == "sensors" and stored[0].metric_name == "temperature"
    assert stored[0].reason == "temperature: value 999 is above the maximum 150"
    assert stored[0].value == {"value": 999.0}
    # And the status counts them and explains the degradation
    found = status(engine)
    assert found.health_status == "degraded"
    assert found.rejected_count == 3
    assert found.last_error is not None and found.last_error.startswith("1 metrics rejected")


def test_per_item_errors_make_a_successful_run_degraded(engine: Engine) -> None:
    with session_on(engine) as session:
        persist_outcomes(session, [good(errors=["disk sdb: permission denied"])])
        session.commit()
    found = status(engine)
    assert (found.health_status, found.last_error) == ("degraded", "disk sdb: permission denied")


def test_failures_count_up_pause_the_plugin_and_a_success_resets_it(engine: Engine) -> None:
    # Given three failed slots with pause_after = 3
    with session_on(engine) as session:
        persist_outcomes(session, [failed(SLOT, error="first")], pause_after=3)
        persist_outcomes(session, [failed(SLOT + MINUTE, error="second")], pause_after=3)
        session.commit()
    # Then after two the plugin is failing, with the last error
    found = status(engine)
    assert (found.health_status, found.consecutive_failures, found.error_count) == (
        "failing",
        2,
        2,
    )
    assert found.last_error == "OSError: second"
    assert found.last_success is None
    # When the third fails, it is paused
    with session_on(engine) as session:
        persist_outcomes(session, [failed(SLOT + 2 * MINUTE)], pause_after=3)
        session.commit()
    assert status(engine).health_status == "paused"
    # And a success (a manual collection) makes it healthy again
    with session_on(engine) as session:
        persist_outcomes(session, [good(SLOT + 3 * MINUTE)], pause_after=3)
        session.commit()
    found = status(engine)
    assert (found.health_status, found.consecutive_failures, found.error_count) == ("ok", 0, 3)
    assert found.last_success == SLOT + 3 * MINUTE


def test_pause_after_zero_never_pauses(engine: Engine) -> None:
    with session_on(engine) as session:
        persist_outcomes(session, [failed(SLOT + i * MINUTE) for i in range(12)], pause_after=0)
        session.commit()
    assert (status(engine).health_status, status(engine).consecutive_failures) == ("failing", 12)


def test_retries_of_one_slot_count_one_failing_slot_but_every_error(engine: Engine) -> None:
    # Given three failed attempts at the same slot
    with session_on(engine) as session:
        persist_outcomes(session, [failed(SLOT, attempt=n) for n in range(3)])
        session.commit()
    # Then one slot failed, three errors happened
    found = status(engine)
    assert (found.consecutive_failures, found.error_count) == (1, 3)


def test_outcomes_of_a_plugin_are_applied_in_slot_order(engine: Engine) -> None:
    # Given a newer success listed before an older failure in one call
    with session_on(engine) as session:
        persist_outcomes(session, [good(SLOT + MINUTE), failed(SLOT)])
        session.commit()
    # Then the newer success decides the health; the failure is still counted
    found = status(engine)
    assert (found.health_status, found.consecutive_failures, found.error_count) == ("ok", 0, 1)
    assert found.last_run == SLOT + MINUTE


def test_a_late_outcome_of_an_older_slot_does_not_undo_a_newer_one(engine: Engine) -> None:
    # Given a stored success at slot 2
    with session_on(engine) as session:
        persist_outcomes(session, [good(SLOT + 2 * MINUTE)])
        session.commit()
    # When a failure of slot 1 arrives afterwards (a slow worker)
    with session_on(engine) as session:
        persist_outcomes(session, [failed(SLOT + MINUTE)])
        session.commit()
    # Then the plugin stays healthy, with the failure counted
    found = status(engine)
    assert (found.health_status, found.last_run, found.error_count) == (
        "ok",
        SLOT + 2 * MINUTE,
        1,
    )


def test_an_unregistered_plugin_is_registered_disabled_before_its_status(engine: Engine) -> None:
    # Given a run of a plugin the registry does not know
    with session_on(engine) as session:
        persist_outcomes(session, [good(plugin_id="ghost")])
        session.commit()
    # Then it is registered, disabled, named by its id, and has a status
    with session_on(engine) as session:
        plugin = session.scalars(select(Plugin).where(Plugin.plugin_id == "ghost")).one()
    assert (plugin.name, plugin.enabled) == ("ghost", False)
    assert status(engine, "ghost").health_status == "ok"


def test_a_registered_plugin_keeps_its_name_and_flag(engine: Engine) -> None:
    # Given a registered, enabled plugin
    with session_on(engine) as session:
        register_plugin(session, "sensors", "Kitchen sensors", enabled=True)
        session.commit()
    # When its outcomes are persisted
    with session_on(engine) as session:
        persist_outcomes(session, [good()])
        session.commit()
    # Then its registration is untouched
    with session_on(engine) as session:
        plugin = session.scalars(select(Plugin).where(Plugin.plugin_id == "sensors")).one()
    assert (plugin.name, plugin.enabled) == ("Kitchen sensors", True)


def test_at_most_a_hundred_rejects_per_plugin_are_stored_per_call_and_all_counted(
    engine: Engine,
) -> None:
    # Given two runs with 80 rejects each (160 in the call)
    outcomes = [good(SLOT, bad=80), good(SLOT + MINUTE, bad=80)]
    # When persisted in one call
    with session_on(engine) as session:
        report = persist_outcomes(session, outcomes)
        session.commit()
    # Then 100 are stored, 60 dropped, and all 160 counted in the status
    assert (report.rejects_stored, report.rejects_dropped) == (100, 60)
    assert len(rejects(engine)) == 100
    assert status(engine).rejected_count == 160


def test_concurrent_persists_of_one_new_plugin_both_apply(engine: Engine) -> None:
    # Given two workers persisting runs of a plugin nobody registered yet, at the same moment:
    # a degraded success and a failed retry of the same slot
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []
    outcomes = [good(SLOT, "newbie", bad=3), failed(SLOT, "newbie", attempt=1)]

    def persist(index: int) -> None:
        try:
            with session_on(engine) as session:
                barrier.wait(timeout=10)
                persist_outcomes(session, [outcomes[index]])
                session.commit()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=persist, args=(n,)) for n in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    # Then neither failed (no deadlock, no duplicate key) and neither update was lost
    assert errors == []
    found = status(engine, "newbie")
    assert (found.error_count, found.rejected_count) == (1, 3)
    assert found.last_success == SLOT
    assert metric_count(engine, plugin_id="newbie") == 2


@pytest.mark.parametrize("with_report", [True, False])
def test_after_commit_puts_latest_samples_and_status_in_the_cache(
    engine: Engine, with_report: bool
) -> None:
    # Given two runs persisted and committed, and a cache holding an old status
    outcomes = [good(SLOT, temps=(20.0, 21.0)), good(SLOT + MINUTE, temps=(25.0,))]
    cache = MemoryCache()
    cache.set_json("unity:plugin:sensors:status", {"stale": True}, 60)
    with session_on(engine) as session:
        report = persist_outcomes(session, outcomes)
        session.commit()
    # When the cache is updated after the commit
    after_commit(cache, outcomes, report if with_report else None)
    # Then the newest sample of each series is cached
    latest = cache.get_latest("sensors")
    assert latest is not None
    temps = {e["tags"]["i"]: e["numeric_value"] for e in latest.values() if "i" in e["tags"]}
    assert temps == {"0": 25.0, "1": 21.0}
    assert latest_key("sensors") == "unity:plugin:sensors:latest"
    # And the status is the one written, or dropped when no report was given
    cached = cache.get_status("sensors")
    if with_report:
        assert cached is not None and cached["health_status"] == "ok"
        assert cached["last_run"] == (SLOT + MINUTE).isoformat()
    else:
        assert cached is None
