"""Plugin health overview and the dashboard summary."""

from __future__ import annotations

from marshmallow import fields

from unity_api.schemas.common import Ordered


class CountsSchema(Ordered):
    total = fields.Integer(required=True)
    enabled = fields.Integer(required=True)
    by_health = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)


class PluginHealthSchema(Ordered):
    plugin_id = fields.String(required=True)
    enabled = fields.Boolean(required=True)
    health = fields.String(required=True)
    last_success = fields.DateTime(required=True, allow_none=True)
    consecutive_failures = fields.Integer(required=True)
    last_error = fields.String(required=True, allow_none=True)


class StatusSchema(Ordered):
    generated_at = fields.DateTime(required=True)
    counts = fields.Nested(CountsSchema, required=True)
    plugins = fields.List(fields.Nested(PluginHealthSchema), required=True)


class FigureSchema(Ordered):
    plugin_id = fields.String(required=True)
    metric_name = fields.String(required=True)
    tags = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    time = fields.DateTime(required=True)
    value = fields.Float(required=True, allow_none=True)


class FiringSchema(Ordered):
    id = fields.UUID(required=True)
    name = fields.String(required=True)
    severity = fields.String(required=True)
    plugin_id = fields.String(required=True, allow_none=True)
    since = fields.DateTime(required=True)


class DashboardSchema(Ordered):
    generated_at = fields.DateTime(required=True)
    counts = fields.Nested(CountsSchema, required=True)
    series = fields.Integer(required=True, metadata={"description": "Catalogued series."})
    newest_sample_at = fields.DateTime(required=True, allow_none=True)
    key_figures = fields.List(
        fields.Nested(FigureSchema),
        required=True,
        metadata={"description": "Latest value of each plugin's metrics (first series each)."},
    )
    firing_alerts = fields.List(fields.Nested(FiringSchema), required=True)
