"""Ad-hoc collection through Celery, and the state of such a task (the API may import Celery).

Unlike scheduled collections, these are sent with `ignore_result=False`, so the worker keeps
the task's result in celeryconfig's result backend (Redis with a Redis broker, files under
data_dir with the embedded one) for `result_expires` seconds.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from unity_core.config import Settings
from unity_core.plugins.registry import PluginInstance


def _export_config(settings: Settings) -> None:
    # celeryconfig reads the configuration itself; make it read the file this API uses.
    if settings.source is not None:
        os.environ.setdefault("UNITY_CONFIG", str(settings.source))


def send_collect(instance: PluginInstance, settings: Settings) -> str:
    """Queue one collection of `instance` now, with its result kept; returns the task id.

    The instance snapshot travels in the message (as beat sends it), so the worker does not
    read the registry again.
    """
    _export_config(settings)
    from unity_workers.tasks import collect, collect_options

    result: Any = collect.apply_async(
        args=[instance.plugin_id],
        kwargs={"slot": datetime.now(UTC).isoformat(), "instance": instance.to_dict()},
        ignore_result=False,
        **collect_options(instance),
    )
    return str(result.id)


def task_state(task_id: str, settings: Settings) -> dict[str, Any]:
    """The task's Celery state and, once it succeeded, what the collection produced.

    Celery cannot tell an unknown id from a queued task: both are PENDING.
    """
    _export_config(settings)
    from celery.result import AsyncResult

    from unity_workers.celery import app

    result = AsyncResult(task_id, app=app)
    state = str(result.state)
    found: dict[str, Any] = {"task_id": task_id, "state": state, "ready": result.ready()}
    if state == "SUCCESS":
        value = result.result
        if isinstance(value, dict):
            found["ok"] = bool(value.get("ok", True))
            found["metrics"] = int(value.get("rows", 0))
            found["rejected"] = int(value.get("rejected", 0))
            if value.get("error"):
                found["error"] = str(value["error"])
        else:
            found["ok"] = False
            found["error"] = "the plugin instance was not found when the task ran"
    elif state in ("FAILURE", "REVOKED"):
        found["ok"] = False
        found["error"] = str(result.result)[:2000]
    return found
