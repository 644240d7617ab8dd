"""Worker fixtures for the alert tests: the workers suite's broker and deployment."""

from __future__ import annotations

from tests.integration.workers.conftest import (
    _private_redis,
    broker_url,
    deployment,
    pytest_runtest_makereport,
)

__all__ = ["_private_redis", "broker_url", "deployment", "pytest_runtest_makereport"]
