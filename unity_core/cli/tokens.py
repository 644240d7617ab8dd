"""`unity tokens create / list / revoke`: API bearer tokens (the secret is printed once)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click
from sqlalchemy.orm import Session

from unity_core.cli.context import database_session
from unity_core.tokens import Scope, TokenError, create_token, list_tokens, revoke_token

__all__ = ["tokens"]


@contextmanager
def _session(ctx: click.Context) -> Iterator[Session]:
    with database_session(ctx, bad_input=(TokenError,)) as session:
        yield session


@click.group()
def tokens() -> None:
    """API tokens: `Authorization: Bearer <token>` on every request but /healthz."""


@tokens.command("create")
@click.option("--name", required=True, help="A unique name, e.g. the client using it.")
@click.option(
    "--scope",
    type=click.Choice([s.value for s in Scope]),
    default=Scope.READ.value,
    show_default=True,
    help="read: GET requests; write: changes too; admin: everything.",
)
@click.pass_context
def create(ctx: click.Context, name: str, scope: str) -> None:
    """Create a token and print it. It is shown only this once: only its hash is stored."""
    with _session(ctx) as session:
        secret = create_token(session, name, scope)
    click.echo(secret)
    click.echo(
        f"token {name!r} ({scope}) created; store it now, it cannot be shown again", err=True
    )


@tokens.command("list")
@click.pass_context
def list_(ctx: click.Context) -> None:
    """Every token: name, scope, created, last used, state (secrets are never shown)."""
    with _session(ctx) as session:
        found = list_tokens(session)
    if not found:
        click.echo("no tokens (create one with `unity tokens create --name N --scope read`)")
    for info in found:
        used = f"{info.last_used_at:%Y-%m-%d %H:%M:%S}" if info.last_used_at else "never"
        state = "active" if info.active else f"revoked {info.revoked_at:%Y-%m-%d %H:%M:%S}"
        click.echo(
            f"{info.name}  {info.scope.value}  created {info.created_at:%Y-%m-%d %H:%M:%S}"
            f"  last used {used}  {state}"
        )


@tokens.command("revoke")
@click.argument("name")
@click.pass_context
def revoke(ctx: click.Context, name: str) -> None:
    """Revoke the token NAME: requests with it get 401 from now on."""
    with _session(ctx) as session:
        revoke_token(session, name)
    click.echo(f"token {name!r} revoked")
