"""The row shape the write path accepts, and the checks and de-duplication done before SQL."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any

from unity_core.storage.series import canonical_tags, series_key_of_canonical

#: plugin_metrics columns in the order every writer sends them.
METRIC_COLUMNS = (
    "time",
    "series_key",
    "plugin_id",
    "metric_name",
    "value",
    "numeric_value",
    "tags",
    "worker_host",
)


# Built once: json.dumps with non-default options constructs a new encoder on every call.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


@dataclass(frozen=True, slots=True)
class MetricRow:
    """One sample on its way to `plugin_metrics`.

    `tags` are canonicalised on construction (sorted, values as strings; empty becomes None,
    since None and {} name the same series) and `series_key` is computed once from
    (plugin_id, metric_name, tags). Values are not validated here: `check_row` is the last
    guard and runs in `write_batch`. Hashable (the dicts are left out of the hash).
    """

    time: datetime
    plugin_id: str
    metric_name: str
    value: dict[str, Any] = field(hash=False)
    numeric_value: float | None = None
    tags: dict[str, str] | None = field(default=None, hash=False)
    #: The host whose worker collected the sample: stored with it, never part of its series
    #: (a slot redelivered to another host must hit the same key; README "Scaling out").
    worker_host: str | None = field(default=None, hash=False)
    series_key: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        tags = canonical_tags(self.tags) or None
        object.__setattr__(self, "tags", tags)
        key = series_key_of_canonical(self.plugin_id, self.metric_name, tags or {})
        object.__setattr__(self, "series_key", key)

    @classmethod
    def trusted(
        cls,
        time: datetime,
        plugin_id: str,
        metric_name: str,
        value: dict[str, Any],
        numeric_value: float | None,
        tags: dict[str, str] | None,
        series_key: str,
        worker_host: str | None = None,
    ) -> MetricRow:
        """A row from parts that are canonical already (tags sorted strings or None, key given).

        For decoding rows this code encoded itself, thousands per batch: skipping
        canonicalisation and hashing there halves decode time. Anything else uses the
        normal constructor.
        """
        row = object.__new__(cls)
        setattr_ = object.__setattr__
        setattr_(row, "time", time)
        setattr_(row, "plugin_id", plugin_id)
        setattr_(row, "metric_name", metric_name)
        setattr_(row, "value", value)
        setattr_(row, "numeric_value", numeric_value)
        setattr_(row, "tags", tags)
        setattr_(row, "worker_host", worker_host)
        setattr_(row, "series_key", series_key)
        return row

    @classmethod
    def build(
        cls,
        time: datetime,
        plugin_id: str,
        metric_name: str,
        value: Mapping[str, Any] | float | int | str | None,
        *,
        tags: Mapping[str, Any] | None = None,
        numeric_value: float | None = None,
        worker_host: str | None = None,
    ) -> MetricRow:
        """A row from a plugin's raw output.

        A bare number becomes `{"value": n}` with `numeric_value = n` unless one is given;
        a mapping is stored as is (copied). Raises ValueError for a naive `time`.
        """
        if time.tzinfo is None or time.utcoffset() is None:
            raise ValueError(
                f"{plugin_id}/{metric_name}: naive time {time.isoformat()}; give an aware datetime"
            )
        if isinstance(value, Mapping):
            payload = dict(value)
        else:
            payload = {"value": value}
            if (
                numeric_value is None
                and isinstance(value, int | float)
                and not isinstance(value, bool)
            ):
                numeric_value = float(value)
        return cls(
            time,
            plugin_id,
            metric_name,
            payload,
            numeric_value,
            dict(tags) if tags else None,
            worker_host,
        )

    @property
    def key(self) -> tuple[str, datetime]:
        """The dedup key: (series_key, time); equal instants in different zones are equal."""
        return (self.series_key, self.time)


def check_row(row: MetricRow) -> None:
    """Raise ValueError naming plugin and metric unless `row` can be stored as given.

    Checks: aware `time`; `value` a dict; `numeric_value` None or a finite number
    (NaN/inf have no portable SQL representation and would poison aggregates).
    """
    where = f"{row.plugin_id}/{row.metric_name}"
    if (
        not isinstance(row.time, datetime)
        or row.time.tzinfo is None
        or row.time.utcoffset() is None
    ):
        raise ValueError(f"{where}: time must be an aware datetime, got {row.time!r}")
    if not isinstance(row.value, dict):
        raise ValueError(f"{where}: value must be a dict, got {type(row.value).__name__}")
    number = row.numeric_value
    if number is not None:
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise ValueError(f"{where}: numeric_value must be a float or None, got {number!r}")
        if not math.isfinite(number):
            raise ValueError(f"{where}: numeric_value must be finite, got {number!r}")


def prepare(rows: Iterable[MetricRow]) -> list[MetricRow]:
    """Checked rows, first occurrence of each dedup key kept, sorted by (time, series_key).

    The fixed order makes concurrent writers of overlapping batches take row locks in the
    same order, so redelivered batches racing each other wait instead of deadlocking.
    """
    unique: dict[tuple[str, datetime], MetricRow] = {}
    for row in rows:
        # Fast path for the usual shape (UTC time, float or None); anything else gets the
        # full check, which explains what is wrong or accepts it (e.g. an int, +02:00).
        number = row.numeric_value
        if not (
            type(row.time) is datetime
            and row.time.tzinfo is UTC
            and type(row.value) is dict
            and (number is None or (type(number) is float and number - number == 0.0))
        ):
            check_row(row)
        unique.setdefault((row.series_key, row.time), row)
    # Aware datetimes compare as instants whatever their zones.
    return sorted(unique.values(), key=attrgetter("time", "series_key"))


def distinct_series(rows: Iterable[MetricRow]) -> list[MetricRow]:
    """One representative row per series, sorted by series_key (catalog lock order)."""
    seen: dict[str, MetricRow] = {}
    for row in rows:
        seen.setdefault(row.series_key, row)
    return sorted(seen.values(), key=attrgetter("series_key"))


def value_json(row: MetricRow) -> str:
    """`row.value` as compact JSON text; ValueError naming plugin/metric if it has none.

    NaN and infinities are refused here too: PostgreSQL's jsonb and MariaDB's JSON_VALID
    reject them, and SQLite would store text no other database could read back.
    """
    value = row.value
    if len(value) == 1:
        # The usual payload, {"value": <float>}: json.dumps writes floats with repr(), so
        # this is the same text at a fraction of the cost (the encoder is ~2 µs per row).
        number = value.get("value")
        if type(number) is float and number - number == 0.0:
            return '{"value":' + repr(number) + "}"
    try:
        return _ENCODER.encode(value)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"{row.plugin_id}/{row.metric_name}: value is not JSON-serialisable: {error}"
        ) from None


def tags_json(row: MetricRow) -> str | None:
    """`row.tags` (already canonical strings) as compact JSON text, or None."""
    if row.tags is None:
        return None
    return _ENCODER.encode(row.tags)


#: A row as every writer sends it, in METRIC_COLUMNS order (time as the writer needs it).
EncodedRow = tuple[Any, str, str, str, str, float | None, str | None, str | None]
_UNSEEN: Any = object()


def encode_rows(
    rows: Sequence[MetricRow], time_of: Callable[[datetime], Any] | None = None
) -> list[EncodedRow]:
    """The rows as SQL parameters: value and tags as JSON text, time through `time_of`.

    Rows of one collection share their tag dicts (decode_outcome builds one per tag set),
    so each set is serialised once per batch; ids stay valid while `rows` holds them.
    Raises ValueError (before any SQL) for a value that is not JSON-serialisable.
    """
    tags_text: dict[int, str | None] = {}
    encoded: list[EncodedRow] = []
    for r in rows:
        tags = r.tags
        text = tags_text.get(id(tags), _UNSEEN)
        if text is _UNSEEN:
            text = tags_text[id(tags)] = tags_json(r)
        when = r.time if time_of is None else time_of(r.time)
        encoded.append(
            (
                when,
                r.series_key,
                r.plugin_id,
                r.metric_name,
                value_json(r),
                r.numeric_value,
                text,
                r.worker_host,
            )
        )
    return encoded
