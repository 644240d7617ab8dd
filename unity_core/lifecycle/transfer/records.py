"""The export file format: one JSON record per line, in `jsonl` or as one `json` array.

    {"unity_export": 1, "format": "jsonl", "created_at": …, "tables": [...], "filters": {…}}
    {"table": "plugins", "row": {…}}
    …
    {"end": {"counts": {"plugins": 3, …}}}

The `json` format holds the same records as one JSON array, `[` and `]` on lines of their
own and one record per line with a trailing comma, so the whole file is valid JSON and
still streams line by line. The closing `end` record is how a truncated file is told from
a complete one. Tables come in foreign-key order, so an import that stops part-way leaves
only rows whose parents are already there.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from sqlalchemy import Table

from unity_core.errors import UnityError
from unity_core.storage.models import Base
from unity_core.storage.types import UTCDateTime

VERSION = 1
FORMATS = ("json", "jsonl")
#: Exported tables, parents before children.
TABLES = (
    "plugins",
    "plugin_status",
    "alerts",
    "alert_history",
    "metric_series",
    "plugin_metrics",
    "plugin_metrics_hourly",
    "plugin_metrics_daily",
)


class ExportFileError(UnityError):
    """An export file cannot be read; the message names the file and the line."""

    def __init__(self, path: str, line: int, problem: str) -> None:
        self.path = path
        self.line = line
        super().__init__(f"{path}:{line}: {problem}")


def table(name: str) -> Table:
    return Base.metadata.tables[name]


def encode_row(columns: list[str], values: tuple[Any, ...]) -> dict[str, Any]:
    """A database row as JSON-ready values: aware ISO 8601 times, UUIDs as strings."""
    row: dict[str, Any] = {}
    for name, value in zip(columns, values, strict=True):
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, uuid.UUID):
            value = str(value)
        row[name] = value
    return row


def decode_row(name: str, row: dict[str, Any]) -> dict[str, Any]:
    """Values from the file converted back to what the table's column types bind."""
    columns = table(name).c
    decoded: dict[str, Any] = {}
    for key, value in row.items():
        column = columns[key]
        if value is not None and isinstance(column.type, UTCDateTime):
            value = datetime.fromisoformat(value)
        elif value is not None and column.type.__class__.__name__ == "Uuid":
            value = uuid.UUID(str(value))
        decoded[key] = value
    return decoded


class Writer:
    """Writes records in either format to an open text stream."""

    def __init__(self, stream: IO[str], fmt: str) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}; got {fmt!r}")
        self.stream = stream
        self.fmt = fmt
        if fmt == "json":
            stream.write("[\n")

    def record(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, separators=(",", ":"), ensure_ascii=False)
        self.stream.write(line + (",\n" if self.fmt == "json" else "\n"))

    def close(self, end: dict[str, Any]) -> None:
        line = json.dumps({"end": end}, separators=(",", ":"))
        self.stream.write(line + "\n" + ("]\n" if self.fmt == "json" else ""))


@dataclass(frozen=True)
class Record:
    line: int
    table: str
    row: dict[str, Any]


def read_records(stream: IO[str], path: str) -> Iterator[Record | dict[str, Any]]:
    """Yield the header (a dict), then each row Record; check the end record and counts.

    Raises ExportFileError naming the line for anything malformed, and for a file that
    stops before its end record (truncated).
    """
    number = 0
    is_array = False
    header: dict[str, Any] | None = None
    seen: dict[str, int] = {}
    ended = False
    for number, raw in enumerate(stream, start=1):
        text = raw.strip()
        if number == 1 and text == "[":
            is_array = True
            continue
        if not text:
            continue
        if ended:
            if is_array and text == "]":
                is_array = False
                continue
            raise ExportFileError(path, number, "unexpected content after the end record")
        if is_array and text.endswith(","):
            text = text[:-1]
        try:
            record = json.loads(text)
        except json.JSONDecodeError as error:
            raise ExportFileError(
                path, number, f"not valid JSON ({error.msg} at column {error.colno})"
            ) from None
        if not isinstance(record, dict):
            raise ExportFileError(path, number, "expected a JSON object")
        if header is None:
            if record.get("unity_export") != VERSION:
                raise ExportFileError(
                    path, number, f"not a Unity export (version {VERSION} header missing)"
                )
            header = record
            yield header
            continue
        if "end" in record:
            _check_counts(path, number, record["end"], seen)
            ended = True
            continue
        name, row = record.get("table"), record.get("row")
        if name not in TABLES or not isinstance(row, dict):
            raise ExportFileError(path, number, f"expected a row of a known table, got {text[:80]}")
        unknown = set(row) - set(table(name).c.keys())
        if unknown:
            raise ExportFileError(path, number, f"{name} has no column(s) {sorted(unknown)}")
        seen[name] = seen.get(name, 0) + 1
        yield Record(number, name, row)
    if header is None:
        raise ExportFileError(path, max(number, 1), "empty file: no Unity export header")
    if not ended or is_array:
        raise ExportFileError(path, number, "the file ends without its end record: it is truncated")


def _check_counts(path: str, line: int, end: Any, seen: dict[str, int]) -> None:
    counts = end.get("counts") if isinstance(end, dict) else None
    if not isinstance(counts, dict):
        raise ExportFileError(path, line, "the end record has no counts")
    expected = {k: v for k, v in counts.items() if v}
    if expected != seen:
        raise ExportFileError(
            path, line, f"row counts differ from the end record: file {seen}, expected {expected}"
        )
