"""Range queries and latest values: resolutions, relative times, tag filters, paging, 4xx."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

import pytest

from tests.integration.api.helpers import SAMPLES_PER_SERIES, Api
from unity_core.cache import latest_key

CPU = "/api/v1/metrics?plugin_id=system&metric_name=cpu_percent"


def test_a_relative_range_returns_raw_points_per_series_oldest_first(api: Api) -> None:
    # When the last 30 minutes of cpu_percent are asked for
    response = api.get(f"{CPU}&from=30m&resolution=raw")
    # Then each core is a series of one-minute samples in time order
    assert response.status_code == 200
    body = response.json
    assert body["resolution"] == "raw" and body["bucket_seconds"] is None
    assert sorted(s["tags"]["core"] for s in body["series"]) == ["0", "1"]
    for series in body["series"]:
        times = [p["time"] for p in series["points"]]
        assert times == sorted(times) and 29 <= len(times) <= 30
        assert all("data" in p for p in series["points"])


def test_auto_resolution_buckets_a_long_range_and_tags_filter_series(api: Api) -> None:
    # When two hours are asked for with a bucket and one core by tag
    response = api.get(f"{CPU}&from=2h&bucket=30m&agg=max&tag.core=1")
    # Then one series comes back, bucketed in 30-minute maxima
    assert response.status_code == 200
    body = response.json
    assert body["bucket_seconds"] == 1800 and body["agg"] == "max"
    assert [s["tags"]["core"] for s in body["series"]] == ["1"]
    values = [p["value"] for p in body["series"][0]["points"]]
    assert values == sorted(values) and max(values) == 100 + SAMPLES_PER_SERIES - 1


def test_an_absolute_iso_range_is_accepted(api: Api) -> None:
    assert api.end is not None
    end = api.end
    start = end - timedelta(minutes=10)
    response = api.get(
        f"{CPU}&from={quote(start.isoformat())}&to={quote(end.isoformat())}&resolution=raw"
    )
    assert response.status_code == 200
    assert {len(s["points"]) for s in response.json["series"]} == {10}


def test_cursor_pages_cover_the_range_without_repeats_or_gaps(api: Api) -> None:
    # Given a 20-minute raw range (2 series x 20 samples) read 7 points at a time
    assert api.end is not None
    start, end = quote((api.end - timedelta(minutes=20)).isoformat()), quote(api.end.isoformat())
    seen: list[tuple[str, str]] = []
    response = api.get(f"{CPU}&from={start}&to={end}&resolution=raw&limit=7")
    pages = 0
    while True:
        assert response.status_code == 200, response.json
        pages += 1
        seen += [(s["series_key"], p["time"]) for s in response.json["series"] for p in s["points"]]
        cursor = response.json["next_cursor"]
        if cursor is None:
            break
        response = api.get(f"{CPU}&resolution=raw&limit=7&cursor={cursor}")
    # Then every sample appears exactly once, over several pages
    assert pages > 3
    assert len(seen) == len(set(seen)) == 40


@pytest.mark.parametrize(
    ("query", "status", "mentions"),
    [
        ("&from=yesterday", 422, "from"),
        ("&from=1h&to=2h", 422, "before"),
        ("&limit=1000000", 422, "limit"),
        ("&limit=0", 422, "limit"),
        ("&resolution=weekly", 422, "resolution"),
        ("&agg=median", 422, "agg"),
        ("&bucket=fortnight", 422, "bucket"),
        ("&tag.=nas", 422, "tag"),
        ("&cursor=not-a-cursor", 422, "cursor"),
    ],
)
def test_bad_input_is_a_4xx_naming_the_parameter(
    api: Api, query: str, status: int, mentions: str
) -> None:
    response = api.get(CPU + query)
    assert response.status_code == status
    assert mentions in str(response.json)
    assert response.json["code"] == status


def test_an_unknown_plugin_is_404(api: Api) -> None:
    response = api.get("/api/v1/metrics?plugin_id=nas9&metric_name=cpu_percent")
    assert response.status_code == 404
    assert "nas9" in response.json["message"]


def test_a_repeated_range_query_is_served_from_the_hot_query_cache(api: Api) -> None:
    # Given a range query answered once
    first = api.get(f"{CPU}&from=1h&to=now&resolution=raw").json
    # When it is asked again within the query TTL
    second = api.get(f"{CPU}&from=1h&to=now&resolution=raw").json
    # Then the answer is the cached one (its resolved `to` is identical)
    assert second["to"] == first["to"]


def test_latest_comes_from_the_database_then_from_the_cache(api: Api) -> None:
    # Given an empty cache: the first read goes to the database and fills the key
    first = api.get("/api/v1/metrics/latest?plugin_id=system")
    assert first.status_code == 200 and first.json["source"] == "database"
    assert api.context.cache.get_latest("system") is not None
    # When asked again, Then the cache answers with the same samples
    second = api.get("/api/v1/metrics/latest?plugin_id=system")
    assert second.json["source"] == "cache"
    assert second.json["samples"] == first.json["samples"]
    newest = {s["metric_name"] for s in second.json["samples"]}
    assert newest == {"cpu_percent", "memory_used"}


def test_cached_latest_follows_each_write_to_the_cache(api: Api) -> None:
    # Given a plugin's latest values served (and remembered) from the cache, unfiltered and
    # filtered
    api.get("/api/v1/metrics/latest?plugin_id=system")
    url = "/api/v1/metrics/latest?plugin_id=system&metric_name=memory_used"
    before = api.get(url).json["samples"]
    assert [s["numeric_value"] for s in before] == [SAMPLES_PER_SERIES - 1]
    # When a worker's commit merges a newer sample into the key
    entries = api.context.cache.get_latest("system")
    assert entries is not None
    key = next(k for k, e in entries.items() if e["metric_name"] == "memory_used")
    newer = {**entries[key], "time": "2099-01-01T00:00:00.000000+00:00", "numeric_value": 7.0}
    api.context.cache.record_write({"system": {key: newer}}, {})
    # Then both requests answer with the new value at once, not the remembered response
    after = api.get(url).json["samples"]
    assert [s["numeric_value"] for s in after] == [7.0]
    everything = api.get("/api/v1/metrics/latest?plugin_id=system").json["samples"]
    assert 7.0 in [s["numeric_value"] for s in everything]


def test_latest_filters_by_metric_and_tag_and_404s_for_unknown_plugins(api: Api) -> None:
    response = api.get("/api/v1/metrics/latest?plugin_id=system&metric_name=cpu_percent&tag.core=1")
    assert [s["tags"]["core"] for s in response.json["samples"]] == ["1"]
    assert response.json["samples"][0]["numeric_value"] == 100 + SAMPLES_PER_SERIES - 1
    assert api.get("/api/v1/metrics/latest?plugin_id=nas9").status_code == 404


def test_latest_of_one_plugin_without_a_cache_comes_from_the_database(
    api_without_cache: Api,
) -> None:
    response = api_without_cache.get("/api/v1/metrics/latest?plugin_id=system")
    assert response.status_code == 200 and response.json["source"] == "database"
    assert {s["metric_name"] for s in response.json["samples"]} == {"cpu_percent", "memory_used"}


def test_latest_of_everything_lists_every_plugin(api_without_cache: Api) -> None:
    response = api_without_cache.get("/api/v1/metrics/latest")
    assert response.status_code == 200 and response.json["source"] == "database"
    assert {s["plugin_id"] for s in response.json["samples"]} == {"system"}
    assert api_without_cache.context.cache.get_json(latest_key("system")) is None
