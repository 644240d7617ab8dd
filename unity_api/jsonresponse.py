"""Fast JSON responses for hot read paths whose payload is already plain JSON data.

flask-smorest passes a returned Response through untouched, so these views still declare
their schema (for the OpenAPI document) but skip marshmallow's dump, which costs more than
the cache lookup they serve from.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from flask import Response

_encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=None)


def iso(value: datetime | str | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return value.isoformat()


def encode(data: Any) -> str:
    return _encoder.encode(data)


def json_response(data: Any, status: int = 200) -> Response:
    return text_response(_encoder.encode(data), status)


def text_response(text: str, status: int = 200) -> Response:
    """A response whose body is JSON text already (e.g. kept in the cache as text)."""
    return Response(text, status=status, mimetype="application/json")
