"""The design's AI formats: Metric JSON documents and the context query within a budget."""

from __future__ import annotations

import json

from tests.integration.api.helpers import SAMPLES_PER_SERIES, Api
from unity_core.pipeline.validate import SUMMARY_METRIC
from unity_core.storage import make_sessionmaker, write_batch
from unity_core.storage.batch import MetricRow


def test_metric_json_has_the_designs_fields_with_summary_and_metadata(api: Api) -> None:
    response = api.get("/api/v1/ai/metrics?plugin_id=system&metric_name=cpu_percent")
    assert response.status_code == 200
    documents = response.json["metrics"]
    assert len(documents) == 2
    first = documents[0]
    assert set(first) == {
        "timestamp", "plugin_id", "plugin_name", "metric_name", "value", "tags", "summary",
        "metadata",
    }  # fmt: skip
    assert first["plugin_name"] == "System" and first["value"]["unit"] == "percent"
    assert first["summary"] and set(first["metadata"]) >= {
        "collection_duration_ms",
        "collector_version",
    }


def test_the_context_ranks_what_the_question_names_and_summarises_the_window(api: Api) -> None:
    response = api.call(
        "POST", "/api/v1/ai/context", scope="read",
        json={"query": "How busy is the CPU on core 1?", "timeframe": "last 1 hour"},
    )  # fmt: skip
    assert response.status_code == 200, response.json
    items = response.json["context"]["relevant_metrics"]
    assert items[0]["metric_name"] == "cpu_percent"
    assert items[0]["details"]["trend"] == "increasing"
    assert items[0]["details"]["max"] >= SAMPLES_PER_SERIES - 1
    assert response.json["context"]["timeframe"] == "last 1 hour"


def test_the_context_stays_within_its_budget(api: Api) -> None:
    # When a small budget is given
    response = api.call(
        "POST", "/api/v1/ai/context", scope="read",
        json={"query": "memory", "timeframe": "2h", "budget": 700},
    )  # fmt: skip
    # Then the JSON fits in it and says something was left out
    body = response.json
    assert len(json.dumps(body, separators=(",", ":"))) <= 700
    assert body["truncated"] is True and len(body["context"]["relevant_metrics"]) >= 1
    assert body["context"]["relevant_metrics"][0]["metric_name"] == "memory_used"


def test_bad_context_requests_are_422(api: Api) -> None:
    for body in ({"query": ""}, {"query": "x", "timeframe": "soon"}, {"query": "x", "budget": 5}):
        response = api.call("POST", "/api/v1/ai/context", scope="read", json=body)
        assert response.status_code == 422, body


def test_summary_and_metadata_come_from_the_runs_stored_collection_row(api: Api) -> None:
    # Given the newest run of `system` stored its summary row, as the pipeline does
    assert api.end is not None
    run = {"summary": "2 cores, busiest at 219%", "collection_duration_ms": 12.5,
           "collector_version": "1.2.0", "metrics": 3, "rejected": 0, "errors": []}  # fmt: skip
    with make_sessionmaker(api.context.engine)() as session:
        write_batch(
            session,
            [MetricRow.build(api.end, "system", SUMMARY_METRIC, run, tags={"host": "nas"})],
        )
        session.commit()
    # When the Metric JSON is read
    documents = api.get("/api/v1/ai/metrics?plugin_id=system").json["metrics"]
    # Then every document carries that run's summary and metadata, and the row itself is
    # not a document of its own
    assert {d["summary"] for d in documents} == {"2 cores, busiest at 219%"}
    assert {d["metadata"]["collector_version"] for d in documents} == {"1.2.0"}
    assert {d["metadata"]["collection_duration_ms"] for d in documents} == {12.5}
    assert SUMMARY_METRIC not in {d["metric_name"] for d in documents}
    # And the context query uses it as the plugin's summary
    context = api.call("POST", "/api/v1/ai/context", scope="read", json={"query": "cpu"}).json
    assert context["context"]["relevant_metrics"][0]["plugin_summary"] == run["summary"]
