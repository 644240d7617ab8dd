"""Alert rules and their history."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from unity_api.schemas.common import Ordered
from unity_core.alerts import Severity

_SEVERITY = validate.OneOf([s.value for s in Severity])
_CONDITION = (
    "The rule's condition: `kind` threshold | change_rate | no_data | plugin_health, `plugin`, "
    "and per kind `metric`, `tags`, `aggregation`, `window`, `operator`, `threshold`, `for`, "
    "`hysteresis`, `unit`, `minutes`, `states` (e.g. "
    '{"kind": "threshold", "plugin": "system", "metric": "cpu_percent", "operator": ">", '
    '"threshold": 90, "window": "5m", "for": "2m"}).'
)


class AlertCreateSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    condition = fields.Dict(required=True, metadata={"description": _CONDITION})
    enabled = fields.Boolean(load_default=True)
    severity = fields.String(load_default="warning", validate=_SEVERITY)


class AlertPatchSchema(Schema):
    name = fields.String(validate=validate.Length(min=1, max=200))
    condition = fields.Dict(metadata={"description": _CONDITION})
    enabled = fields.Boolean()
    severity = fields.String(validate=_SEVERITY)


class AlertSchema(Ordered):
    id = fields.UUID(required=True)
    name = fields.String(required=True)
    plugin_id = fields.String(required=True, allow_none=True)
    condition = fields.Dict(required=True)
    description = fields.String(required=True, metadata={"description": "The rule in words."})
    enabled = fields.Boolean(required=True)
    severity = fields.String(required=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)


class AlertListArgsSchema(Schema):
    plugin_id = fields.String(validate=validate.Length(min=1, max=100))
    enabled = fields.Boolean()


class AlertListSchema(Ordered):
    alerts = fields.List(fields.Nested(AlertSchema), required=True)


class HistoryArgsSchema(Schema):
    alert_id = fields.UUID()
    from_ = fields.String(data_key="from", metadata={"description": "ISO 8601 or `24h`, `7d`."})
    to = fields.String(metadata={"description": "ISO 8601 or relative; default now."})
    triggered = fields.Boolean()
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))
    cursor = fields.String(validate=validate.Length(max=200))


class HistoryEntrySchema(Ordered):
    id = fields.UUID(required=True)
    alert_id = fields.UUID(required=True)
    time = fields.DateTime(required=True)
    triggered = fields.Boolean(required=True)
    value = fields.Dict(required=True, allow_none=True)


class HistorySchema(Ordered):
    entries = fields.List(fields.Nested(HistoryEntrySchema), required=True)
    next_cursor = fields.String(required=True, allow_none=True)
