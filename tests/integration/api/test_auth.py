"""Authentication and scopes over every operation of the OpenAPI document (the auth matrix)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from tests.integration.api.helpers import Api
from unity_core.storage import make_sessionmaker
from unity_core.storage.models import ApiToken
from unity_core.tokens import create_token, revoke_token

#: The scope each operation needs (None: open). A new operation must be added here.
EXPECTED: dict[tuple[str, str], str | None] = {
    ("get", "/healthz"): None,
    ("get", "/readyz"): None,
    ("get", "/metrics"): "read",
    ("get", "/api/v1/plugins"): "read",
    ("get", "/api/v1/plugins/{plugin_id}"): "read",
    ("patch", "/api/v1/plugins/{plugin_id}"): "write",
    ("post", "/api/v1/plugins/{plugin_id}/collect"): "write",
    ("get", "/api/v1/tasks/{task_id}"): "read",
    ("get", "/api/v1/metrics"): "read",
    ("get", "/api/v1/metrics/latest"): "read",
    ("get", "/api/v1/status"): "read",
    ("get", "/api/v1/dashboard/summary"): "read",
    ("get", "/api/v1/alerts"): "read",
    ("post", "/api/v1/alerts"): "write",
    ("get", "/api/v1/alerts/{alert_id}"): "read",
    ("patch", "/api/v1/alerts/{alert_id}"): "write",
    ("delete", "/api/v1/alerts/{alert_id}"): "write",
    ("get", "/api/v1/alerts/history"): "read",
    ("get", "/api/v1/ai/metrics"): "read",
    ("post", "/api/v1/ai/context"): "read",
    ("get", "/api/v1/ai/alerts/{alert_id}/analysis"): "read",
    ("get", "/api/v1/tokens"): "admin",
    ("post", "/api/v1/tokens"): "admin",
    ("delete", "/api/v1/tokens/{name}"): "admin",
}
SCOPES = ("read", "write", "admin")
#: Path values that exist where reading is harmless, and do not where acting would matter
#: (so an allowed collect or revoke answers 404 instead of queueing or revoking).
PATH_VALUES = {
    "plugin_id": "system",
    "task_id": str(uuid.UUID(int=1)),
    "alert_id": str(uuid.UUID(int=2)),
    "name": "no-such-token",
}
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("patch", "/api/v1/plugins/{plugin_id}"): {"enabled": True},
    ("post", "/api/v1/alerts"): {
        "name": "cpu",
        "condition": {
            "kind": "threshold",
            "plugin": "system",
            "metric": "cpu_percent",
            "operator": ">",
            "threshold": 95,
        },
    },
    ("patch", "/api/v1/alerts/{alert_id}"): {"enabled": False},
    ("post", "/api/v1/ai/context"): {"query": "cpu"},
    ("post", "/api/v1/tokens"): {"name": "another", "scope": "read"},
}


def operations(api: Api) -> list[tuple[str, str]]:
    spec = api.get("/api/openapi.json", scope=None).json
    assert spec is not None
    return sorted(
        (method, path)
        for path, item in spec["paths"].items()
        for method in item
        if method in ("get", "post", "patch", "delete", "put")
    )


def url(path: str, method: str) -> str:
    concrete = path
    for name, value in PATH_VALUES.items():
        if method == "post" and name == "plugin_id" and path.endswith("/collect"):
            value = "no-such-plugin"
        concrete = concrete.replace("{" + name + "}", value)
    return concrete


def test_every_documented_operation_has_an_expected_scope(api: Api) -> None:
    # Given the OpenAPI document
    documented = set(operations(api))
    # Then the matrix covers exactly its operations
    assert documented == set(EXPECTED)


def test_each_operation_answers_401_403_or_proceeds_by_scope(api: Api) -> None:
    for method, path in operations(api):
        needed = EXPECTED[(method, path)]
        target = url(path, method)
        body = BODIES.get((method, path))
        # Without a token: 401 with a Bearer challenge, unless the operation is open
        anonymous = api.call(method, target, scope=None, json=body)
        if needed is None:
            assert anonymous.status_code == 200, (method, path, anonymous.json)
            continue
        assert anonymous.status_code == 401, (method, path)
        assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
        assert anonymous.json["code"] == 401
        # With a token nobody issued: 401
        forged = api.call(
            method, target, scope=None, json=body,
            headers={"Authorization": "Bearer unity_" + "x" * 43},
        )  # fmt: skip
        assert forged.status_code == 401, (method, path)
        # With each scope: 403 below the needed one, never 401/403 at or above it
        for scope in SCOPES:
            response = api.call(method, target, scope=scope, json=body)
            allowed = SCOPES.index(scope) >= SCOPES.index(needed)
            if allowed:
                assert response.status_code not in (401, 403), (method, path, scope, response.json)
                assert response.status_code < 500, (method, path, scope, response.json)
            else:
                assert response.status_code == 403, (method, path, scope)
                assert needed in response.json["message"]


def test_a_revoked_token_gets_401(api: Api) -> None:
    # Given a read token that works
    assert api.get("/api/v1/plugins").status_code == 200
    # When it is revoked
    with make_sessionmaker(api.context.engine)() as session:
        revoke_token(session, "test-read")
        session.commit()
    # Then it is refused as unauthenticated
    response = api.get("/api/v1/plugins")
    assert response.status_code == 401
    assert "revoked" in response.json["message"]


def test_a_request_records_when_the_token_was_last_used(api: Api) -> None:
    # Given a fresh token never used
    with make_sessionmaker(api.context.engine)() as session:
        secret = create_token(session, "fresh", "read")
        session.commit()
    before = datetime.now(UTC)
    # When a request uses it
    response = api.client.get("/api/v1/status", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 200
    # Then its last-used time is recorded, and only its hash is stored
    with make_sessionmaker(api.context.engine)() as session:
        row = session.scalars(select(ApiToken).where(ApiToken.name == "fresh")).one()
    assert row.last_used_at is not None and row.last_used_at >= before.replace(microsecond=0)
    assert secret not in (row.token_hash, row.name) and len(row.token_hash) == 64


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer   ", "unity_abc"])
def test_malformed_authorization_headers_get_401(api: Api, header: str) -> None:
    response = api.call("GET", "/api/v1/status", scope=None, headers={"Authorization": header})
    assert response.status_code == 401
    assert set(response.json) >= {"code", "status", "message"}


@pytest.mark.parametrize("field", ["config", "queue"])
def test_changing_what_a_plugin_runs_or_where_needs_admin(api: Api, field: str) -> None:
    # Given a write token, which may enable, disable and retime plugins
    body = {"config": {"percpu": False}} if field == "config" else {"queue": "host.nas"}
    assert (
        api.call("PATCH", "/api/v1/plugins/system", "write", json={"interval": 90}).status_code
        == 200
    )
    # When it tries to change the config or the queue
    refused = api.call("PATCH", "/api/v1/plugins/system", "write", json=body)
    # Then it is refused by name, and an admin token may
    assert refused.status_code == 403 and field in refused.json["message"]
    assert "admin" in refused.json["message"]
    assert api.call("PATCH", "/api/v1/plugins/system", "admin", json=body).status_code == 200
