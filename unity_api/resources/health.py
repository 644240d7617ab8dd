"""`/healthz` (process alive), `/readyz` (database, broker, cache) and `/metrics` (Prometheus)."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask_smorest import Blueprint

from unity_api.context import read_session, settings
from unity_api.prometheus import CONTENT_TYPE, exposition
from unity_api.schemas.health import HealthSchema, ReadySchema
from unity_core.status import probe_broker, probe_cache, probe_database

blp = Blueprint(
    "health", __name__, description="Liveness, readiness and the Prometheus exposition."
)

_OPEN: Any = {"security": []}


@blp.route("/healthz")
@blp.doc(**_OPEN)
@blp.response(200, HealthSchema)
def healthz() -> dict[str, str]:
    """Liveness: the process answers. Touches neither the database nor the cache."""
    return {"status": "ok"}


@blp.route("/readyz")
@blp.doc(**_OPEN)
@blp.response(200, ReadySchema)
@blp.alt_response(503, schema=ReadySchema, description="The database or the broker is down.")
def readyz() -> tuple[dict[str, Any], int]:
    """Readiness: database (reachable and migrated), broker and cache, each reported.

    503 when the database or the broker is not usable; a cache outage is reported but the
    API still serves (reads fall back to the database).
    """
    config = settings()
    checks = []
    for probe, required in (
        (probe_database(config), True),
        (probe_broker(config), True),
        (probe_cache(config), False),
    ):
        checks.append(
            {"name": probe.name, "ok": probe.ok, "detail": probe.detail, "required": required}
        )
    ready = all(check["ok"] for check in checks if check["required"])
    return {"ready": ready, "checks": checks}, 200 if ready else 503


@blp.route("/metrics")
@blp.doc(
    summary="Prometheus exposition",
    description=(
        "Every latest value as a gauge (`unity_<metric>`, labels plugin_id and the tags), "
        "and Unity's own counters. Needs a read token unless `api.metrics_public` is set."
    ),
    responses={
        "200": {
            "description": "Prometheus text format 0.0.4",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    },
)
def metrics() -> Response:
    return Response(exposition(read_session()), mimetype=None, content_type=CONTENT_TYPE)
