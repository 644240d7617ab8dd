"""One blueprint per resource; `BLUEPRINTS` is the order they are registered in."""

from __future__ import annotations

from flask_smorest import Blueprint

from unity_api.resources.ai import blp as ai
from unity_api.resources.alerts import blp as alerts
from unity_api.resources.health import blp as health
from unity_api.resources.metrics import blp as metrics
from unity_api.resources.plugins import blp as plugins
from unity_api.resources.status import blp as status
from unity_api.resources.tasks import blp as tasks
from unity_api.resources.tokens import blp as tokens

BLUEPRINTS: tuple[Blueprint, ...] = (
    health,
    plugins,
    tasks,
    metrics,
    status,
    alerts,
    ai,
    tokens,
)
