"""The one place unity_core errors become HTTP: every error is `{code, status, message, errors}`.

flask-smorest already renders HTTPExceptions (werkzeug's, webargs' 422s, flask-limiter's
429) in that shape; this module adds the mapping of Unity's own errors and `fail()` for
views that reject input themselves.
"""

from __future__ import annotations

import logging
from typing import Any, NoReturn

from flask import Flask
from flask_smorest import abort
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES

from unity_core.errors import (
    AlertNotFound,
    ConfigError,
    IntegrityViolation,
    PluginConfigError,
    PluginNotFound,
    SchemaOutOfDate,
    StorageError,
    StorageUnavailable,
    UnityError,
)
from unity_core.tokens import TokenError, TokenNotFound

log = logging.getLogger("unity.api")

#: Most specific first: the first matching class decides the status.
_STATUS: tuple[tuple[type[UnityError], int], ...] = (
    (PluginNotFound, 404),
    (AlertNotFound, 404),
    (TokenNotFound, 404),
    (PluginConfigError, 422),
    (ConfigError, 422),
    (TokenError, 422),
    (IntegrityViolation, 409),
    (StorageUnavailable, 503),
    (SchemaOutOfDate, 503),
    (StorageError, 500),
)


def fail(status: int, message: str, errors: dict[str, Any] | None = None) -> NoReturn:
    """Reject the request with `status` and a message naming what is wrong."""
    if errors is None:
        abort(status, message=message)
    abort(status, message=message, errors=errors)


def payload(status: int, message: str, errors: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "code": status,
        "status": HTTP_STATUS_CODES.get(status, "Error"),
        "message": message,
    }
    if errors:
        body["errors"] = errors
    return body


def status_of(error: UnityError) -> int:
    for cls, status in _STATUS:
        if isinstance(error, cls):
            return status
    return 500


def _unity_error(error: UnityError) -> tuple[dict[str, Any], int]:
    status = status_of(error)
    if status >= 500:
        log.error("request failed: %s", error, exc_info=status == 500)
    message = str(error) if status != 500 else "internal error (see the API log)"
    errors = None
    if isinstance(error, PluginConfigError | ConfigError):
        errors = {"problems": list(error.problems)}
    return payload(status, message, errors), status


def _with_message(error: HTTPException) -> Any:
    """HTTPExceptions raised without a message get werkzeug's description as one."""
    data = getattr(error, "data", None) or {}
    if "message" not in data and error.description:
        data = {**data, "message": error.description}
        error.data = data  # type: ignore[attr-defined]
    return error


def init_app(app: Flask, handle_http: Any) -> None:
    app.register_error_handler(UnityError, _unity_error)

    def http_error(error: HTTPException) -> Any:
        return handle_http(_with_message(error))

    app.register_error_handler(HTTPException, http_error)
