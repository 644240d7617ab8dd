"""Plugin registry entries, their health, and the PATCH body."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from unity_api.schemas.common import Ordered

_SECONDS = {"oneOf": [{"type": "number"}, {"type": "string"}], "example": "30s"}


class PluginStatusSchema(Ordered):
    health = fields.String(
        required=True,
        metadata={"description": "ok, degraded, failing, paused, unknown (never ran) or disabled"},
    )
    last_run = fields.DateTime(allow_none=True)
    last_success = fields.DateTime(allow_none=True)
    last_error = fields.String(allow_none=True)
    consecutive_failures = fields.Integer(required=True)
    error_count = fields.Integer(required=True)
    rejected_count = fields.Integer(required=True)
    last_duration_ms = fields.Float(allow_none=True)


class PluginSchema(Ordered):
    plugin_id = fields.String(required=True)
    plugin = fields.String(required=True, metadata={"description": "The implementation."})
    name = fields.String(required=True)
    enabled = fields.Boolean(required=True)
    interval = fields.Integer(allow_none=True, metadata={"description": "Seconds; null with cron"})
    cron = fields.String(allow_none=True)
    timezone = fields.String(required=True)
    timeout = fields.Float(required=True)
    retry_count = fields.Integer(required=True)
    retry_delay = fields.Float(required=True)
    retry_backoff = fields.Float(required=True)
    queue = fields.String(allow_none=True)
    tags = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    config = fields.Dict(
        required=True, metadata={"description": "The plugin's own options (secrets masked)."}
    )
    status = fields.Nested(PluginStatusSchema, required=True)


class PluginListSchema(Ordered):
    plugins = fields.List(fields.Nested(PluginSchema), required=True)


class PluginPatchSchema(Schema):
    """Only the keys given change; null puts a key back to its default."""

    enabled = fields.Boolean()
    name = fields.String(allow_none=True, validate=validate.Length(min=1, max=200))
    interval = fields.Raw(allow_none=True, metadata=_SECONDS)
    cron = fields.String(allow_none=True, validate=validate.Length(min=1, max=100))
    timezone = fields.String(allow_none=True, validate=validate.Length(min=1, max=64))
    timeout = fields.Raw(allow_none=True, metadata=_SECONDS)
    retry_count = fields.Integer(allow_none=True, validate=validate.Range(min=0, max=100))
    retry_delay = fields.Raw(allow_none=True, metadata=_SECONDS)
    retry_backoff = fields.Float(allow_none=True, validate=validate.Range(min=1, max=100))
    queue = fields.String(allow_none=True, validate=validate.Length(min=1, max=100))
    tags = fields.Dict(
        keys=fields.String(validate=validate.Length(min=1, max=100)),
        values=fields.String(allow_none=True),
        metadata={"description": "Tag name -> value; null removes the tag."},
    )
    config = fields.Dict(
        keys=fields.String(validate=validate.Length(min=1, max=200)),
        metadata={"description": "Option -> value, validated by the plugin; null = default."},
    )


class TaskCreatedSchema(Ordered):
    task_id = fields.String(required=True)
    plugin_id = fields.String(required=True)
    state = fields.String(required=True, metadata={"example": "PENDING"})
