"""The state of an ad-hoc collection task."""

from __future__ import annotations

from marshmallow import fields

from unity_api.schemas.common import Ordered


class TaskSchema(Ordered):
    task_id = fields.String(required=True)
    state = fields.String(
        required=True,
        metadata={
            "description": "Celery state: PENDING (also for unknown ids), STARTED, "
            "RETRY, SUCCESS, FAILURE"
        },
    )
    ready = fields.Boolean(required=True)
    ok = fields.Boolean(metadata={"description": "Once ready: whether the collection succeeded."})
    metrics = fields.Integer(
        metadata={
            "description": "Once ready: metrics collected and handed to the persist "
            "stage (stored when its batch commits)."
        }
    )
    rejected = fields.Integer(metadata={"description": "Metrics refused by validation."})
    error = fields.String()
