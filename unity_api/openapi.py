"""Write the OpenAPI document, so the committed `unity_api/openapi.json` can be refreshed.

    python -m unity_api.openapi > unity_api/openapi.json

tests/integration/api/test_openapi.py fails when the committed file and the app disagree,
so every API change shows up in review as a change to that file.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from unity_core.config import load_settings

COMMITTED = Path(__file__).with_name("openapi.json")


def document() -> dict[str, Any]:
    """The app's OpenAPI document (built on a throwaway configuration; no database is read)."""
    from unity_api.app import create_app

    with tempfile.TemporaryDirectory() as folder:
        settings = load_settings(None, environ={"UNITY_DATA_DIR": folder})
        app = create_app(settings)
        spec: dict[str, Any] = app.test_client().get("/api/openapi.json").json
        app.extensions["unity"].engine.dispose()
    return spec


def render(spec: dict[str, Any]) -> str:
    return json.dumps(spec, indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render(document()))
