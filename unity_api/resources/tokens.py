"""`/api/v1/tokens`: API tokens over HTTP (admin scope), like `unity tokens`."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from unity_api.context import read_session, request_session
from unity_api.schemas.tokens import (
    TokenCreatedSchema,
    TokenCreateSchema,
    TokenListSchema,
    TokenSchema,
)
from unity_core.tokens import create_token, list_tokens, revoke_token

blp = Blueprint(
    "tokens",
    __name__,
    url_prefix="/api/v1/tokens",
    description="API tokens: list, create (the secret is returned once), revoke. Admin scope.",
)


def _view(info: Any) -> dict[str, Any]:
    data = asdict(info)
    data["scope"] = info.scope.value
    return data


@blp.route("")
class Tokens(MethodView):
    @blp.response(200, TokenListSchema)
    def get(self) -> dict[str, Any]:
        """Every token, revoked ones included; never the secrets."""
        return {"tokens": [_view(t) for t in list_tokens(read_session())]}

    @blp.arguments(TokenCreateSchema())
    @blp.response(201, TokenCreatedSchema)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create a token; the response carries its secret, which is never shown again."""
        session = request_session(write=True)
        secret = create_token(session, body["name"], body["scope"])
        session.commit()
        info = next(t for t in list_tokens(session) if t.name == body["name"].strip())
        return {**_view(info), "token": secret}


@blp.route("/<string:name>")
class TokenByName(MethodView):
    @blp.response(200, TokenSchema)
    def delete(self, name: str) -> dict[str, Any]:
        """Revoke a token: requests with it are refused (401) within a few seconds."""
        session = request_session(write=True)
        info = revoke_token(session, name)
        session.commit()
        return _view(info)
