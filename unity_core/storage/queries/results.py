"""The value types the read API returns: samples, points, series and range results."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any


class Resolution(StrEnum):
    """Where a range query reads from: raw samples or one of the rollup tables."""

    AUTO = "auto"
    RAW = "raw"
    HOURLY = "hourly"
    DAILY = "daily"


class Aggregate(StrEnum):
    """How the samples of one bucket become one value."""

    AVG = "avg"
    MIN = "min"
    MAX = "max"
    SUM = "sum"
    COUNT = "count"
    LAST = "last"


@dataclass(frozen=True)
class Sample:
    """One stored sample with its series identity; `time` is aware UTC."""

    time: datetime
    plugin_id: str
    metric_name: str
    value: dict[str, Any]
    numeric_value: float | None
    tags: dict[str, str]
    series_key: str
    #: The host whose worker collected this sample (not a tag: not part of the series).
    worker_host: str | None = None


@dataclass(frozen=True)
class Point:
    """One point of a series: a raw sample, or the aggregate of the bucket starting at `time`.

    `value` is the sample's numeric value or the bucket's aggregate (a count is a float
    too); `data` is the stored JSON value, present for unbucketed raw points only.
    """

    time: datetime
    value: float | None
    data: dict[str, Any] | None = None


@dataclass(frozen=True)
class SeriesPoints:
    """The points of one series, oldest first."""

    series_key: str
    plugin_id: str
    metric_name: str
    tags: dict[str, str]
    points: tuple[Point, ...]


@dataclass(frozen=True)
class RangeResult:
    """What range_query found, and how: the resolution read and the bucket width used.

    `bucket` is None for unbucketed raw samples. When `limit` cut the result short,
    `truncated` is True and `next_start` is the `start` that continues exactly where this
    page ends (no point is repeated or skipped).
    """

    plugin_id: str
    metric_name: str
    start: datetime
    end: datetime
    resolution: Resolution
    bucket: timedelta | None
    agg: Aggregate
    series: tuple[SeriesPoints, ...]
    truncated: bool = False
    next_start: datetime | None = None

    @property
    def point_count(self) -> int:
        """The number of points over all series."""
        return sum(len(s.points) for s in self.series)
