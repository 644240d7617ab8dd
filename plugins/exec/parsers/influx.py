"""data_format: influx — InfluxDB line protocol, as Telegraf's exec input reads it.

    disk,mount=/srv used=12i,free=3.5e9,healthy=t 1700000000000000000

Each field becomes a gauge named `<measurement>_<field>` tagged with the line's tag set;
integers (`12i`, `12u`), floats, booleans and strings are kept as such; the timestamp is
in nanoseconds. A line that does not parse is reported on its own; the others are kept.
"""

from __future__ import annotations

from datetime import UTC, datetime

from unity_plugins.exec.parsers.result import Parsed, ParseError

from unity_core.plugins.sdk import Metric

__all__ = ["parse"]

_TRUE = {"t", "T", "true", "True", "TRUE"}
_FALSE = {"f", "F", "false", "False", "FALSE"}


def parse(text: str) -> Parsed:
    """Every point of every line; ParseError only when no line at all is line protocol."""
    parsed = Parsed()
    wanted = [
        (number, line)
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip() and not line.lstrip().startswith("#")
    ]
    for number, line in wanted:
        try:
            parsed.metrics.extend(parse_line(line.strip()))
        except ValueError as error:
            parsed.errors.append(f"line {number}: {error}: {line[:120]!r}")
    if wanted and not parsed.metrics:
        raise ParseError(f"no line is line protocol; first problem: {parsed.errors[0]}")
    return parsed


def parse_line(line: str) -> list[Metric]:
    """The metrics of one line; ValueError naming what is wrong with it."""
    measurement, i = _token(line, 0, ", ")
    if not measurement:
        raise ValueError("no measurement name")
    tags: dict[str, str] = {}
    while i < len(line) and line[i] == ",":
        key, i = _token(line, i + 1, "=")
        _expect(line, i, "=", f"tag {key!r} has no value")
        tags[key], i = _token(line, i + 1, ", ")
    _expect(line, i, " ", "no fields")
    i = _skip_spaces(line, i)
    values: dict[str, float | int | bool | str] = {}
    while True:
        key, i = _token(line, i, "=")
        _expect(line, i, "=", f"field {key!r} has no value")
        values[key], i = _field_value(line, i + 1)
        if i < len(line) and line[i] == ",":
            i += 1
            continue
        break
    rest = line[_skip_spaces(line, i) :].strip()
    when = _timestamp(rest) if rest else None
    return [
        Metric(f"{measurement}_{key}", value, dict(tags), when) for key, value in values.items()
    ]


def _token(line: str, i: int, stops: str) -> tuple[str, int]:
    """Characters from i up to an unescaped stop character (backslash escapes one)."""
    out: list[str] = []
    while i < len(line) and line[i] not in stops:
        if line[i] == "\\" and i + 1 < len(line) and line[i + 1] in ',= \\"':
            i += 1
        out.append(line[i])
        i += 1
    return "".join(out), i


def _field_value(line: str, i: int) -> tuple[float | int | bool | str, int]:
    if i < len(line) and line[i] == '"':
        out: list[str] = []
        i += 1
        while i < len(line) and line[i] != '"':
            if line[i] == "\\" and i + 1 < len(line) and line[i + 1] in '"\\':
                i += 1
            out.append(line[i])
            i += 1
        _expect(line, i, '"', "unterminated string field")
        return "".join(out), i + 1
    raw, i = _token(line, i, ", ")
    return _scalar(raw), i


def _scalar(raw: str) -> float | int | bool:
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    try:
        if raw[-1:] in ("i", "u"):
            return int(raw[:-1])
        return float(raw)
    except ValueError:
        raise ValueError(f"field value {raw!r} is not a number, boolean or quoted string") from None


def _timestamp(text: str) -> datetime:
    try:
        nanoseconds = int(text)
    except ValueError:
        raise ValueError(f"timestamp {text!r} is not integer nanoseconds") from None
    return datetime.fromtimestamp(nanoseconds / 1e9, UTC)


def _expect(line: str, i: int, char: str, problem: str) -> None:
    if i >= len(line) or line[i] != char:
        raise ValueError(problem)


def _skip_spaces(line: str, i: int) -> int:
    while i < len(line) and line[i] == " ":
        i += 1
    return i
