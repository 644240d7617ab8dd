"""latest(): the newest sample of every catalogued series, on all three databases."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, insert
from sqlalchemy.orm import Session

from unity_core.storage.models import Base
from unity_core.storage.partitions import ensure_partitions
from unity_core.storage.queries import latest
from unity_core.storage.series import canonical_tags, series_key

T0 = datetime(2025, 3, 10, 10, 0, tzinfo=UTC)
SampleSpec = tuple[str, str, Mapping[str, str] | None, datetime, float | None]


def insert_samples(engine: Engine, samples: Iterable[SampleSpec]) -> None:
    """Catalog rows and samples, inserted with plain Core (independent of the write path)."""
    series: dict[str, dict[str, object]] = {}
    rows: list[dict[str, object]] = []
    days = set()
    for plugin_id, metric_name, tags, time, value in samples:
        key = series_key(plugin_id, metric_name, tags)
        canonical = canonical_tags(tags) or None
        series[key] = {
            "series_key": key,
            "plugin_id": plugin_id,
            "metric_name": metric_name,
            "tags": canonical,
        }
        days.add(time.astimezone(UTC).date())
        rows.append(
            {
                "time": time,
                "series_key": key,
                "plugin_id": plugin_id,
                "metric_name": metric_name,
                "value": {"v": value, "at": time.isoformat()},
                "numeric_value": value,
                "tags": canonical,
            }
        )
    with engine.begin() as conn:
        ensure_partitions(conn, days)
        conn.execute(insert(Base.metadata.tables["metric_series"]), list(series.values()))
        conn.execute(insert(Base.metadata.tables["plugin_metrics"]), rows)


def three_series_with_history(engine: Engine) -> None:
    samples: list[SampleSpec] = []
    for minute in range(5):
        at = T0 + timedelta(minutes=minute)
        samples += [
            ("system", "cpu_percent", {"host": "nas", "env": "prod"}, at, 10.0 + minute),
            ("system", "cpu_percent", {"host": "pi", "env": "lab"}, at, 20.0 + minute),
            ("docker", "containers_running", {"host": "nas"}, at, float(minute)),
        ]
    # The pi's newest sample came earlier than the others' (it went quiet).
    samples = [s for s in samples if not (s[2] == {"host": "pi", "env": "lab"} and s[3] > T0)]
    insert_samples(engine, samples)


def test_latest_returns_the_newest_sample_of_each_series(engine: Engine) -> None:
    # Given three series with several samples each, one of which stopped early
    three_series_with_history(engine)
    # When we ask for the latest of everything
    with Session(engine) as session:
        found = latest(session)
    # Then there is exactly one sample per series, the newest, ordered by plugin and metric
    assert [(s.plugin_id, s.metric_name, s.tags.get("host")) for s in found] == [
        ("docker", "containers_running", "nas"),
        ("system", "cpu_percent", found[1].tags["host"]),
        ("system", "cpu_percent", found[2].tags["host"]),
    ]
    by_host = {s.tags["host"]: s for s in found if s.plugin_id == "system"}
    assert by_host["nas"].time == T0 + timedelta(minutes=4)
    assert by_host["nas"].numeric_value == 14.0
    assert by_host["nas"].value == {"v": 14.0, "at": (T0 + timedelta(minutes=4)).isoformat()}
    assert by_host["nas"].tags == {"env": "prod", "host": "nas"}
    assert by_host["nas"].series_key == series_key(
        "system", "cpu_percent", {"host": "nas", "env": "prod"}
    )
    assert by_host["pi"].time == T0
    assert by_host["pi"].numeric_value == 20.0
    # And times come back aware, in UTC
    assert all(s.time.utcoffset() == timedelta(0) for s in found)


def test_latest_filters_by_plugin_metric_and_tags(engine: Engine) -> None:
    # Given three series on two plugins and two hosts
    three_series_with_history(engine)
    with Session(engine) as session:
        # When we filter by plugin, by metric, by one tag and by two tags
        by_plugin = latest(session, plugin_id="docker")
        by_metric = latest(session, metric_name="cpu_percent")
        by_host = latest(session, tags={"host": "nas"})
        by_two_tags = latest(session, plugin_id="system", tags={"host": "pi", "env": "lab"})
        by_wrong_value = latest(session, tags={"host": "nas", "env": "lab"})
    # Then each filter keeps exactly the matching series
    assert [s.metric_name for s in by_plugin] == ["containers_running"]
    assert sorted(s.tags["host"] for s in by_metric) == ["nas", "pi"]
    assert sorted(s.plugin_id for s in by_host) == ["docker", "system"]
    assert [(s.tags["host"], s.numeric_value) for s in by_two_tags] == [("pi", 20.0)]
    assert by_wrong_value == []


def test_tag_filter_values_match_as_the_catalog_stores_them(engine: Engine) -> None:
    # Given a series tagged with a number, stored canonically as the string "8080"
    insert_samples(engine, [("http", "latency_ms", {"port": "8080"}, T0, 3.5)])
    # When we filter with the number itself
    with Session(engine) as session:
        found = latest(session, tags={"port": 8080})
    # Then it matches
    assert [s.numeric_value for s in found] == [3.5]


def test_series_without_samples_and_untagged_series_are_handled(engine: Engine) -> None:
    # Given an untagged series with a sample, and a catalogued series whose samples are gone
    insert_samples(engine, [("ping", "rtt_ms", None, T0, 1.25)])
    with engine.begin() as conn:
        conn.execute(
            insert(Base.metadata.tables["metric_series"]),
            [{"series_key": "0" * 32, "plugin_id": "ping", "metric_name": "rtt_ms", "tags": None}],
        )
    # When we ask for the latest
    with Session(engine) as session:
        found = latest(session, plugin_id="ping")
    # Then only the series with data is returned, with empty tags
    assert [(s.tags, s.numeric_value) for s in found] == [({}, 1.25)]


def test_latest_of_an_empty_database_is_empty(engine: Engine) -> None:
    # Given no data at all
    # When we ask for the latest
    with Session(engine) as session:
        found = latest(session, plugin_id="system")
    # Then nothing is returned
    assert found == []


def test_a_tag_key_that_cannot_be_a_json_path_is_rejected(engine: Engine) -> None:
    # Given a tag key containing a double quote
    with Session(engine) as session, pytest.raises(ValueError, match="tag key"):
        # When we filter on it, Then the call fails before any SQL is sent
        latest(session, tags={'ho"st': "nas"})
