"""Rate limits per token (flask-limiter; Redis when a cache is configured), CORS only when
configured, and the request size limit."""

from __future__ import annotations

import hashlib
import math
import time
from typing import Any

from flask import Flask, Response, g, request
from flask_cors import CORS
from flask_limiter import Limiter, RequestLimit

from unity_api.auth import bearer_token
from unity_api.errors import fail
from unity_api.ratelimits import SCHEME_PREFIX
from unity_core.config import Settings

#: Never rate-limited: liveness must answer whatever a client does.
UNLIMITED_ENDPOINTS = frozenset({"health.healthz"})


def rate_key() -> str:
    """The token's hash when one is sent (limits follow the token), else the client address."""
    token = bearer_token()
    if token:
        return "t:" + hashlib.sha256(token.encode()).hexdigest()[:32]
    return "a:" + (request.remote_addr or "unknown")


def _storage_uri(settings: Settings) -> str:
    url = settings.cache.url if settings.cache.enabled else None
    if url and url.startswith(("redis://", "rediss://")):
        return SCHEME_PREFIX + url  # counted in batches: unity_api/ratelimits.py
    if url and url.startswith("unix://"):
        return SCHEME_PREFIX + "redis+" + url
    return "memory://"


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def reject_nul() -> None:
    """before_request: 422 for NUL characters anywhere in the input.

    No database stores them in text (PostgreSQL refuses them outright), so they are bad
    input, not a reason for a 500 further down.
    """
    where = None
    if any(_has_nul(k) or _has_nul(v) for k, v in request.args.items(multi=True)):
        where = "query"
    elif request.view_args and _has_nul(request.view_args):
        where = "path"
    elif request.is_json and _has_nul(request.get_json(silent=True)):
        where = "json"
    if where is not None:
        fail(422, f"NUL characters are not allowed ({where})")


def _remember_retry_after(limit: RequestLimit) -> None:
    """on_breach: how long until the window resets, for the 429's Retry-After header.

    Rate-limit headers on every answer would cost a storage call each (so they are off);
    only a refused request pays for this one.
    """
    try:
        seconds = math.ceil(limit.window[0] - time.time())
    except Exception:  # the storage went away mid-request: the window's length is safe
        seconds = int(limit.limit.get_expiry())
    g.unity_retry_after = max(1, seconds)


def add_retry_after(response: Response) -> Response:
    """after_request: Retry-After on every 429, so clients know when to come back."""
    if response.status_code == 429:
        response.headers["Retry-After"] = str(getattr(g, "unity_retry_after", 60))
    return response


def init_app(app: Flask, settings: Settings) -> Limiter:
    app.config["MAX_CONTENT_LENGTH"] = settings.api.max_request_bytes
    app.before_request(reject_nul)
    app.after_request(add_retry_after)
    origins = list(settings.api.cors_origins or ())
    if origins:
        CORS(app, resources={r"/api/*": {"origins": origins}}, expose_headers=["Retry-After"])
    limiter = Limiter(
        rate_key,
        app=app,
        default_limits=[settings.api.rate_limit],
        default_limits_exempt_when=lambda: request.endpoint in UNLIMITED_ENDPOINTS,
        storage_uri=_storage_uri(settings),
        storage_options={"socket_timeout": 0.5, "socket_connect_timeout": 0.5},
        # A cache outage must not take the API down: limits are then kept in memory.
        swallow_errors=True,
        in_memory_fallback_enabled=True,
        headers_enabled=False,
        on_breach=_remember_retry_after,
        key_prefix="unity:ratelimit",
        strategy="fixed-window",
    )
    return limiter
