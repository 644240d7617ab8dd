"""Range queries and latest values: query parameters and responses."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from unity_api.schemas.common import Ordered
from unity_core.storage.queries import Aggregate, Resolution

#: The most points one range response may carry (the `limit` cap).
MAX_LIMIT = 50_000
DEFAULT_LIMIT = 10_000

_TIME = "ISO 8601 time (naive means UTC), `now`, or relative to now: `15m`, `24h`, `7d`, `2w`."


class RangeArgsSchema(Schema):
    plugin_id = fields.String(required=True, validate=validate.Length(min=1, max=100))
    metric_name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    from_ = fields.String(
        data_key="from", metadata={"description": _TIME + " Default: `to` minus 1 hour."}
    )
    to = fields.String(metadata={"description": _TIME + " Default: now."})
    resolution = fields.String(
        load_default=Resolution.AUTO.value,
        validate=validate.OneOf([r.value for r in Resolution]),
        metadata={"description": "auto keeps every series at or below ~2,000 points."},
    )
    agg = fields.String(
        load_default=Aggregate.AVG.value, validate=validate.OneOf([a.value for a in Aggregate])
    )
    bucket = fields.String(
        metadata={"description": "Bucket width (e.g. `5m`, `1h`); default chosen by resolution."}
    )
    cursor = fields.String(
        validate=validate.Length(max=500),
        metadata={"description": "`next_cursor` of the previous page (keeps from/to fixed)."},
    )
    limit = fields.Integer(
        load_default=DEFAULT_LIMIT,
        validate=validate.Range(min=1, max=MAX_LIMIT),
        metadata={"description": f"Most points in this page, over all series (≤ {MAX_LIMIT})."},
    )


class PointSchema(Ordered):
    time = fields.DateTime(required=True)
    value = fields.Float(required=True, allow_none=True)
    data = fields.Dict(metadata={"description": "The stored value (raw samples only)."})


class SeriesSchema(Ordered):
    series_key = fields.String(required=True)
    tags = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    points = fields.List(fields.Nested(PointSchema), required=True)


class RangeSchema(Ordered):
    plugin_id = fields.String(required=True)
    metric_name = fields.String(required=True)
    from_ = fields.DateTime(required=True, data_key="from")
    to = fields.DateTime(required=True)
    resolution = fields.String(required=True, metadata={"description": "What was read."})
    bucket_seconds = fields.Integer(required=True, allow_none=True)
    agg = fields.String(required=True)
    series = fields.List(fields.Nested(SeriesSchema), required=True)
    truncated = fields.Boolean(required=True)
    next_cursor = fields.String(required=True, allow_none=True)


class LatestArgsSchema(Schema):
    plugin_id = fields.String(validate=validate.Length(min=1, max=100))
    metric_name = fields.String(validate=validate.Length(min=1, max=200))


class SampleSchema(Ordered):
    plugin_id = fields.String(required=True)
    metric_name = fields.String(required=True)
    series_key = fields.String(required=True)
    time = fields.DateTime(required=True)
    value = fields.Raw(required=True, metadata={"description": "The stored JSON value."})
    numeric_value = fields.Float(required=True, allow_none=True)
    tags = fields.Dict(keys=fields.String(), values=fields.String(), required=True)


class LatestSchema(Ordered):
    source = fields.String(required=True, validate=validate.OneOf(["cache", "database", "mixed"]))
    samples = fields.List(fields.Nested(SampleSchema), required=True)
