"""collect_once through the real runner: good runs, bad output, failures, the wire form."""

from __future__ import annotations

import json
import math
import socket
import threading
from collections.abc import Mapping
from datetime import timedelta, timezone
from typing import Any

from sqlalchemy import Engine

from unity_core.collection import (
    Outcome,
    collect_once,
    decode_outcome,
    encode_outcome,
    failure_outcome,
    persist_outcomes,
)
from unity_core.errors import CollectionTimeout
from unity_core.plugins.sdk import Accumulator, Collection, Metric

from .helpers import SLOT, Sensors, instance, metric_count, session_on, settings, stub_run


def collect(config: Mapping[str, object], **changes: Any) -> Outcome:
    """One real run of Sensors with `config`, for an instance changed by `changes`."""
    plugin_instance = instance(**changes)
    plugin = Sensors(config, instance_id=plugin_instance.plugin_id)
    return collect_once(
        plugin_instance, plugin, SLOT, worker_host="worker-1", settings=settings(tags={"a": "g"})
    )


def test_a_good_run_yields_tagged_rows_at_the_slot_and_a_summary_row() -> None:
    # Given a plugin reporting two temperatures, an instance with tags, and global tags
    config = {"readings": [["temperature", 20.5, {"zone": "1"}], ["temperature", 21, {}]]}
    # When one collection runs through the real runner
    outcome = collect(config, tags={"a": "instance", "site": "rack1"})
    # Then it succeeded with two metric rows and the summary row, all at the slot
    assert outcome.ok and outcome.error is None
    assert [r.metric_name for r in outcome.rows] == ["temperature", "temperature", "collection"]
    assert {r.time for r in outcome.rows} == {SLOT}
    # And tags come from host, environment, global, instance (which wins) and the metric
    assert outcome.rows[0].tags == {
        "a": "instance",
        "environment": "test",
        "host": "box",
        "site": "rack1",
        "zone": "1",
    }
    # And the summary row carries the plugin's summary and the run's metadata
    summary = outcome.rows[-1].value
    assert summary["summary"] == "2 temperatures read"
    assert summary["collector_version"] == "2.0.1"
    assert summary["metrics"] == 2
    assert summary["worker_host"] == "worker-1"
    assert summary["collection_duration_ms"] >= 0
    assert outcome.summary == "2 temperatures read"
    assert outcome.worker_host == "worker-1"


def test_malformed_output_is_rejected_with_reasons_and_the_valid_rows_are_kept() -> None:
    # Given a plugin reporting a NaN, an undeclared metric, a bad tag and one good reading
    config = {
        "readings": [
            ["temperature", math.nan, {"zone": "1"}],
            ["humidity", 40, {}],
            ["temperature", 20.0, {"zone": "x" * 300}],
            ["temperature", 19.0, {"zone": "2"}],
        ]
    }
    # When collected
    outcome = collect(config)
    # Then the run still succeeds, keeps the good reading, and says why the rest was refused
    assert outcome.ok
    assert [r.numeric_value for r in outcome.rows if r.metric_name == "temperature"] == [19.0]
    assert outcome.rejected == 3
    assert [r.reason for r in outcome.rejects] == [
        "temperature: value nan is not finite",
        "humidity: not a metric this plugin declares",
        "temperature: tag 'zone' is longer than 255 characters",
    ]
    assert outcome.degraded


def test_a_plugin_that_raises_gives_a_failure_outcome() -> None:
    # Given a plugin whose collect_data raises
    # When collected
    outcome = collect({"fail": True})
    # Then the outcome is a failure naming the plugin's error, with no rows
    assert not outcome.ok
    assert outcome.rows == []
    assert outcome.error is not None
    assert outcome.error.startswith("CollectionFailed: sensors: OSError: sensor bus unplugged")


class Hanging(Sensors):
    """Blocks until released: a plugin stuck on a network call without a timeout."""

    release = threading.Event()

    def collect_data(self, acc: Accumulator) -> None:
        self.release.wait(10)


def test_a_hanging_plugin_is_stopped_by_its_timeout_and_recorded() -> None:
    # Given a plugin that hangs, and an instance timeout of 0.2 s
    plugin_instance = instance("hangs", timeout=0.2)
    try:
        # When collected
        outcome = collect_once(
            plugin_instance,
            Hanging(instance_id="hangs"),
            SLOT,
            worker_host="w",
            settings=settings(),
        )
    finally:
        Hanging.release.set()
    # Then the run is a failure that names the time limit, and took about that long
    assert not outcome.ok
    assert outcome.error == f"CollectionTimeout: {CollectionTimeout('hangs', 0.2)}"
    assert 150 <= outcome.duration_ms < 5000


class BadSummary(Sensors):
    def summary(self, collection: Collection) -> str:
        raise ZeroDivisionError("no sensors")


def test_a_failing_summary_does_not_fail_the_run() -> None:
    # Given a plugin whose summary() raises
    plugin = BadSummary({"readings": [["temperature", 20.0, {}]]})
    # When collected
    outcome = collect_once(instance(), plugin, SLOT, worker_host="w", settings=settings())
    # Then the run succeeds with a plain fallback summary
    assert outcome.ok
    assert outcome.summary == "1 metrics collected"
    assert outcome.rows[-1].value["summary"] == "1 metrics collected"


def test_a_slot_in_another_zone_becomes_the_same_utc_slot() -> None:
    # Given the slot expressed in UTC-05:00, and an injected run function
    local = SLOT.astimezone(timezone(timedelta(hours=-5)))
    outcome = collect_once(
        instance(), Sensors(), local, worker_host="w", settings=settings(), run=stub_run([])
    )
    # Then the outcome and its rows use the slot in UTC
    assert outcome.slot_time == SLOT
    assert outcome.rows[-1].time == SLOT


def test_the_host_tag_defaults_to_this_machine() -> None:
    outcome = collect_once(
        instance(), Sensors(), SLOT, worker_host="w", settings=settings(host=None), run=stub_run([])
    )
    assert outcome.rows[-1].tags is not None
    assert outcome.rows[-1].tags["host"] == socket.gethostname()


def test_an_outcome_survives_the_wire_exactly_and_compactly() -> None:
    # Given a degraded outcome with rows, rejects, per-item errors, and one explicit time
    config = {"readings": [["temperature", 20.5, {"zone": "1"}], ["humidity", 1, {}]]}
    outcome = collect(config)
    # When encoded to JSON text and decoded again
    text = json.dumps(encode_outcome(outcome))
    decoded = decode_outcome(json.loads(text))
    # Then it is equal in every field, row by row
    assert decoded == outcome
    assert [r.series_key for r in decoded.rows] == [r.series_key for r in outcome.rows]
    # And rows travel as lists with tag sets listed once
    encoded = json.loads(text)
    assert all(isinstance(row, list) for row in encoded["r"])
    assert len(encoded["g"]) == 2  # the metric's tag set and the summary's


def test_a_failure_outcome_survives_the_wire_exactly() -> None:
    # Given a failure outcome built from an error with a cause
    try:
        try:
            raise OSError("disk gone")
        except OSError as cause:
            raise RuntimeError("collection broke") from cause
    except RuntimeError as error:
        outcome = failure_outcome("sensors", SLOT, error, worker_host="w", attempt=2)
    # When it goes over the wire
    decoded = decode_outcome(json.loads(json.dumps(encode_outcome(outcome))))
    # Then it is unchanged, and the error names both the failure and its cause
    assert decoded == outcome
    assert decoded.error == "RuntimeError: collection broke (caused by OSError: disk gone)"
    assert (decoded.attempt, decoded.ok, decoded.rows) == (2, False, [])


def test_rows_with_their_own_times_round_trip_with_those_times() -> None:
    # Given an outcome one of whose metrics carries its own time
    own = SLOT - timedelta(seconds=30)
    outcome = collect_once(
        instance(),
        Sensors(),
        SLOT,
        worker_host="w",
        settings=settings(),
        run=stub_run([Metric("temperature", 1.0, time=own)]),
    )
    # When it goes over the wire
    decoded = decode_outcome(json.loads(json.dumps(encode_outcome(outcome))))
    # Then the explicit time is kept
    assert decoded.rows[0].time == own
    assert decoded == outcome


def test_a_redelivered_collection_of_the_same_slot_is_stored_once(engine: Engine) -> None:
    # Given the same slot collected twice for real (a redelivered task) with changing readings
    first = collect({"readings": [["temperature", 20.0, {}]]})
    second = collect({"readings": [["temperature", 20.7, {}]]})
    # When both are persisted
    with session_on(engine) as session:
        persist_outcomes(session, [first])
        session.commit()
    with session_on(engine) as session:
        report = persist_outcomes(session, [second])
        session.commit()
    # Then only the first run's rows exist
    assert report.duplicates == 1
    assert metric_count(engine) == 2
    assert metric_count(engine, metric_name="temperature", numeric_value=20.0) == 1
