"""A test client with tokens, and the registry and samples the API tests read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from unity_api.context import ApiContext, dispose
from unity_core.config import Settings
from unity_core.storage import make_sessionmaker, register_plugin, upsert_status, write_batch
from unity_core.storage.batch import MetricRow

#: Samples end at the start of the current minute; two hours of one-minute samples.
SAMPLES_PER_SERIES = 120
CORES = ("0", "1")


@dataclass
class Api:
    app: Flask
    settings: Settings
    context: ApiContext
    tokens: dict[str, str]
    #: The end of the seeded samples (the newest is one minute before it).
    end: datetime | None = None

    @property
    def client(self) -> FlaskClient:
        return self.app.test_client()

    def call(
        self, method: str, path: str, scope: str | None = "admin", **kwargs: Any
    ) -> TestResponse:
        headers = dict(kwargs.pop("headers", {}))
        if scope is not None:
            headers["Authorization"] = f"Bearer {self.tokens[scope]}"
        return self.client.open(path, method=method.upper(), headers=headers, **kwargs)

    def get(self, path: str, scope: str | None = "read", **kwargs: Any) -> TestResponse:
        return self.call("GET", path, scope, **kwargs)

    def close(self) -> None:
        dispose(self.context)


def now_minute() -> datetime:
    return datetime.now(UTC).replace(second=0, microsecond=0)


def sample_rows(end: datetime, count: int = SAMPLES_PER_SERIES) -> list[MetricRow]:
    """cpu_percent per core (value = minutes before `end`, core 1 + 100) and memory_used."""
    rows = []
    for i in range(count):
        at = end - timedelta(minutes=count - i)
        for core in CORES:
            value = float(i + (100 if core == "1" else 0))
            rows.append(
                MetricRow.build(
                    at, "system", "cpu_percent", {"value": value, "unit": "percent"},
                    numeric_value=value, tags={"host": "nas", "core": core},
                )
            )  # fmt: skip
        rows.append(MetricRow.build(at, "system", "memory_used", float(i), tags={"host": "nas"}))
    return rows


def seed(api: Api) -> datetime:
    """Registry: `system` (enabled, healthy) and `disk` (disabled); two hours of samples."""
    end = now_minute()
    with make_sessionmaker(api.context.engine)() as session:
        register_plugin(session, "system", "System", enabled=True, plugin="system")
        register_plugin(session, "disk", "Disk", enabled=False, plugin="system")
        upsert_status(session, "system", last_run=end, last_success=end, health_status="ok")
        write_batch(session, sample_rows(end))
        session.commit()
    api.end = end
    return end
