"""Real `celery -A unity_workers worker` processes on real Redis and databases.

Fixtures: `broker_url` (a private redis-server for the session, flushed per test; the
shared `redis_url` when redis-server is not installed) and `deployment` (harness.py: a
configuration, plugins and workers on this test's database, every process killed at
teardown, worker logs printed when the test failed). The helpers are re-exported here.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.integration.workers.faults import TcpForwarder, free_port, private_redis
from tests.integration.workers.harness import (
    QUEUE_KEYS,
    ROOT,
    ROWS_PER_RUN,
    THREE_GAUGES,
    UNITY_SCRIPT,
    Deployment,
    WorkerProcess,
    collected_payload,
    metric_names_at,
    rows,
    run_unity,
    scalar,
    wait_for,
)

__all__ = [
    "QUEUE_KEYS",
    "ROOT",
    "ROWS_PER_RUN",
    "THREE_GAUGES",
    "UNITY_SCRIPT",
    "Deployment",
    "TcpForwarder",
    "WorkerProcess",
    "collected_payload",
    "free_port",
    "metric_names_at",
    "rows",
    "run_unity",
    "scalar",
    "wait_for",
]


@pytest.fixture(scope="session")
def _private_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str | None]:
    """This session's own redis-server, or None when redis-server is not installed.

    The shared test Redis (database 15) is flushed by every test that uses `redis_url`, so a
    concurrent test run elsewhere would delete the messages a worker test is waiting for.
    """
    with private_redis(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture
def broker_url(_private_redis: str | None, request: pytest.FixtureRequest) -> str:
    """The broker for worker tests: the private Redis (flushed), else the shared `redis_url`."""
    if _private_redis is None:
        return str(request.getfixturevalue("redis_url"))
    client = redis.Redis.from_url(_private_redis)
    try:
        client.flushdb()
    finally:
        client.close()
    return _private_redis


@pytest.fixture
def deployment(
    tmp_path: Path, database_url: str, broker_url: str, request: pytest.FixtureRequest
) -> Iterator[Deployment]:
    """A deployment on this test's database and broker; workers killed afterwards."""
    deployed = Deployment(tmp_path, database_url, broker_url)
    yield deployed
    failed = getattr(request.node, "rep_call", None)
    deployed.kill_all()
    if failed is not None and failed.failed:
        sys.stderr.write(deployed.logs())


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.rep_call = report  # type: ignore[attr-defined]
    return report
