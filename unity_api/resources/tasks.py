"""`/api/v1/tasks/{task_id}`: the state of an ad-hoc collection."""

from __future__ import annotations

import uuid
from typing import Any

from flask_smorest import Blueprint

from unity_api.context import settings
from unity_api.dispatch import task_state
from unity_api.errors import fail
from unity_api.schemas.tasks import TaskSchema

blp = Blueprint(
    "tasks", __name__, url_prefix="/api/v1/tasks", description="Ad-hoc collection tasks."
)


@blp.route("/<string:task_id>")
@blp.response(200, TaskSchema)
def get_task(task_id: str) -> dict[str, Any]:
    """State of a task from `POST /api/v1/plugins/{plugin_id}/collect`; metrics once done."""
    try:
        uuid.UUID(task_id)
    except ValueError:
        fail(404, f"no task {task_id!r}: task ids are UUIDs")
    return task_state(task_id, settings())
