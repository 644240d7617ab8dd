"""Bearer-token authentication and scope checks, before every request.

Open without a token: /healthz, /readyz, the OpenAPI document and its page, CORS preflights,
and /metrics when `api.metrics_public` is set. Everything else needs
`Authorization: Bearer <token>`: read scope for GET/HEAD, write for changes, admin for the
tokens resource. No or an unknown/revoked token is 401 (with `WWW-Authenticate: Bearer`);
a valid token whose scope is too small is 403.

Verified tokens are remembered in-process for `UNITY_TOKEN_CACHE_SECONDS` (5 s) so a busy
client does not cost a database read per request; a revocation therefore takes effect
within that time.
"""

from __future__ import annotations

import threading
import time

from flask import Flask, current_app, g, request

from unity_api.errors import fail
from unity_core.tokens import Scope, TokenInfo, hash_token, verify_token

OPEN_ENDPOINTS = frozenset(
    {"health.healthz", "health.readyz", "api-docs.openapi_json", "api-docs.openapi_swagger_ui"}
)
ADMIN_BLUEPRINTS = frozenset({"tokens"})
#: POSTs that only read (a query too large for a URL): read scope is enough.
READING_POSTS = frozenset({"ai.Context"})
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="unity"'}


class _Remembered:
    """Recently verified tokens by hash: TokenInfo and when to verify again."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._found: dict[str, tuple[float, TokenInfo]] = {}

    def get(self, digest: str) -> TokenInfo | None:
        with self._lock:
            entry = self._found.get(digest)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, digest: str, info: TokenInfo, seconds: float) -> None:
        if seconds <= 0:
            return
        with self._lock:
            if len(self._found) > 10_000:
                self._found.clear()
            self._found[digest] = (time.monotonic() + seconds, info)


def needed_scope() -> Scope | None:
    """The scope this request needs, or None when it is open."""
    endpoint = request.endpoint or ""
    if request.method == "OPTIONS" or endpoint in OPEN_ENDPOINTS:
        return None
    if endpoint == "health.metrics" and current_app.config["UNITY_METRICS_PUBLIC"]:
        return None
    if endpoint.split(".", 1)[0] in ADMIN_BLUEPRINTS:
        return Scope.ADMIN
    if request.method in ("GET", "HEAD") or endpoint in READING_POSTS:
        return Scope.READ
    return Scope.WRITE


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    kind, _, token = header.partition(" ")
    if kind.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def authenticate() -> None:
    """before_request: 401/403 unless the request may go on; the token is left in g."""
    if request.routing_exception is not None:
        return  # unknown path or method: let routing answer 404/405
    needed = needed_scope()
    if needed is None:
        return
    token = bearer_token()
    if token is None:
        fail_401("missing bearer token: send 'Authorization: Bearer <token>'")
    info = _verify(token)
    if info is None:
        fail_401("invalid or revoked token")
    g.unity_token = info
    if not info.scope.allows(needed):
        fail(403, f"token {info.name!r} has scope {info.scope.value}; this needs {needed.value}")


def fail_401(message: str) -> None:
    from flask_smorest import abort

    abort(401, message=message, headers=_CHALLENGE)


def _verify(token: str) -> TokenInfo | None:
    from unity_api.context import api_context

    remembered: _Remembered = current_app.extensions["unity_tokens"]
    digest = hash_token(token)
    info = remembered.get(digest)
    if info is not None:
        return info
    with api_context().sessions() as session:
        info = verify_token(session, token)
        session.commit()
    if info is not None:
        remembered.put(digest, info, float(current_app.config["UNITY_TOKEN_CACHE_SECONDS"]))
    return info


def init_app(app: Flask) -> None:
    app.extensions["unity_tokens"] = _Remembered()
    app.config.setdefault("UNITY_TOKEN_CACHE_SECONDS", 5.0)
    app.before_request(authenticate)
