"""Pieces several resources share: ordered schemas and ISO times."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from marshmallow import Schema, fields


class Ordered(Schema):
    class Meta:
        ordered = True


class IsoDateTime(fields.DateTime):
    """A date-time that core code may already have rendered as an ISO 8601 string."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        if isinstance(value, str) or value is None:
            return value
        assert isinstance(value, datetime)
        return super()._serialize(value, attr, obj, **kwargs)
