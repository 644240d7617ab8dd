"""The API on real databases (sqlite, postgresql, mariadb) and the real Redis cache.

`api` is a Flask test client over `create_app` with a token of each scope, on this test's
database (migrated, emptied) and the shared test Redis (database 15, flushed), holding a
small registry (`system` enabled, `disk` disabled) and two hours of samples.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.integration.api.helpers import Api, seed
from unity_api import create_app
from unity_core.config import load_settings
from unity_core.storage import make_sessionmaker
from unity_core.tokens import create_token


def build_api(tmp_path: Path, database_url: str, cache_url: str | None, **api: object) -> Api:
    config: dict[str, object] = {
        "data_dir": str(tmp_path / "data"),
        "database": {"url": database_url},
        "api": {"rate_limit": "100000/minute", **api},
    }
    if cache_url:
        config["cache"] = {"url": cache_url}
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "unity.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    settings = load_settings(path, environ={})
    app = create_app(settings, config={"UNITY_TOKEN_CACHE_SECONDS": 0, "TESTING": True})
    context = app.extensions["unity"]
    tokens = {}
    with make_sessionmaker(context.engine)() as session:
        for scope in ("read", "write", "admin"):
            # Several apps may share one database in a test: one name set per folder.
            label = "" if tmp_path.name.startswith("test_") else f"-{tmp_path.name}"
            tokens[scope] = create_token(session, f"test-{scope}{label}", scope)
        session.commit()
    return Api(app, settings, context, tokens)


@pytest.fixture
def api(tmp_path: Path, database_url: str, redis_url: str) -> Iterator[Api]:
    """The API with the Redis cache on, the test registry and samples in place."""
    built = build_api(tmp_path, database_url, redis_url)
    seed(built)
    yield built
    built.close()


@pytest.fixture
def api_without_cache(tmp_path: Path, database_url: str) -> Iterator[Api]:
    built = build_api(tmp_path, database_url, None)
    seed(built)
    yield built
    built.close()
