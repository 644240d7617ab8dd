"""`/api/v1/status` (plugin health) and `/api/v1/dashboard/summary`, both cached (see summaries)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Response
from flask_smorest import Blueprint
from sqlalchemy.orm import Session

from unity_api.context import cache, read_session, settings
from unity_api.jsonresponse import encode, text_response
from unity_api.schemas.status import DashboardSchema, StatusSchema
from unity_api.summaries import cached_part, dashboard_summary, status_summary, store_part

blp = Blueprint(
    "status", __name__, url_prefix="/api/v1", description="Plugin health and the dashboard."
)


@blp.route("/status")
@blp.response(200, StatusSchema)
def status() -> Response:
    """Every plugin's health and counts by health (cached up to cache.ttl.status seconds)."""
    return _cached("status", settings().cache.ttl.status, status_summary)


@blp.route("/dashboard/summary")
@blp.response(200, DashboardSchema)
def dashboard() -> Response:
    """Plugins by health, latest key figures, firing alerts (cached up to ttl.dashboard s)."""
    return _cached("dashboard", settings().cache.ttl.dashboard, dashboard_summary)


def _cached(part: str, ttl: int, compute: Callable[[Session], dict[str, Any]]) -> Response:
    text = cached_part(cache(), part, ttl)
    if text is None:
        text = encode(compute(read_session()))
        store_part(cache(), settings().cache.ttl, part, text)
    return text_response(text)
