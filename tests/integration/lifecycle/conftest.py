"""The worker tests' fixtures (a private Redis, real worker processes), for test_tasks.py."""

from __future__ import annotations

from tests.integration.workers.conftest import (  # noqa: F401 - pytest finds fixtures by name
    _private_redis,
    broker_url,
    deployment,
)
