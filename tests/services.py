"""Shared fixtures for real services: databases on all three dialects, and Redis.

A service that cannot be reached skips its tests with the reason, unless
UNITY_REQUIRE_SERVICES=1 (set by .ci/run), which turns the skip into a failure.
Plugin test folders reach these through the root conftest's `pytest_plugins`.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, inspect, text
from sqlalchemy.engine import make_url

from unity_core.storage.engine import make_engine

REQUIRE_SERVICES = os.environ.get("UNITY_REQUIRE_SERVICES") == "1"
POSTGRES_ADMIN_URL = os.environ.get(
    "UNITY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
MARIADB_ADMIN_URL = os.environ.get(
    "UNITY_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test"
)
REDIS_URL = os.environ.get("UNITY_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")

DIALECTS = ("sqlite", "postgresql", "mariadb")


def service_unreachable(service: str, url: str, error: BaseException) -> None:
    """Skip (or, under UNITY_REQUIRE_SERVICES=1, fail) naming the service and the reason."""
    safe = make_url(url).render_as_string(hide_password=True) if "://" in url else url
    message = f"{service} unreachable at {safe}: {type(error).__name__}: {error}".splitlines()[0]
    if REQUIRE_SERVICES:
        pytest.fail(message + " (UNITY_REQUIRE_SERVICES=1)", pytrace=False)
    pytest.skip(message)


class _ServerDatabases:
    """Creates throwaway databases on one server and drops them at the end of the session."""

    def __init__(self, service: str, admin_url: str) -> None:
        self.service = service
        self.admin_url = admin_url
        self.created: list[str] = []
        self._admin: Engine | None = None
        self._error: BaseException | None = None

    def admin(self) -> Engine:
        if self._error is not None:
            service_unreachable(self.service, self.admin_url, self._error)
        if self._admin is None:
            engine = create_engine(
                self.admin_url,
                isolation_level="AUTOCOMMIT",
                connect_args={"connect_timeout": 5},
            )
            try:
                with engine.connect() as conn:
                    conn.execute(text("SELECT 1"))
            except Exception as error:  # any failure to connect means "unreachable"
                self._error = error
                service_unreachable(self.service, self.admin_url, error)
            self._admin = engine
        return self._admin

    def new_database(self) -> str:
        name = f"unity_t_{uuid.uuid4().hex[:12]}"
        with self.admin().connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name}"))
        self.created.append(name)
        return make_url(self.admin_url).set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        if self._admin is None:
            return
        with self._admin.connect() as conn:
            for name in self.created:
                if self.service == "PostgreSQL":
                    conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                else:
                    conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        self._admin.dispose()


@pytest.fixture(scope="session")
def server_databases() -> Iterator[dict[str, _ServerDatabases]]:
    servers = {
        "postgresql": _ServerDatabases("PostgreSQL", POSTGRES_ADMIN_URL),
        "mariadb": _ServerDatabases("MariaDB", MARIADB_ADMIN_URL),
    }
    yield servers
    for server in servers.values():
        server.drop_all()


def _new_database_url(dialect: str, servers: dict[str, _ServerDatabases], tmp: Path) -> str:
    if dialect == "sqlite":
        return f"sqlite:///{tmp / f'unity-{uuid.uuid4().hex[:8]}.db'}"
    return servers[dialect].new_database()


@pytest.fixture(params=DIALECTS)
def empty_database_url(
    request: pytest.FixtureRequest,
    server_databases: dict[str, _ServerDatabases],
    tmp_path: Path,
) -> str:
    """A URL to a brand-new, empty database on each dialect in turn (for migration tests)."""
    return _new_database_url(request.param, server_databases, tmp_path)


@pytest.fixture(scope="session")
def _migrated_urls(
    server_databases: dict[str, _ServerDatabases], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    return {}


def _migrate(url: str) -> None:
    from unity_core.storage.migrate import upgrade

    upgrade(url)


def truncate_all(engine: Engine) -> None:
    """Empty every Unity table, children first, keeping the schema (and partitions) in place."""
    from unity_core.storage.catalog import forget_known_series
    from unity_core.storage.models import Base

    forget_known_series()
    names = set(inspect(engine).get_table_names())
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            if table.name in names:
                conn.execute(table.delete())


@pytest.fixture(params=DIALECTS)
def database_url(
    request: pytest.FixtureRequest,
    server_databases: dict[str, _ServerDatabases],
    _migrated_urls: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    """A URL to a database at the migration head, emptied before each test, per dialect.

    Each dialect's database is migrated once per session; tests start from empty tables.
    """
    dialect: str = request.param
    if dialect not in _migrated_urls:
        url = _new_database_url(dialect, server_databases, tmp_path_factory.mktemp("sqlite"))
        _migrate(url)
        _migrated_urls[dialect] = url
    url = _migrated_urls[dialect]
    engine = make_engine(url)
    try:
        truncate_all(engine)
    finally:
        engine.dispose()
    yield url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on `database_url` (each dialect, migrated, empty), disposed afterwards."""
    eng = make_engine(database_url)
    yield eng
    eng.dispose()


@pytest.fixture
def redis_url() -> str:
    """The loopback Redis (database 15, flushed before the test)."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.flushdb()
    except Exception as error:
        service_unreachable("Redis", REDIS_URL, error)
    finally:
        client.close()
    return REDIS_URL
