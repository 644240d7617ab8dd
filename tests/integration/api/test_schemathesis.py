"""Schemathesis over the OpenAPI document: no server errors, no response off its schema.

Every operation is exercised with generated (valid and invalid) requests, authenticated
with an admin token, on each database with the Redis cache. Checks: not_a_server_error,
response_schema_conformance, content_type_conformance, status_code_conformance (every
status answered is documented), response_headers_conformance.
"""

from __future__ import annotations

import os
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.integration.api.helpers import Api

#: Generated requests per operation (x 2 phases of schemathesis' own generation modes).
MAX_EXAMPLES = int(os.environ.get("UNITY_SCHEMATHESIS_EXAMPLES", "30"))
#: UNITY_SCHEMATHESIS_RANDOM=1 explores new examples each run instead of the fixed ones.
DERANDOMIZE = os.environ.get("UNITY_SCHEMATHESIS_RANDOM") != "1"
KNOWN = {"plugin_id": "system", "metric_name": "cpu_percent"}
ALERT = {
    "name": "cpu high",
    "condition": {"kind": "threshold", "plugin": "system", "metric": "cpu_percent",
                  "operator": ">", "threshold": 50, "window": "10m"},
}  # fmt: skip
CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    content_type_conformance,
    status_code_conformance,
    response_headers_conformance,
]


def test_generated_requests_get_documented_answers(api: Api) -> None:
    # Given the app's own OpenAPI document (the collect endpoint left out: it would queue
    # real Celery tasks; its auth and 404 are in test_auth.py, the round trip in
    # test_collect_task.py)
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", api.app)
    schema = schema.exclude(path_regex=r"/collect$")
    headers = {"Authorization": f"Bearer {api.tokens['admin']}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    # And a rule, so half of the generated requests can name things that exist
    created = api.call("POST", "/api/v1/alerts", json=ALERT)
    assert created.status_code == 201, created.json
    known = {**KNOWN, "alert_id": created.json["id"]}
    for operation in operations:
        # When generated requests hit each operation, Then every answer passes the checks
        exercise(operation, headers, known)


def with_known(case: Any, known: dict[str, str]) -> Any:
    """The case with ids that exist wherever it has such a parameter."""
    for part in (case.path_parameters, case.query):
        if part:
            for name, value in known.items():
                if name in part:
                    part[name] = value
    return case


def exercise(operation: Any, headers: dict[str, str], known: dict[str, str]) -> None:
    cases = operation.as_strategy().flatmap(
        lambda case: st.sampled_from([case, with_known(case, known)])
    )

    @given(case=cases)
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=DERANDOMIZE,
        database=None,
    )
    def run(case: Any) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    run()
