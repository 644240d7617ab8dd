"""The broker form of an Outcome: compact, lossless, and readable across one upgrade."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from unity_core.collection import decode_outcome, encode_outcome
from unity_core.collection.outcome import Outcome
from unity_core.pipeline.stage import Rejection
from unity_core.storage.batch import MetricRow

SLOT = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def through_broker(outcome: Outcome) -> dict[str, object]:
    """What a worker receives: the encoded dict after a JSON round trip."""
    return json.loads(json.dumps(encode_outcome(outcome)))


def sample_outcome() -> Outcome:
    # Rows carry the collecting worker's host, as collect_once builds them.
    rows = [
        MetricRow.build(SLOT, "box", "cpu", 12.5, tags={"cpu": 0, "host": "a"}),
        MetricRow.build(SLOT, "box", "cpu", 7.25, tags={"host": "a", "cpu": "1"}),
        MetricRow.build(SLOT, "box", "procs", 311, tags={"host": "a"}),
        MetricRow.build(SLOT, "box", "state", {"text": "ok", "code": 0}, tags=None),
        MetricRow.build(SLOT - timedelta(seconds=5), "box", "late", 1.5),
        MetricRow.build(
            SLOT.astimezone(timezone(timedelta(hours=2))), "box", "zoned", 2.0, tags={"z": "y"}
        ),
    ]
    rows = [replace(row, worker_host="nas") for row in rows]
    return Outcome(
        "box",
        SLOT,
        True,
        rows=rows,
        rejects=[Rejection("bad", "not a number", "x")],
        rejected=1,
        errors=["disk sdb: gone"],
        summary="2 CPUs",
        duration_ms=3.5,
        worker_host="nas",
        attempt=1,
    )


def test_round_trip_keeps_every_row_field_and_series_key() -> None:
    original = sample_outcome()
    decoded = decode_outcome(through_broker(original))
    assert decoded == original
    for before, after in zip(original.rows, decoded.rows, strict=True):
        assert (after.time, after.value, after.numeric_value, after.tags, after.series_key) == (
            before.time,
            before.value,
            before.numeric_value,
            before.tags,
            before.series_key,
        )
        assert type(after.value.get("value")) is type(before.value.get("value"))


def test_plain_float_payloads_are_sent_once_not_twice() -> None:
    encoded = through_broker(sample_outcome())
    rows = encoded["r"]
    assert isinstance(rows, list)
    by_name = {row[1]: row for row in rows}
    assert [row[2:4] for row in rows if row[1] == "cpu"] == [[None, 12.5], [None, 7.25]]
    # An int payload keeps its own value so it decodes as an int, not 311.0.
    assert by_name["procs"][2] == {"value": 311}
    assert by_name["state"][2] == {"text": "ok", "code": 0}


def test_version_1_messages_waiting_in_the_broker_still_decode() -> None:
    original = sample_outcome()
    encoded = through_broker(original)
    encoded["v"] = 1
    for row, source in zip(encoded["r"], original.rows, strict=True):  # type: ignore[call-overload]
        row[2] = source.value  # version 1 always spelled the payload out
    assert decode_outcome(encoded) == original


def test_unknown_encoding_is_refused_by_name() -> None:
    encoded = through_broker(sample_outcome())
    encoded["v"] = 99
    with pytest.raises(ValueError, match="unknown outcome encoding 99"):
        decode_outcome(encoded)


def test_a_row_with_a_broken_payload_is_left_for_the_write_checks() -> None:
    encoded = through_broker(sample_outcome())
    encoded["r"][0][2] = None  # type: ignore[index]
    encoded["r"][0][3] = None  # type: ignore[index]
    decoded = decode_outcome(encoded)
    assert decoded.rows[0].value is None  # check_row refuses it by name at write time
