"""Rate limits per token, the request size limit, CORS off unless configured."""

from __future__ import annotations

from pathlib import Path

from tests.integration.api.conftest import build_api


def test_a_token_over_its_rate_limit_gets_429_while_others_carry_on(
    tmp_path: Path, database_url: str, redis_url: str
) -> None:
    # Given a limit of 3 requests a minute, kept in Redis
    api = build_api(tmp_path, database_url, redis_url, rate_limit="3/minute")
    try:
        # When one token makes a fourth request
        answers = [api.get("/api/v1/status", scope="read").status_code for _ in range(4)]
        # Then it is refused in the common error shape, and another token is not
        assert answers == [200, 200, 200, 429]
        refused = api.get("/api/v1/status", scope="read")
        assert refused.json["code"] == 429
        # And it says when to come back: within the minute's window
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert api.get("/api/v1/status", scope="write").status_code == 200
        # And liveness is never limited
        assert all(api.get("/healthz", scope=None).status_code == 200 for _ in range(5))
    finally:
        api.close()


def test_a_body_over_the_size_limit_is_413(tmp_path: Path, database_url: str) -> None:
    api = build_api(tmp_path, database_url, None, max_request_bytes=2048)
    try:
        big = {"query": "x" * 4096}
        response = api.call("POST", "/api/v1/ai/context", scope="read", json=big)
        assert response.status_code == 413
        assert response.json["code"] == 413
    finally:
        api.close()


def test_cors_is_off_by_default_and_on_for_configured_origins(
    tmp_path: Path, database_url: str
) -> None:
    plain = build_api(tmp_path / "plain", database_url, None)
    allowed = build_api(tmp_path / "cors", database_url, None, cors_origins=["https://dash.lan"])
    try:
        origin = {"Origin": "https://dash.lan"}
        closed = plain.get("/api/v1/status", headers=origin)
        assert "Access-Control-Allow-Origin" not in closed.headers
        opened = allowed.get("/api/v1/status", headers=origin)
        assert opened.headers["Access-Control-Allow-Origin"] == "https://dash.lan"
        other = allowed.get("/api/v1/status", headers={"Origin": "https://evil.example"})
        assert "Access-Control-Allow-Origin" not in other.headers
        preflight = allowed.client.options(
            "/api/v1/status",
            headers={**origin, "Access-Control-Request-Method": "GET",
                     "Access-Control-Request-Headers": "Authorization"},
        )  # fmt: skip
        assert preflight.status_code == 200
    finally:
        plain.close()
        allowed.close()


def test_nul_characters_are_refused_as_bad_input(tmp_path: Path, database_url: str) -> None:
    # Given text no database can store (PostgreSQL refuses NUL in text)
    api = build_api(tmp_path, database_url, None)
    try:
        # When it arrives in a query, a path or a JSON body, Then it is a 422, not a 500
        assert api.get("/api/v1/metrics/latest?plugin_id=a%00b").status_code == 422
        assert api.get("/api/v1/plugins/a%00b").status_code == 422
        body = {"name": "a\x00b", "condition": {"kind": "no_data", "plugin": "x", "minutes": 5}}
        response = api.call("POST", "/api/v1/alerts", scope="write", json=body)
        assert response.status_code == 422 and "NUL" in response.json["message"]
    finally:
        api.close()
