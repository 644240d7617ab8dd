"""Choosing where a range query reads from and how wide its buckets are (pure, no I/O)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from unity_core.storage.queries.results import Aggregate, Resolution
from unity_core.storage.queries.sql import require_aware

_E = TypeVar("_E", Resolution, Aggregate)

#: Spans up to this long read raw samples when resolution is "auto".
RAW_MAX_SPAN = timedelta(days=2)
#: Spans up to this long read the hourly rollup when resolution is "auto"; longer ones daily.
HOURLY_MAX_SPAN = timedelta(days=90)
#: "auto" picks a bucket so that no series gets more points than this.
MAX_POINTS_PER_SERIES = 2_000

GRANULARITY = {
    Resolution.RAW: timedelta(seconds=1),
    Resolution.HOURLY: timedelta(hours=1),
    Resolution.DAILY: timedelta(days=1),
}
#: Bucket widths "auto" chooses from, smallest first; wider spans use whole days.
NICE_BUCKETS = tuple(
    timedelta(seconds=s)
    for s in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600)
) + tuple(timedelta(hours=h) for h in (12, 24, 48, 168, 336, 720))


@dataclass(frozen=True)
class Plan:
    """The resolution to read and the bucket width (None: raw samples, unaggregated)."""

    resolution: Resolution
    bucket: timedelta | None
    agg: Aggregate

    @property
    def bucket_seconds(self) -> int | None:
        return None if self.bucket is None else int(self.bucket.total_seconds())


def make_plan(
    start: datetime,
    end: datetime,
    resolution: Resolution | str,
    agg: Aggregate | str,
    bucket: timedelta | None,
) -> Plan:
    """Validate the request and decide resolution and bucket; ValueError says what is wrong."""
    require_aware("start", start)
    require_aware("end", end)
    if end <= start:
        raise ValueError(f"end ({end.isoformat()}) must be after start ({start.isoformat()})")
    chosen = _parse(Resolution, resolution, "resolution")
    how = _parse(Aggregate, agg, "agg")
    if bucket is not None and (bucket <= timedelta(0) or bucket % timedelta(seconds=1)):
        raise ValueError(f"bucket must be a positive whole number of seconds, got {bucket}")
    if chosen is Resolution.AUTO:
        return _auto(end - start, how, bucket)
    if chosen is Resolution.RAW:
        return Plan(chosen, bucket, how)
    width = GRANULARITY[chosen]
    if bucket is None:
        return Plan(chosen, width, how)
    if bucket % width:
        raise ValueError(f"a {chosen.value} bucket must be a multiple of {width}, got {bucket}")
    return Plan(chosen, bucket, how)


def _auto(span: timedelta, agg: Aggregate, bucket: timedelta | None) -> Plan:
    if span <= RAW_MAX_SPAN:
        chosen = Resolution.RAW
    elif span <= HOURLY_MAX_SPAN:
        chosen = Resolution.HOURLY
    else:
        chosen = Resolution.DAILY
    if bucket is not None:
        # An explicit bucket finer than the rollup's granularity needs finer data.
        while chosen is not Resolution.RAW and bucket % GRANULARITY[chosen]:
            chosen = Resolution.HOURLY if chosen is Resolution.DAILY else Resolution.RAW
        return Plan(chosen, bucket, agg)
    return Plan(chosen, choose_bucket(span, GRANULARITY[chosen]), agg)


def choose_bucket(span: timedelta, minimum: timedelta) -> timedelta:
    """The narrowest nice multiple of `minimum` giving at most MAX_POINTS_PER_SERIES buckets.

    Buckets are epoch-aligned, so a span can touch one more bucket than span / width;
    the width is chosen with that extra bucket counted.
    """
    for width in NICE_BUCKETS:
        if (
            width >= minimum
            and not width % minimum
            and _buckets(span, width) <= MAX_POINTS_PER_SERIES
        ):
            return width
    days = math.ceil(span / timedelta(days=1) / (MAX_POINTS_PER_SERIES - 1))
    width = timedelta(days=days)
    while _buckets(span, width) > MAX_POINTS_PER_SERIES:
        width += timedelta(days=1)
    return width


def _buckets(span: timedelta, width: timedelta) -> int:
    return math.ceil(span / width) + 1


def _parse(kind: type[_E], value: _E | str, name: str) -> _E:
    try:
        return kind(value)
    except ValueError:
        choices = ", ".join(member.value for member in kind)
        raise ValueError(f"{name} must be one of {choices}; got {value!r}") from None
