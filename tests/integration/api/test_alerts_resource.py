"""Alert rules over HTTP: CRUD with validated conditions, history with filters, analysis."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.integration.api.helpers import Api
from unity_core.storage import make_sessionmaker, record_transition

CONDITION = {
    "kind": "threshold",
    "plugin": "system",
    "metric": "cpu_percent",
    "operator": ">",
    "threshold": 90,
    "window": "10m",
    "for": "2m",
}


def create(api: Api, **extra: Any) -> dict[str, Any]:
    response = api.call(
        "POST", "/api/v1/alerts", scope="write",
        json={"name": "cpu high", "condition": CONDITION, **extra},
    )  # fmt: skip
    assert response.status_code == 201, response.json
    body: dict[str, Any] = response.json
    return body


def test_a_rule_is_created_read_updated_and_deleted(api: Api) -> None:
    created = create(api, severity="critical")
    assert created["plugin_id"] == "system" and created["condition"]["threshold"] == 90
    assert "cpu_percent" in created["description"]
    url = f"/api/v1/alerts/{created['id']}"
    assert api.get(url).json["name"] == "cpu high"
    changed = api.call("PATCH", url, scope="write", json={"enabled": False, "name": "cpu"})
    assert changed.status_code == 200 and changed.json["enabled"] is False
    assert [a["name"] for a in api.get("/api/v1/alerts?enabled=false").json["alerts"]] == ["cpu"]
    assert api.call("DELETE", url, scope="write").status_code == 204
    assert api.get(url).status_code == 404


def test_invalid_conditions_are_422_naming_every_problem(api: Api) -> None:
    response = api.call(
        "POST", "/api/v1/alerts", scope="write",
        json={"name": "x", "condition": {**CONDITION, "operator": "~", "window": "soon"}},
    )  # fmt: skip
    assert response.status_code == 422
    problems = " ".join(response.json["errors"]["problems"])
    assert "operator" in problems and "window" in problems
    unknown_plugin = api.call(
        "POST", "/api/v1/alerts", scope="write",
        json={"name": "x", "condition": {**CONDITION, "plugin": "nas9"}},
    )  # fmt: skip
    assert unknown_plugin.status_code == 422 and "nas9" in unknown_plugin.json["message"]


def test_history_filters_by_rule_state_and_time_and_pages(api: Api) -> None:
    # Given a rule with five transitions, alternating triggered and resolved
    alert_id = create(api)["id"]
    start = datetime.now(UTC) - timedelta(hours=1)
    with make_sessionmaker(api.context.engine)() as session:
        for i in range(5):
            record_transition(
                session, alert_id=uuid.UUID(alert_id),
                time=start + timedelta(minutes=i), triggered=i % 2 == 0,
            )  # fmt: skip
        session.commit()
    # When it is read two at a time
    seen = []
    url = f"/api/v1/alerts/history?alert_id={alert_id}&limit=2"
    response = api.get(url)
    while True:
        seen += [e["time"] for e in response.json["entries"]]
        if response.json["next_cursor"] is None:
            break
        response = api.get(f"{url}&cursor={response.json['next_cursor']}")
    # Then all five come newest first, and filters narrow them
    assert len(seen) == 5 and seen == sorted(seen, reverse=True)
    fired = api.get(f"/api/v1/alerts/history?alert_id={alert_id}&triggered=true").json
    assert len(fired["entries"]) == 3
    recent = api.get(f"/api/v1/alerts/history?alert_id={alert_id}&from=58.5m").json
    assert len(recent["entries"]) == 3
    assert api.get("/api/v1/alerts/history?from=1h&to=2h").status_code == 422


def test_the_analysis_of_a_rule_has_the_designs_fields(api: Api) -> None:
    alert_id = create(api)["id"]
    response = api.get(f"/api/v1/ai/alerts/{alert_id}/analysis")
    assert response.status_code == 200, response.json
    context = response.json["context"]
    assert set(context) == {
        "current_value", "threshold", "historical_baseline", "recent_trend", "related_metrics",
    }  # fmt: skip
    assert context["threshold"] == 90
    assert context["recent_trend"] in ("increasing", "decreasing", "stable")
    assert response.json["suggestion"]
    missing = api.get("/api/v1/ai/alerts/00000000-0000-0000-0000-000000000009/analysis")
    assert missing.status_code == 404
