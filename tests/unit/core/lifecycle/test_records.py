"""The export file format read line by line: both formats, and damage named by line."""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, datetime

import pytest

from unity_core.lifecycle.transfer.records import (
    ExportFileError,
    Record,
    Writer,
    decode_row,
    encode_row,
    read_records,
)

ROW = {"series_key": "a" * 32, "time": "2025-03-10T10:00:00+00:00", "plugin_id": "system"}


def exported(fmt: str, rows: int = 3) -> str:
    stream = io.StringIO()
    writer = Writer(stream, fmt)
    writer.record({"unity_export": 1, "format": fmt})
    for _ in range(rows):
        writer.record({"table": "plugin_metrics", "row": ROW})
    writer.close({"counts": {"plugins": 0, "plugin_metrics": rows}})
    return stream.getvalue()


def read(text: str) -> list[object]:
    return list(read_records(io.StringIO(text), "unity.jsonl"))


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_both_formats_read_back_their_records(fmt: str) -> None:
    # Given a file of three rows in either format
    text = exported(fmt)
    # When it is read
    header, *rows = read(text)
    # Then the header and the rows come back with their line numbers
    assert header == {"unity_export": 1, "format": fmt}
    assert (
        [r.line for r in rows if isinstance(r, Record)] == [3, 4, 5] if fmt == "json" else [2, 3, 4]
    )
    if fmt == "json":
        assert len(json.loads(text)) == 5  # the json format is one valid JSON array


@pytest.mark.parametrize(
    ("damage", "line", "message"),
    [
        (lambda lines: lines[:3], 3, "truncated"),
        (lambda lines: [*lines[:2], lines[2][:9]], 3, "not valid JSON"),
        (lambda lines: [lines[0], '{"table": "nope", "row": {}}\n', *lines[1:]], 2, "known table"),
        (lambda lines: lines[1:], 1, "not a Unity export"),
        (lambda lines: [*lines[:-1], '{"end": {"counts": {"plugin_metrics": 9}}}\n'], 5, "differ"),
        (
            lambda lines: [lines[0], '{"table": "plugin_metrics", "row": {"bogus": 1}}\n'],
            2,
            "bogus",
        ),
        (lambda lines: [], 1, "empty file"),
    ],
)
def test_damage_is_reported_with_its_line(damage: object, line: int, message: str) -> None:
    # Given a jsonl export damaged in one way
    lines = exported("jsonl").splitlines(keepends=True)
    text = "".join(damage(lines))  # type: ignore[operator]
    # When it is read, Then the error names the file, the line and the problem
    with pytest.raises(ExportFileError, match=message) as caught:
        read(text)
    assert str(caught.value).startswith(f"unity.jsonl:{line}:")


def test_rows_round_trip_through_json_values() -> None:
    # Given a row with an aware time and a UUID
    when = datetime(2025, 3, 10, 10, 0, 0, 123456, tzinfo=UTC)
    ident = uuid.uuid4()
    encoded = encode_row(
        ["id", "time", "alert_id", "triggered", "value"], (ident, when, ident, True, {"v": 1.5})
    )
    # When it is encoded to JSON and decoded for the table
    decoded = decode_row("alert_history", json.loads(json.dumps(encoded)))
    # Then every value is what the database gave
    assert decoded == {
        "id": ident,
        "time": when,
        "alert_id": ident,
        "triggered": True,
        "value": {"v": 1.5},
    }
