"""`unity tokens create / list / revoke`: the secret printed once, only its hash stored."""

from __future__ import annotations

from pathlib import Path

import yaml
from click.testing import CliRunner
from sqlalchemy import select

from unity_core.cli import main
from unity_core.storage import make_engine, make_sessionmaker
from unity_core.storage.models import ApiToken
from unity_core.tokens import hash_token, verify_token


def run(config: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--config", str(config), "tokens", *args])
    return result.exit_code, result.stdout, result.stderr


def test_create_list_revoke(tmp_path: Path, database_url: str) -> None:
    config = tmp_path / "unity.yaml"
    config.write_text(yaml.safe_dump({"database": {"url": database_url}}), encoding="utf-8")
    # When a token is created
    code, out, err = run(config, "create", "--name", "grafana", "--scope", "write")
    # Then its secret is printed once and only its SHA-256 is stored
    assert code == 0, err
    secret = out.strip()
    assert secret.startswith("unity_") and "cannot be shown again" in err
    engine = make_engine(database_url)
    try:
        with make_sessionmaker(engine)() as session:
            row = session.scalars(select(ApiToken).where(ApiToken.name == "grafana")).one()
            assert row.token_hash == hash_token(secret) and row.scope == "write"
            assert verify_token(session, secret) is not None
            session.commit()
        # And it is listed without its secret, with its last use
        code, out, _ = run(config, "list")
        assert code == 0 and "grafana  write" in out and secret not in out
        assert "last used never" not in out
        # And a second token of that name is refused, as is an unknown scope
        assert run(config, "create", "--name", "grafana")[0] == 2
        assert run(config, "create", "--name", "x", "--scope", "root")[0] == 2
        # When it is revoked, Then it no longer verifies and is listed as revoked
        code, out, _ = run(config, "revoke", "grafana")
        assert code == 0
        with make_sessionmaker(engine)() as session:
            assert verify_token(session, secret) is None
        assert "revoked" in run(config, "list")[1]
        assert run(config, "revoke", "nobody")[0] == 2
    finally:
        engine.dispose()
