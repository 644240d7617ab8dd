"""The Flask app factory: settings in, a configured flask-smorest API out.

    app = create_app()                    # the configuration Unity would load anyway
    app = create_app(settings, cache=c)   # tests and benches

Layout: one blueprint per resource (`unity_api.resources`), one schema module per resource
(`unity_api.schemas`), errors mapped once (`unity_api.errors`), auth before every request
(`unity_api.auth`), limits/CORS/size (`unity_api.protection`). The OpenAPI 3 document is at
`/api/openapi.json` and a browsable page at `/api/docs`.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask_smorest import Api

from unity_api import auth, errors, protection
from unity_api.context import ApiContext, init_app
from unity_api.resources import BLUEPRINTS
from unity_core import __version__
from unity_core.cache import Cache
from unity_core.config import Settings, load_settings

API_DESCRIPTION = """Unity's REST API: the plugin registry, metrics (range queries over raw
samples and rollups, latest values), status and dashboard, alert rules, and the AI formats.

Authenticate with `Authorization: Bearer <token>` (create one with
`unity tokens create --name N --scope read|write|admin`). Read scope for GET, write for
changes, admin for tokens. Errors always have the shape `{code, status, message, errors}`.
"""


def openapi_config(settings: Settings) -> dict[str, Any]:
    return {
        "API_TITLE": "Unity",
        "API_VERSION": __version__,
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/api",
        "OPENAPI_JSON_PATH": "openapi.json",
        "OPENAPI_SWAGGER_UI_PATH": "docs",
        "OPENAPI_SWAGGER_UI_URL": "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/",
        "API_SPEC_OPTIONS": {
            "info": {"description": API_DESCRIPTION},
            "security": [{"bearerAuth": []}],
            "components": {
                "securitySchemes": {
                    "bearerAuth": {
                        "type": "http",
                        "scheme": "bearer",
                        "description": "A token from `unity tokens create`.",
                    }
                }
            },
        },
        "UNITY_METRICS_PUBLIC": settings.api.metrics_public,
        # Responses are JSON for machines; sorted keys would cost time on every request.
        "JSON_SORT_KEYS": False,
    }


def create_app(
    settings: Settings | None = None,
    *,
    cache: Cache | None = None,
    config: dict[str, Any] | None = None,
) -> Flask:
    """A ready app; the database and cache are opened lazily, on the first request."""
    settings = settings or load_settings()
    app = Flask("unity_api")
    app.config.update(openapi_config(settings))
    app.config.update(config or {})
    init_app(app, ApiContext.build(settings, cache=cache))
    auth.init_app(app)
    protection.init_app(app, settings)
    api = Api(app)
    for blueprint in BLUEPRINTS:
        api.register_blueprint(blueprint)
    _document_auth_errors(api)
    errors.init_app(app, api.handle_http_exception)
    return app


def operation_id(method: str, path: str) -> str:
    """A stable, unique operationId for client generators: `get_plugins_by_plugin_id`."""
    inside = path.startswith("/api/v1/")
    parts = [p for p in path.removeprefix("/api/v1").split("/") if p]
    words = [f"by_{p[1:-1]}" if p.startswith("{") else p.replace("-", "_") for p in parts]
    return "_".join([method, *([] if inside else ["service"]), *words])


def _document_auth_errors(api: Api) -> None:
    """Every operation gets an operationId and may answer 401, 403 and 429 (common shape)."""
    spec = api.spec
    for route, path in spec._paths.items():  # apispec keeps no public iterator over operations
        for method, operation in path.items():
            if method not in ("get", "post", "patch", "put", "delete"):
                continue
            operation.setdefault("operationId", operation_id(method, route))
            responses = operation.setdefault("responses", {})
            if operation.get("security") != []:
                responses.setdefault("401", {"$ref": "#/components/responses/UNAUTHORIZED"})
                responses.setdefault("403", {"$ref": "#/components/responses/FORBIDDEN"})
            responses.setdefault("429", {"$ref": "#/components/responses/TOO_MANY_REQUESTS"})
    for name, text in (
        ("UNAUTHORIZED", "No, an unknown or a revoked bearer token"),
        ("FORBIDDEN", "The token's scope does not allow this"),
        ("TOO_MANY_REQUESTS", "Rate limit exceeded for this token"),
    ):
        spec.components.response(
            name,
            {
                "description": text,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            },
        )
