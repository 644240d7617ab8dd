"""Liveness and readiness payloads."""

from __future__ import annotations

from marshmallow import fields

from unity_api.schemas.common import Ordered


class HealthSchema(Ordered):
    status = fields.String(required=True, metadata={"example": "ok"})


class CheckSchema(Ordered):
    name = fields.String(required=True, metadata={"description": "database, broker or cache"})
    ok = fields.Boolean(required=True)
    detail = fields.String(required=True)
    required = fields.Boolean(
        required=True, metadata={"description": "Whether readiness depends on this part."}
    )


class ReadySchema(Ordered):
    ready = fields.Boolean(required=True)
    checks = fields.List(fields.Nested(CheckSchema), required=True)
