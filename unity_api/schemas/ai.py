"""The design's AI formats: Metric JSON, the context query, the alert analysis."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from unity_api.schemas.common import IsoDateTime, Ordered
from unity_core.ai.context import MAX_BUDGET, MIN_BUDGET


class MetricMetadataSchema(Ordered):
    collection_duration_ms = fields.Float(required=True, allow_none=True)
    collector_version = fields.String(required=True, allow_none=True)
    unit = fields.String(required=True, allow_none=True)
    series_key = fields.String(required=True)


class MetricDocumentSchema(Ordered):
    timestamp = IsoDateTime(required=True)
    plugin_id = fields.String(required=True)
    plugin_name = fields.String(required=True)
    metric_name = fields.String(required=True)
    value = fields.Dict(required=True)
    tags = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    summary = fields.String(required=True)
    metadata = fields.Nested(MetricMetadataSchema, required=True)


class MetricDocumentsSchema(Ordered):
    metrics = fields.List(fields.Nested(MetricDocumentSchema), required=True)


class AiMetricsArgsSchema(Schema):
    plugin_id = fields.String(validate=validate.Length(min=1, max=100))
    metric_name = fields.String(validate=validate.Length(min=1, max=200))


class ContextRequestSchema(Schema):
    query = fields.String(required=True, validate=validate.Length(min=1, max=2_000))
    timeframe = fields.String(
        load_default="last 1 hour",
        validate=validate.Length(min=1, max=50),
        metadata={"description": "`last 1 hour`, `24h`, `7d` …"},
    )
    plugins = fields.List(
        fields.String(validate=validate.Length(min=1, max=100)),
        load_default=list,
        validate=validate.Length(max=100),
    )
    budget = fields.Integer(
        load_default=8_000,
        validate=validate.Range(min=MIN_BUDGET, max=MAX_BUDGET),
        metadata={"description": "Largest size of the returned JSON, in characters."},
    )


class RelevantMetricSchema(Ordered):
    time = IsoDateTime(required=True)
    plugin_id = fields.String(required=True)
    metric_name = fields.String(required=True)
    tags = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    summary = fields.String(required=True)
    plugin_summary = fields.String(required=True)
    details = fields.Dict(required=True)


class ContextSchema(Ordered):
    timeframe = fields.String(required=True)
    plugins = fields.List(fields.String(), required=True)
    relevant_metrics = fields.List(fields.Nested(RelevantMetricSchema), required=True)


class ContextResponseSchema(Ordered):
    query = fields.String(required=True)
    context = fields.Nested(ContextSchema, required=True)
    truncated = fields.Boolean(required=True)


class AnalysisContextSchema(Ordered):
    current_value = fields.Float(required=True, allow_none=True)
    threshold = fields.Float(required=True, allow_none=True)
    historical_baseline = fields.Float(required=True, allow_none=True)
    recent_trend = fields.String(
        required=True, validate=validate.OneOf(["increasing", "decreasing", "stable"])
    )
    related_metrics = fields.List(fields.Dict(), required=True)


class AnalysisSchema(Ordered):
    alert = fields.String(required=True)
    alert_id = fields.String(required=True)
    severity = fields.String(required=True)
    triggered_at = fields.String(
        required=True, metadata={"format": "date-time", "description": "When it was analysed."}
    )
    condition = fields.String(required=True)
    firing = fields.Boolean(required=True)
    tags = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    context = fields.Nested(AnalysisContextSchema, required=True)
    suggestion = fields.String(required=True)
