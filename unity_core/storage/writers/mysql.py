"""MySQL/MariaDB writer: explicit multi-row INSERT … ON DUPLICATE KEY UPDATE no-op chunks.

Why explicit chunks: on MySQL ≥ 8.0.20 SQLAlchemy renders `VALUES (…) AS new ON DUPLICATE
KEY UPDATE …`, which PyMySQL's executemany rewrite does not recognise, silently falling
back to one round trip per row. Building `VALUES (…),(…),…` ourselves keeps every dialect
version at one round trip per chunk.

Why not INSERT IGNORE: IGNORE downgrades *every* ignorable error (bad dates, truncation,
out-of-range numbers, NULL into NOT NULL) to a warning and stores a coerced value; the
no-op `ON DUPLICATE KEY UPDATE` only absorbs duplicate keys and keeps strict mode.

Counting: SQLAlchemy connects with CLIENT_FOUND_ROWS, under which a no-op duplicate counts
as an affected row, so affected rows equal the chunk length whether rows were new or not.
The no-op update therefore bumps a session variable, `@unity_duplicates`, once per row that
hit an existing key; rows inserted = rows sent - duplicates, exact under concurrency
because only this statement's own conflicts are counted.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy.orm import Session

from unity_core.storage.batch import METRIC_COLUMNS, MetricRow, encode_rows
from unity_core.storage.types import utcnow

#: Upper bounds per statement; well under MariaDB's default 16 MiB max_allowed_packet.
CHUNK_ROWS = 500
CHUNK_BYTES = 4 * 1024 * 1024

_METRIC_COLUMNS = ", ".join(f"`{name}`" for name in METRIC_COLUMNS)
_SERIES_COLUMNS = "`series_key`, `plugin_id`, `metric_name`, `tags`, `created_at`"
_COUNT_DUPLICATE = (
    "`series_key` = IF((@unity_duplicates := @unity_duplicates + 1) > 0, "
    "`series_key`, `series_key`)"
)


def _naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def write(session: Session, rows: Sequence[MetricRow], catalog: Sequence[MetricRow]) -> int:
    """Insert prepared rows (checked, unique, sorted) and their series; return rows inserted.

    Idempotent: rows already stored are left untouched and not counted. One statement per
    chunk, all in the session's transaction; never commits. Raises ValueError (before any
    SQL) for an unserialisable value, and SQLAlchemy DBAPIError subclasses on failure.
    """
    if not rows:
        return 0
    metrics = encode_rows(rows, _naive_utc)
    now = utcnow().replace(tzinfo=None)
    tags_of = {m[1]: m[6] for m in metrics}  # serialise each series' tags once
    series = [
        (s.series_key, s.plugin_id, s.metric_name, tags_of[s.series_key], now) for s in catalog
    ]
    connection = session.connection()
    for chunk in _chunks(series, json_at=(3,)):
        connection.exec_driver_sql(_series_sql(len(chunk)), _flat(chunk))
    connection.exec_driver_sql("SET @unity_duplicates = 0")
    for chunk in _chunks(metrics, json_at=(4, 6)):
        connection.exec_driver_sql(_metrics_sql(len(chunk)), _flat(chunk))
    duplicates = connection.exec_driver_sql("SELECT @unity_duplicates").scalar_one()
    return len(metrics) - int(duplicates)


def _chunks(
    rows: list[tuple[Any, ...]], *, json_at: tuple[int, ...]
) -> Iterator[list[tuple[Any, ...]]]:
    """Runs of at most CHUNK_ROWS rows and about CHUNK_BYTES of SQL (JSON dominates size)."""
    chunk: list[tuple[Any, ...]] = []
    size = 0
    for row in rows:
        row_size = 400 + sum(len(row[i] or "") for i in json_at)
        if chunk and (len(chunk) >= CHUNK_ROWS or size + row_size > CHUNK_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(row)
        size += row_size
    if chunk:
        yield chunk


def _flat(chunk: list[tuple[Any, ...]]) -> tuple[Any, ...]:
    return tuple(value for row in chunk for value in row)


@lru_cache(maxsize=64)
def _metrics_sql(count: int) -> str:
    values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s)"] * count)
    # Only fixed identifiers and %s placeholders are formatted in; values are bound.
    return (
        f"INSERT INTO plugin_metrics ({_METRIC_COLUMNS}) VALUES {values} "  # noqa: S608
        f"ON DUPLICATE KEY UPDATE {_COUNT_DUPLICATE}"
    )


@lru_cache(maxsize=64)
def _series_sql(count: int) -> str:
    values = ", ".join(["(%s, %s, %s, %s, %s)"] * count)
    return (
        f"INSERT INTO metric_series ({_SERIES_COLUMNS}) VALUES {values} "  # noqa: S608
        "ON DUPLICATE KEY UPDATE `series_key` = `series_key`"
    )
