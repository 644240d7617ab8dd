"""API bearer tokens: create (the secret is shown once), list, revoke, verify. Never commits.

Only the SHA-256 hex digest of a token is stored, so a leaked database does not leak
usable tokens. A token is `unity_` + 43 URL-safe characters (256 bits from `secrets`);
SHA-256 without a salt is enough for secrets of that strength (there is nothing to guess).
Scopes are ordered: read < write < admin, and a token may do everything its scope and the
scopes below it allow.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from unity_core.errors import UnityError
from unity_core.storage.engine import translate_errors
from unity_core.storage.models import ApiToken
from unity_core.storage.types import utcnow

PREFIX = "unity_"
#: last_used_at is written at most this often per token, so reads do not all become writes.
LAST_USED_RESOLUTION = timedelta(seconds=60)


class Scope(StrEnum):
    """What a token may do: read (GET), write (changes), admin (tokens and everything else)."""

    READ = "read"
    WRITE = "write"
    ADMIN = "admin"

    def allows(self, needed: Scope) -> bool:
        """True when this scope includes `needed`."""
        order = list(Scope)
        return order.index(self) >= order.index(needed)


class TokenError(UnityError):
    """A token cannot be created or revoked as asked; the message says why."""


class TokenNotFound(TokenError):
    """No token has this name."""


@dataclass(frozen=True)
class TokenInfo:
    """A stored token without its secret."""

    name: str
    scope: Scope
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def hash_token(token: str) -> str:
    """The stored form of a token: its SHA-256 as 64 hex characters."""
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session: Session, name: str, scope: Scope | str) -> str:
    """Store a new token named `name` and return its secret (the only time it exists).

    Raises TokenError for an empty or taken name or an unknown scope.
    """
    scope = _scope(scope)
    name = name.strip()
    if not name or len(name) > 100:
        raise TokenError("token name must be 1 to 100 characters")
    with translate_errors(f"reading token {name!r}"):
        taken = session.scalar(select(ApiToken.id).where(ApiToken.name == name))
    if taken is not None:
        raise TokenError(f"a token named {name!r} already exists (revoke it or pick another name)")
    secret = PREFIX + secrets.token_urlsafe(32)
    with translate_errors(f"creating token {name!r}"):
        session.add(ApiToken(name=name, token_hash=hash_token(secret), scope=scope.value))
        session.flush()
    return secret


def list_tokens(session: Session) -> list[TokenInfo]:
    """Every token, revoked ones included, oldest first."""
    with translate_errors("listing tokens"):
        rows = session.scalars(select(ApiToken).order_by(ApiToken.created_at, ApiToken.name))
        return [_info(row) for row in rows]


def revoke_token(session: Session, name: str) -> TokenInfo:
    """Revoke the token named `name` (it stays listed, marked revoked); TokenNotFound if unknown."""
    with translate_errors(f"revoking token {name!r}"):
        row = session.scalar(select(ApiToken).where(ApiToken.name == name))
        if row is None:
            raise TokenNotFound(f"no token named {name!r}")
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            session.flush()
    return _info(row)


def verify_token(session: Session, token: str, *, now: datetime | None = None) -> TokenInfo | None:
    """The active token matching `token`, recording its use; None when unknown or revoked.

    last_used_at is updated when it is older than LAST_USED_RESOLUTION (the caller commits).
    """
    if not token.startswith(PREFIX):
        return None
    now = now or utcnow()
    with translate_errors("verifying a token"):
        row = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
        if row is None or row.revoked_at is not None:
            return None
        if row.expires_at is not None and row.expires_at <= now:
            return None
        if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
            session.execute(update(ApiToken).where(ApiToken.id == row.id).values(last_used_at=now))
            row.last_used_at = now
    return _info(row)


def _scope(value: Scope | str) -> Scope:
    try:
        return Scope(value)
    except ValueError:
        choices = ", ".join(s.value for s in Scope)
        raise TokenError(f"unknown scope {value!r}; use one of {choices}") from None


def _info(row: ApiToken) -> TokenInfo:
    return TokenInfo(
        name=row.name,
        scope=Scope(row.scope),
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )
