"""Transform: UTC sample times keyed on the slot, standard unit names, the stored value shape."""

from __future__ import annotations

from datetime import UTC, timedelta, timezone

from unity_core.pipeline import Pipeline, standard_unit
from unity_core.plugins.sdk import Collection

from .helpers import SLOT, Declared, Dynamic, context, counter, gauge, run

PLUS_TWO = timezone(timedelta(hours=2))


def test_a_metric_without_a_time_is_sampled_at_the_slot() -> None:
    # Given a metric with no time of its own
    [row] = run([gauge("temperature", 20.0)]).rows
    # Then its sample time is the scheduled slot, in UTC
    assert row.time == SLOT
    assert row.time.tzinfo is UTC


def test_two_runs_of_the_same_slot_produce_the_same_dedup_keys() -> None:
    # Given the same slot collected twice (a redelivery), with different readings
    first = run([gauge("temperature", 20.0), gauge("cpu_percent", 5, tags={"cpu": "0"})])
    second = run([gauge("temperature", 20.5), gauge("cpu_percent", 7, tags={"cpu": "0"})])
    # Then both runs key their rows identically, so storage keeps only the first
    assert [r.key for r in first.rows] == [r.key for r in second.rows]


def test_an_explicit_time_is_converted_to_utc() -> None:
    # Given a metric timed in UTC+02:00
    local = (SLOT - timedelta(minutes=1)).astimezone(PLUS_TWO)
    [row] = run([gauge("temperature", 20.0, time=local)]).rows
    # Then the stored time is the same instant in UTC
    assert row.time == local
    assert row.time.tzinfo is UTC
    assert row.time.hour == 11


def test_a_slot_given_in_another_zone_is_stored_in_utc() -> None:
    # Given a collection whose slot is expressed in UTC+02:00
    collection = Collection("declared", SLOT.astimezone(PLUS_TWO), [gauge("temperature", 1.0)])
    [row] = Pipeline().process(collection, Declared, context()).rows
    # Then rows carry the slot in UTC
    assert row.time == SLOT
    assert row.time.tzinfo is UTC


def test_the_declared_unit_wins_and_is_standardised() -> None:
    # Given metrics declared in "%" and "B" but reported with other units
    result = run([gauge("cpu_percent", 5.0, unit="ratio"), counter("bytes_sent", 10, unit="kB")])
    # Then the declared units are stored under their standard names
    assert [r.value["unit"] for r in result.rows] == ["percent", "bytes"]


def test_a_reported_unit_is_standardised_when_none_is_declared() -> None:
    # Given a dynamic plugin reporting units by their short names
    result = run(
        [gauge("load", 0.5, unit="%"), gauge("size", 3, unit="B"), gauge("t", 9, unit="ms")],
        plugin=Dynamic,
    )
    # Then aliases become standard names; unknown ones (ms) are kept, values untouched
    assert [(r.value["unit"], r.value["value"]) for r in result.rows] == [
        ("percent", 0.5),
        ("bytes", 3),
        ("ms", 9),
    ]


def test_standard_unit_leaves_unknown_names_alone() -> None:
    assert standard_unit("%") == "percent"
    assert standard_unit("°C") == "celsius"
    assert standard_unit("furlongs") == "furlongs"


def test_scalars_are_stored_with_their_type_and_unit() -> None:
    # Given a gauge with a unit, a counter with a unit and a gauge without one
    result = run([gauge("temperature", 21), counter("bytes_sent", 7), gauge("state", "ok")])
    # Then each stored value says what it is
    assert [r.value for r in result.rows] == [
        {"value": 21, "type": "gauge", "unit": "celsius"},
        {"value": 7, "type": "counter", "unit": "bytes"},
        {"value": "ok", "type": "gauge"},
    ]


def test_numbers_and_flags_get_a_float_numeric_value_and_text_gets_none() -> None:
    # Given an int, a float, a flag and a text
    result = run(
        [
            gauge("temperature", 21),
            gauge("cpu_percent", 2.5),
            gauge("up", False),
            gauge("state", "x"),
        ]
    )
    # Then numeric_value is a float for the first three and None for the text
    numerics = [r.numeric_value for r in result.rows]
    assert numerics == [21.0, 2.5, 0.0, None]
    assert all(type(n) is float for n in numerics[:3])


def test_a_mapping_value_is_stored_as_given_with_its_numeric_reading() -> None:
    # Given a mapping with a numeric_value key
    value = {"running": 12, "stopped": 3, "numeric_value": 12}
    [row] = run([gauge("containers", value)]).rows
    # Then the mapping is the stored value and numeric_value comes from it
    assert row.value == value
    assert row.numeric_value == 12.0
