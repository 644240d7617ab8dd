"""range_query(): raw, raw bucketed and rollup reads, on all three databases."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, insert
from sqlalchemy.orm import Session

from unity_core.storage.models import Base
from unity_core.storage.partitions import ensure_partitions
from unity_core.storage.queries import (
    MAX_POINTS_PER_SERIES,
    RangeResult,
    Resolution,
    range_query,
)
from unity_core.storage.series import canonical_tags, series_key

T0 = datetime(2025, 3, 10, 10, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
NAS = {"host": "nas"}
PI = {"host": "pi"}
Raw = tuple[Mapping[str, str] | None, datetime, float | None]


def insert_raw(engine: Engine, samples: Iterable[Raw], metric: str = "cpu_percent") -> None:
    """Catalog rows and samples of plugin "system", inserted with plain Core."""
    series: dict[str, dict[str, Any]] = {}
    rows: list[dict[str, Any]] = []
    for tags, time, value in samples:
        key = series_key("system", metric, tags)
        canonical = canonical_tags(tags) or None
        series[key] = {"series_key": key, "plugin_id": "system", "metric_name": metric}
        series[key]["tags"] = canonical
        rows.append(
            {
                "time": time,
                "series_key": key,
                "plugin_id": "system",
                "metric_name": metric,
                "value": {"v": value},
                "numeric_value": value,
                "tags": canonical,
            }
        )
    with engine.begin() as conn:
        ensure_partitions(conn, {row["time"].astimezone(UTC).date() for row in rows})
        conn.execute(insert(Base.metadata.tables["metric_series"]), list(series.values()))
        conn.execute(insert(Base.metadata.tables["plugin_metrics"]), rows)


def rollup_rows(samples: Iterable[Raw], width: timedelta) -> list[dict[str, Any]]:
    """What a correct rollup job writes for `samples`, computed in plain Python."""
    groups: dict[tuple[str, datetime], list[tuple[datetime, float]]] = {}
    tags_of: dict[str, dict[str, str] | None] = {}
    for tags, time, value in samples:
        if value is None:
            continue
        key = series_key("system", "cpu_percent", tags)
        tags_of[key] = canonical_tags(tags) or None
        seconds = int(width.total_seconds())
        start = datetime.fromtimestamp(int(time.timestamp()) // seconds * seconds, UTC)
        groups.setdefault((key, start), []).append((time, value))
    rows = []
    for (key, bucket), points in groups.items():
        values = [v for _, v in points]
        rows.append(
            {
                "bucket": bucket,
                "series_key": key,
                "plugin_id": "system",
                "metric_name": "cpu_percent",
                "tags": tags_of[key],
                "avg_value": math.fsum(values) / len(values),
                "min_value": min(values),
                "max_value": max(values),
                "sum_value": math.fsum(values),
                "last_value": max(points)[1],
                "sample_count": len(values),
            }
        )
    return rows


def insert_rollup(engine: Engine, table: str, samples: list[Raw], width: timedelta) -> None:
    series = {
        series_key("system", "cpu_percent", tags): canonical_tags(tags) or None
        for tags, _, _ in samples
    }
    with engine.begin() as conn:
        catalog = [
            {"series_key": k, "plugin_id": "system", "metric_name": "cpu_percent", "tags": t}
            for k, t in series.items()
        ]
        conn.execute(insert(Base.metadata.tables["metric_series"]), catalog)
        conn.execute(insert(Base.metadata.tables[table]), rollup_rows(samples, width))


def query(engine: Engine, **kwargs: Any) -> RangeResult:
    arguments: dict[str, Any] = {"plugin_id": "system", "metric_name": "cpu_percent"}
    with Session(engine) as session:
        return range_query(session, **(arguments | kwargs))


def points(result: RangeResult, tags: Mapping[str, str] = NAS) -> list[tuple[datetime, Any]]:
    [series] = [s for s in result.series if s.tags == dict(tags)]
    return [(p.time, p.value) for p in series.points]


def test_raw_resolution_without_bucket_returns_the_samples(engine: Engine) -> None:
    # Given three samples of one series, one of them outside the range
    insert_raw(engine, [(NAS, T0, 1.0), (NAS, T0 + HOUR, 2.5), (NAS, T0 + 2 * HOUR, 9.0)])
    # When we read raw samples from T0 up to (excluding) T0 + 2h
    result = query(engine, start=T0, end=T0 + 2 * HOUR, resolution="raw")
    # Then both samples come back as they were stored, oldest first, with their JSON value
    assert result.resolution is Resolution.RAW
    assert result.bucket is None
    assert points(result) == [(T0, 1.0), (T0 + HOUR, 2.5)]
    assert [p.data for p in result.series[0].points] == [{"v": 1.0}, {"v": 2.5}]
    assert result.series[0].tags == NAS


def test_samples_either_side_of_an_hour_fall_in_different_utc_buckets(engine: Engine) -> None:
    # Given samples just before and exactly at 11:00 UTC, and just before/at UTC midnight
    eleven = datetime(2025, 3, 10, 11, 0, tzinfo=UTC)
    midnight = datetime(2025, 3, 11, 0, 0, tzinfo=UTC)
    insert_raw(
        engine,
        [
            (NAS, eleven - timedelta(seconds=1), 1.0),
            (NAS, eleven - timedelta(microseconds=1), 2.0),
            (NAS, eleven, 10.0),
            (NAS, midnight - timedelta(microseconds=1), 5.0),
            (NAS, midnight, 7.0),
        ],
    )
    # When we bucket raw samples hourly and daily (counting samples per bucket)
    hourly = query(
        engine, start=eleven - HOUR, end=midnight + HOUR, resolution="raw", bucket=HOUR, agg="count"
    )
    daily = query(engine, start=eleven - HOUR, end=midnight + HOUR, resolution="raw", bucket=DAY)
    # Then 10:59:59(.999999) and 11:00:00 land in different hours, and days split at 00:00 UTC
    assert points(hourly) == [
        (eleven - HOUR, 2.0),
        (eleven, 1.0),
        (midnight - HOUR, 1.0),
        (midnight, 1.0),
    ]
    assert points(daily) == [(midnight - DAY, 4.5), (midnight, 7.0)]
    assert all(t.tzinfo is UTC for t, _ in points(daily))


def test_each_aggregate_over_raw_buckets(engine: Engine) -> None:
    # Given four samples in one hour, one without a numeric value, and one in the next hour
    insert_raw(
        engine,
        [
            (NAS, T0 + timedelta(minutes=5), 4.0),
            (NAS, T0 + timedelta(minutes=10), 1.0),
            (NAS, T0 + timedelta(minutes=50), 7.0),
            (NAS, T0 + timedelta(minutes=55), None),
            (NAS, T0 + timedelta(minutes=65), 3.0),
        ],
    )
    expected = {"avg": 4.0, "min": 1.0, "max": 7.0, "sum": 12.0, "count": 3.0, "last": 7.0}
    for agg, value in expected.items():
        # When we bucket them hourly with each aggregate
        result = query(engine, start=T0, end=T0 + 2 * HOUR, resolution="raw", bucket=HOUR, agg=agg)
        # Then the first hour's value ignores the non-numeric sample
        assert points(result)[0] == (T0, value), agg
        assert points(result)[1][0] == T0 + HOUR, agg


def test_hourly_and_daily_resolutions_read_the_rollups(engine: Engine) -> None:
    # Given hourly and daily rollup rows (and no raw samples at all)
    samples: list[Raw] = [(NAS, T0 + i * timedelta(minutes=20), float(i)) for i in range(9)]
    insert_rollup(engine, "plugin_metrics_hourly", samples, HOUR)
    day_samples: list[Raw] = [(PI, T0 + i * timedelta(hours=7), float(i)) for i in range(8)]
    insert_rollup(engine, "plugin_metrics_daily", day_samples, DAY)
    # When we read each resolution
    hourly = query(engine, start=T0, end=T0 + 3 * HOUR, resolution="hourly", agg="max")
    daily = query(engine, start=T0 - 10 * HOUR, end=T0 + 3 * DAY, resolution="daily", agg="count")
    # Then the rollup rows come back as points at their bucket starts
    assert (hourly.resolution, hourly.bucket) == (Resolution.HOURLY, HOUR)
    assert points(hourly) == [(T0, 2.0), (T0 + HOUR, 5.0), (T0 + 2 * HOUR, 8.0)]
    assert (daily.resolution, daily.bucket) == (Resolution.DAILY, DAY)
    day0 = T0 - 10 * HOUR
    assert points(daily, PI) == [(day0, 2.0), (day0 + DAY, 4.0), (day0 + 2 * DAY, 2.0)]


def test_rebucketing_a_rollup_recombines_averages_from_sums_and_counts(engine: Engine) -> None:
    # Given one hour with a single sample of 10 and the next with three samples of 0
    samples: list[Raw] = [(NAS, T0, 10.0)]
    samples += [(NAS, T0 + HOUR + timedelta(minutes=m), 0.0) for m in (1, 2, 3)]
    insert_rollup(engine, "plugin_metrics_hourly", samples, HOUR)
    # When we read the hourly rollup in 2-hour buckets
    result = query(engine, start=T0, end=T0 + 2 * HOUR, resolution="hourly", bucket=2 * HOUR)
    last = query(
        engine, start=T0, end=T0 + 2 * HOUR, resolution="hourly", bucket=2 * HOUR, agg="last"
    )
    # Then the average is 10 / 4 (not the average of averages, 5), and last is the newest
    assert points(result) == [(T0, 2.5)]
    assert points(last) == [(T0, 0.0)]


def test_auto_resolution_follows_the_span(engine: Engine) -> None:
    # Given one raw sample, one hourly and one daily rollup row for the same series
    insert_raw(engine, [(NAS, T0, 1.0)])
    with engine.begin() as conn:
        for table in ("plugin_metrics_hourly", "plugin_metrics_daily"):
            rows = rollup_rows([(NAS, T0, 2.0 if "hourly" in table else 3.0)], HOUR)
            rows[0]["bucket"] = T0 - timedelta(hours=10)  # UTC midnight: valid for both
            conn.execute(insert(Base.metadata.tables[table]), rows)
    # When we ask "auto" over 1 day, 30 days and 400 days
    one_day = query(engine, start=T0 - 12 * HOUR, end=T0 + 12 * HOUR)
    month = query(engine, start=T0 - 15 * DAY, end=T0 + 15 * DAY)
    long = query(engine, start=T0 - 200 * DAY, end=T0 + 200 * DAY)
    # Then the short span reads raw data, the month hourly rollups, the long span daily ones
    assert (one_day.resolution, one_day.bucket) == (Resolution.RAW, timedelta(minutes=1))
    assert [v for _, v in points(one_day)] == [1.0]
    assert (month.resolution, month.bucket) == (Resolution.HOURLY, HOUR)
    assert [v for _, v in points(month)] == [2.0]
    assert (long.resolution, long.bucket) == (Resolution.DAILY, DAY)
    assert [v for _, v in points(long)] == [3.0]
    # And each chosen bucket keeps every series within the point cap
    for result in (one_day, month, long):
        assert result.bucket is not None
        assert (result.end - result.start) / result.bucket < MAX_POINTS_PER_SERIES


def test_auto_caps_the_points_of_a_dense_series(engine: Engine) -> None:
    # Given one sample every 10 seconds for a whole day (8,640 samples)
    start = datetime(2025, 3, 10, tzinfo=UTC)
    insert_raw(engine, [(NAS, start + timedelta(seconds=10 * i), 1.0) for i in range(8_640)])
    # When we ask "auto" for that day, counting samples
    result = query(engine, start=start, end=start + DAY, agg="count")
    # Then the samples are bucketed to at most the cap, and none is lost
    assert result.resolution is Resolution.RAW
    assert len(result.series[0].points) <= MAX_POINTS_PER_SERIES
    assert len(result.series[0].points) == 1_440
    assert sum(v for _, v in points(result)) == 8_640


def test_a_range_without_data_is_empty(engine: Engine) -> None:
    # Given a sample outside the range, and a tag filter that matches no series
    insert_raw(engine, [(NAS, T0, 1.0)])
    # When we query an empty window and a missing tag value
    before = query(engine, start=T0 - DAY, end=T0, resolution="raw")
    no_series = query(engine, start=T0, end=T0 + HOUR, tags={"host": "nowhere"})
    # Then both results have no series (and say how they would have been read)
    assert before.series == () and before.point_count == 0
    assert no_series.series == () and no_series.resolution is Resolution.RAW


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"start": T0, "end": T0}, "must be after start"),
        ({"start": T0, "end": T0 - HOUR}, "must be after start"),
        ({"start": T0.replace(tzinfo=None), "end": T0 + HOUR}, "aware"),
        ({"start": T0, "end": T0 + HOUR, "agg": "median"}, "agg must be one of"),
        ({"start": T0, "end": T0 + HOUR, "resolution": "minutely"}, "resolution must be"),
        (
            {"start": T0, "end": T0 + DAY, "resolution": "hourly", "bucket": timedelta(minutes=90)},
            "multiple of",
        ),
        ({"start": T0, "end": T0 + HOUR, "bucket": timedelta(milliseconds=1)}, "whole number"),
        ({"start": T0, "end": T0 + HOUR, "limit": 0}, "limit"),
    ],
)
def test_a_bad_request_raises_value_error(
    engine: Engine, kwargs: dict[str, Any], message: str
) -> None:
    # Given a request that cannot be answered
    # When we send it, Then ValueError says what is wrong
    with pytest.raises(ValueError, match=message):
        query(engine, **kwargs)


def test_tag_filter_keeps_only_matching_series(engine: Engine) -> None:
    # Given two hosts reporting the same metric
    insert_raw(engine, [(NAS, T0, 1.0), (PI, T0, 2.0), (NAS, T0 + HOUR, 3.0)])
    # When we query with and without a host filter
    nas = query(engine, start=T0, end=T0 + DAY, resolution="raw", tags={"host": "nas"})
    both = query(engine, start=T0, end=T0 + DAY, resolution="raw")
    # Then the filter keeps the nas series only; without it both series come back
    assert [s.tags for s in nas.series] == [NAS]
    assert points(nas) == [(T0, 1.0), (T0 + HOUR, 3.0)]
    assert [s.tags for s in both.series] == [NAS, PI]


def test_limited_pages_resume_exactly_where_the_last_one_ended(engine: Engine) -> None:
    # Given two series with five samples each at the same instants
    insert_raw(engine, [(t, T0 + i * HOUR, float(i)) for i in range(5) for t in (NAS, PI)])
    full = query(engine, start=T0, end=T0 + DAY, resolution="raw")
    # When we page through with limit=3 (an instant holds 2 points, so pages hold 2)
    pages, start = [], T0
    while True:
        page = query(engine, start=start, end=T0 + DAY, resolution="raw", limit=3)
        pages.append(page)
        if not page.truncated:
            break
        assert page.next_start is not None
        start = page.next_start
    # Then no page splits an instant and together they equal the unlimited result
    assert [p.point_count for p in pages] == [2, 2, 2, 2, 2]
    for tags in (NAS, PI):
        assert [pt for p in pages for pt in points(p, tags)] == points(full, tags)


def test_a_limit_below_one_instants_width_still_returns_that_instant(engine: Engine) -> None:
    # Given two series sharing every instant
    insert_raw(engine, [(t, T0 + i * HOUR, float(i)) for i in range(2) for t in (NAS, PI)])
    # When the limit is smaller than the number of series at the first instant
    page = query(engine, start=T0, end=T0 + DAY, resolution="raw", bucket=HOUR, limit=1)
    # Then that whole bucket is returned and the next page starts at the following bucket
    assert page.truncated and page.next_start == T0 + HOUR
    assert [points(page, t) for t in (NAS, PI)] == [[(T0, 0.0)], [(T0, 0.0)]]


def test_raw_buckets_and_the_hourly_rollup_agree(engine: Engine) -> None:
    # Given irregular raw samples of two series over 6 hours, and their correct hourly rollup
    samples: list[Raw] = []
    for i in range(240):
        at = T0 + timedelta(seconds=97 * i + (i % 7) * 3)
        samples.append((NAS, at, math.sin(i) * 50 + 50))
        if i % 3:
            samples.append((PI, at, (i % 11) * 1.5 - 4.0))
    insert_raw(engine, samples)
    with engine.begin() as conn:
        conn.execute(
            insert(Base.metadata.tables["plugin_metrics_hourly"]), rollup_rows(samples, HOUR)
        )
    window = {"start": T0, "end": T0 + 7 * HOUR}
    for agg in ("avg", "min", "max", "count", "sum", "last"):
        # When we bucket raw data hourly and read the hourly rollup, hourly and in 3h buckets
        raw = query(engine, resolution="raw", bucket=HOUR, agg=agg, **window)
        rollup = query(engine, resolution="hourly", agg=agg, **window)
        raw_3h = query(engine, resolution="raw", bucket=3 * HOUR, agg=agg, **window)
        rollup_3h = query(engine, resolution="hourly", bucket=3 * HOUR, agg=agg, **window)
        # Then the same buckets hold the same values within 1e-9
        for tags in (NAS, PI):
            for left, right in ((raw, rollup), (raw_3h, rollup_3h)):
                a, b = points(left, tags), points(right, tags)
                assert [t for t, _ in a] == [t for t, _ in b], agg
                assert all(abs(x - y) <= 1e-9 for (_, x), (_, y) in zip(a, b, strict=True)), agg
        assert len(points(raw)) == 7 and len(points(raw_3h)) == 3
