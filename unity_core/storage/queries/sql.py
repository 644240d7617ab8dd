"""Portable SQL building blocks for the read API: UTC time buckets and tag filters."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Integer, cast, extract, func, literal, type_coerce
from sqlalchemy import literal_column as sql_keyword
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import InstrumentedAttribute

from unity_core.storage.models import MetricSeries
from unity_core.storage.series import canonical_tags
from unity_core.storage.types import UTCDateTime

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: Characters that cannot appear in a JSON path key portably (MariaDB and SQLite quote
#: the key as `$."key"` and do not escape it).
_BAD_TAG_KEY_CHARS = frozenset('"\\')


def bucket_start_epoch(
    column: ColumnElement[datetime] | InstrumentedAttribute[datetime], seconds: int, dialect: str
) -> ColumnElement[int]:
    """Start of the `seconds`-wide bucket holding `column`, as integer UTC epoch seconds.

    Buckets are aligned on the Unix epoch, so a daily bucket starts at UTC midnight and
    10:59:59.999999 and 11:00:00 fall in different hourly buckets on every dialect. The
    arithmetic never goes through a session time zone: PostgreSQL takes the epoch of the
    timestamptz; MariaDB counts seconds from the epoch in the stored (UTC) DATETIME; SQLite
    parses the whole-second prefix of the stored UTC text (strftime on the full text would
    round sub-millisecond fractions up into the next second).
    """
    width = literal(seconds, Integer)
    if dialect == "postgresql":
        return cast(func.floor(extract("epoch", column) / width) * width, BigInteger)
    if dialect in ("mysql", "mariadb"):
        elapsed = func.timestampdiff(sql_keyword("SECOND"), literal(EPOCH, UTCDateTime()), column)
        return cast(func.floor(elapsed / width) * width, BigInteger)
    if dialect == "sqlite":
        # Integer division of a non-negative integer is floor division in SQLite.
        whole_seconds = cast(func.strftime("%s", func.substr(column, 1, 19)), Integer)
        return (whole_seconds // width) * width
    raise ValueError(f"unsupported dialect {dialect!r}")


def from_epoch(seconds: int | float | Any) -> datetime:
    """An aware UTC datetime from the epoch seconds bucket_start_epoch returns."""
    return datetime.fromtimestamp(int(seconds), UTC)


def tag_conditions(tags: Mapping[str, Any] | None, dialect: str = "") -> list[ColumnElement[bool]]:
    """Equality conditions on metric_series.tags, one per key; keys and values are bound.

    Values are compared as the catalog stores them (canonical strings), so
    {"port": 8080} matches a series tagged {"port": "8080"}. On PostgreSQL the filter is one
    JSONB containment (`tags @> …`), which the catalog's GIN index answers.
    """
    wanted = canonical_tags(tags)
    for key in wanted:
        if not key or _BAD_TAG_KEY_CHARS & set(key):
            raise ValueError(f'tag key {key!r} cannot be filtered on (empty, or contains " or \\)')
    if not wanted:
        return []
    if dialect == "postgresql":
        return [type_coerce(MetricSeries.tags, postgresql.JSONB).contains(wanted)]
    return [MetricSeries.tags[key].as_string() == value for key, value in wanted.items()]


def require_aware(name: str, value: datetime | None) -> None:
    """Raise ValueError unless `value` is None or an aware datetime."""
    if value is not None and value.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime (got naive {value.isoformat()})")
