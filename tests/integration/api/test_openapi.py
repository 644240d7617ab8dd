"""The committed OpenAPI document matches the app, and documents every operation fully."""

from __future__ import annotations

import json

from unity_api.openapi import COMMITTED, document, render


def test_the_committed_document_is_what_the_app_serves() -> None:
    # Given the document the app builds
    current = render(document())
    # Then it is the committed one (refresh: python -m unity_api.openapi > unity_api/openapi.json)
    assert COMMITTED.read_text(encoding="utf-8") == current


def test_every_operation_has_a_summary_a_success_schema_and_the_error_shape() -> None:
    spec = json.loads(COMMITTED.read_text(encoding="utf-8"))
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    error = spec["components"]["schemas"]["Error"]["properties"]
    assert set(error) == {"code", "status", "message", "errors"}
    ids = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method not in ("get", "post", "patch", "delete"):
                continue
            label = f"{method.upper()} {path}"
            assert operation.get("summary") or operation.get("description"), label
            success = [code for code in operation["responses"] if code.startswith("2")]
            assert len(success) == 1, label
            assert "default" in operation["responses"], label
            ids.append(operation["operationId"])
    # And every operation has its own operationId, so generated clients get method names
    assert len(ids) == len(set(ids)) >= 20
