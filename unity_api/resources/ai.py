"""`/api/v1/ai/…`: Metric JSON, the LLM context query, and an alert's analysis."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from flask import request
from flask.views import MethodView
from flask_smorest import Blueprint

from unity_api.context import api_context, read_session
from unity_api.errors import fail
from unity_api.params import parse_duration, tag_filters
from unity_api.schemas.ai import (
    AiMetricsArgsSchema,
    AnalysisSchema,
    ContextRequestSchema,
    ContextResponseSchema,
    MetricDocumentsSchema,
)
from unity_core.ai import ContextQuery, build_context, metric_documents
from unity_core.alerts import analyse
from unity_core.storage import get_alert

blp = Blueprint(
    "ai",
    __name__,
    url_prefix="/api/v1/ai",
    description="The design's AI formats: Metric JSON, LLM context, alert analysis.",
)


@blp.route("/metrics")
class Metrics(MethodView):
    @blp.arguments(AiMetricsArgsSchema(), location="query")
    @blp.response(200, MetricDocumentsSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """The newest sample of each series as Metric JSON (with summary and metadata).

        Tag filters: `tag.NAME=VALUE` query parameters.
        """
        try:
            tags = tag_filters(request.args)
        except ValueError as error:
            fail(422, str(error))
        documents = metric_documents(
            read_session(),
            api_context().discovery,
            plugin_id=args.get("plugin_id"),
            metric_name=args.get("metric_name"),
            tags=tags or None,
        )
        return {"metrics": documents}


@blp.route("/context")
class Context(MethodView):
    @blp.arguments(ContextRequestSchema())
    @blp.response(200, ContextResponseSchema)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """The series relevant to a question, summarised over the timeframe, within `budget`.

        A read: it needs only a read token although it is a POST.
        """
        try:
            timeframe = parse_duration(body["timeframe"], "timeframe")
            ask = ContextQuery(
                query=body["query"],
                timeframe=timeframe,
                timeframe_label=body["timeframe"],
                plugins=tuple(dict.fromkeys(body["plugins"])),
                budget=body["budget"],
            )
        except ValueError as error:
            fail(422, str(error))
        return build_context(read_session(), api_context().discovery, ask, datetime.now(UTC))


@blp.route("/alerts/<uuid:alert_id>/analysis")
class Analysis(MethodView):
    @blp.response(200, AnalysisSchema)
    def get(self, alert_id: uuid.UUID) -> dict[str, Any]:
        """Current value, threshold, historical baseline, trend, related metrics, suggestion."""
        session = read_session()
        return analyse(session, get_alert(session, alert_id)).to_dict()
