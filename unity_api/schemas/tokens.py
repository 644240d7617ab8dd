"""API tokens (admin scope): the secret appears only in the create response."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from unity_api.schemas.common import Ordered
from unity_core.tokens import Scope

_SCOPES = [s.value for s in Scope]


class TokenCreateSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    scope = fields.String(load_default="read", validate=validate.OneOf(_SCOPES))


class TokenSchema(Ordered):
    name = fields.String(required=True)
    scope = fields.String(required=True, validate=validate.OneOf(_SCOPES))
    created_at = fields.DateTime(required=True)
    last_used_at = fields.DateTime(required=True, allow_none=True)
    revoked_at = fields.DateTime(required=True, allow_none=True)


class TokenCreatedSchema(TokenSchema):
    token = fields.String(
        required=True, metadata={"description": "The secret; shown only this once."}
    )


class TokenListSchema(Ordered):
    tokens = fields.List(fields.Nested(TokenSchema), required=True)
