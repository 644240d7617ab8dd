"""/healthz, /readyz (each part reported; 503 when the database or broker is down) and /metrics."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.integration.api.conftest import build_api
from tests.integration.api.helpers import SAMPLES_PER_SERIES, Api, seed
from unity_api import create_app
from unity_core.config import load_settings
from unity_core.storage import make_sessionmaker, upsert_status
from unity_core.storage.models import PluginStatus


def test_healthz_needs_no_token_and_touches_nothing(api: Api) -> None:
    response = api.get("/healthz", scope=None)
    assert (response.status_code, response.json) == (200, {"status": "ok"})


def test_readyz_reports_each_part_and_is_ready_with_database_and_broker(api: Api) -> None:
    response = api.get("/readyz", scope=None)
    assert response.status_code == 200, response.json
    checks = {c["name"]: c for c in response.json["checks"]}
    assert set(checks) == {"database", "broker", "cache"}
    assert all(c["ok"] for c in checks.values())


def test_readyz_is_503_when_the_broker_is_down(tmp_path: Path, database_url: str) -> None:
    # Given a configuration whose Redis broker does not answer (nothing listens on port 1)
    built = build_api(tmp_path, database_url, None)
    config = tmp_path / "unity.yaml"
    config.write_text(
        config.read_text() + "broker:\n  url: redis://127.0.0.1:1/0\n", encoding="utf-8"
    )
    app = create_app(load_settings(config, environ={}))
    try:
        # When readiness is asked, Then 503 names the broker as the part that failed
        response = app.test_client().get("/readyz")
        assert response.status_code == 503
        checks = {c["name"]: c["ok"] for c in response.json["checks"]}
        assert checks == {"database": True, "broker": False, "cache": True}
    finally:
        built.close()
        app.extensions["unity"].engine.dispose()


def test_readyz_is_503_when_the_database_is_down(tmp_path: Path) -> None:
    # Given a database nobody listens for (port 1), and the embedded broker
    url = "postgresql+psycopg://postgres@127.0.0.1:1/unity"
    config = tmp_path / "unity.yaml"
    config.write_text(f"data_dir: {tmp_path / 'data'}\ndatabase:\n  url: {url}\n")
    app = create_app(load_settings(config, environ={}))
    try:
        # When readiness is asked, Then 503 names the database
        response = app.test_client().get("/readyz")
        assert response.status_code == 503
        checks = {c["name"]: c["ok"] for c in response.json["checks"]}
        assert checks == {"database": False, "broker": True, "cache": True}
        # And liveness does not care
        assert app.test_client().get("/healthz").status_code == 200
    finally:
        app.extensions["unity"].engine.dispose()


def test_metrics_is_prometheus_text_with_latest_values_and_unitys_counters(api: Api) -> None:
    # Given a plugin that has failed twice
    with make_sessionmaker(api.context.engine)() as session:
        upsert_status(session, "system", error_count=2, health_status="ok")
        session.get(PluginStatus, "system").run_count = 9  # type: ignore[union-attr]
        session.commit()
    # When /metrics is scraped
    response = api.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    # Then prometheus_client's own parser reads it
    families = {f.name: f for f in text_string_to_metric_families(response.get_data(as_text=True))}
    cpu = {s.labels["core"]: s.value for s in families["unity_cpu_percent"].samples}
    assert cpu == {"0": SAMPLES_PER_SERIES - 1, "1": 100 + SAMPLES_PER_SERIES - 1}
    assert families["unity_cpu_percent"].type == "gauge"
    assert {s.labels["plugin_id"] for s in families["unity_cpu_percent"].samples} == {"system"}
    failures = {s.labels["plugin_id"]: s.value for s in families["unity_plugin_failures"].samples}
    assert failures["system"] == 2
    collections = families["unity_plugin_collections"]
    assert collections.type == "counter"
    assert {s.labels["plugin_id"]: s.value for s in collections.samples}["system"] == 9
    assert "unity_plugin_rejected_metrics" in families
    runs = {
        s.labels["plugin_id"]: s.value
        for s in families["unity_plugin_collections_last_hour"].samples
    }
    assert runs == {"system": 0, "disk": 0}
    # And write latency over the last hour is a gauge histogram, which text format 0.0.4
    # renders as _bucket series under TYPE histogram plus _gsum and _gcount gauges
    latency = families["unity_batch_write_seconds"]
    assert latency.type == "histogram"
    assert [s.labels["le"] for s in latency.samples][-1] == "+Inf"
    assert "unity_batch_write_seconds_gcount" in families


def test_metrics_can_be_made_public(tmp_path: Path, database_url: str) -> None:
    public = build_api(tmp_path, database_url, None, metrics_public=True)
    seed(public)
    try:
        assert public.get("/metrics", scope=None).status_code == 200
        assert public.get("/api/v1/status", scope=None).status_code == 401
    finally:
        public.close()
