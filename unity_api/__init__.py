"""Unity's REST API: a flask-smorest shell around unity_core (see `create_app`)."""

from __future__ import annotations

from unity_api.app import create_app

__all__ = ["create_app"]
