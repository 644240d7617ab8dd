"""Status and dashboard summary: content, caching per TTL, invalidation by new writes."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.integration.api.helpers import Api
from unity_core.cache import DASHBOARD_KEY
from unity_core.storage import create_alert, make_sessionmaker, record_transition


def test_status_counts_plugins_by_health(api: Api) -> None:
    body = api.get("/api/v1/status").json
    assert body["counts"] == {"total": 2, "enabled": 1, "by_health": {"disabled": 1, "ok": 1}}
    assert [p["plugin_id"] for p in body["plugins"]] == ["disk", "system"]


def test_the_dashboard_has_key_figures_and_firing_alerts(api: Api) -> None:
    # Given a rule that fired
    with make_sessionmaker(api.context.engine)() as session:
        alert = create_alert(
            session, name="cpu", plugin_id="system",
            condition={"kind": "threshold", "plugin": "system", "metric": "cpu_percent",
                       "operator": ">", "threshold": 50},
        )  # fmt: skip
        record_transition(
            session, alert_id=alert.id, time=datetime.now(UTC), triggered=True,
            value={"current_value": 99},
        )  # fmt: skip
        session.commit()
    # When the dashboard is read
    body = api.get("/api/v1/dashboard/summary").json
    # Then it counts, shows one figure per metric, and lists the firing rule
    assert body["counts"]["enabled"] == 1 and body["series"] == 3
    assert {(f["plugin_id"], f["metric_name"]) for f in body["key_figures"]} == {
        ("system", "cpu_percent"),
        ("system", "memory_used"),
    }
    assert [a["name"] for a in body["firing_alerts"]] == ["cpu"]


def test_summaries_are_cached_and_a_committed_write_invalidates_them(api: Api) -> None:
    # Given both summaries read once (and so cached)
    first_status = api.get("/api/v1/status").json
    first_dashboard = api.get("/api/v1/dashboard/summary").json
    # Then repeated reads are the cached ones
    assert api.get("/api/v1/status").json == first_status
    assert api.get("/api/v1/dashboard/summary").json == first_dashboard
    assert api.context.cache.get_json(DASHBOARD_KEY) is not None
    # When a worker commits new data (after_commit → record_write drops the summary)
    api.context.cache.record_write({}, {})
    # Then the next reads are computed afresh
    assert api.get("/api/v1/status").json["generated_at"] != first_status["generated_at"]
    fresh = api.get("/api/v1/dashboard/summary").json
    assert fresh["generated_at"] != first_dashboard["generated_at"]


def test_without_a_cache_every_read_is_fresh(api_without_cache: Api) -> None:
    first = api_without_cache.get("/api/v1/status").json
    assert api_without_cache.get("/api/v1/status").json["generated_at"] != first["generated_at"]
