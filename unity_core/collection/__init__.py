"""Collection: run a plugin through the pipeline (collect_once), then persist and cache the outcome.

Collecting and persisting are separate steps so a slow or absent database never blocks a
collection: collect_once touches no storage, Outcome travels as encode_outcome's JSON,
and persist_outcomes writes many outcomes in one transaction.
"""

from __future__ import annotations

from unity_core.collection.collect import RunPlugin, collect_once, summarise
from unity_core.collection.outcome import (
    InstanceLike,
    Outcome,
    decode_outcome,
    describe_error,
    encode_outcome,
    failure_outcome,
)
from unity_core.collection.persist import PersistReport, after_commit, persist_outcomes
from unity_core.collection.status import Health, StatusState, apply_outcome

__all__ = [  # noqa: RUF022 - grouped by concept, not alphabetically (STYLE 9.15)
    # collecting
    "collect_once",
    "failure_outcome",
    "summarise",
    "Outcome",
    "InstanceLike",
    "RunPlugin",
    "describe_error",
    # shipping
    "encode_outcome",
    "decode_outcome",
    # persisting
    "persist_outcomes",
    "after_commit",
    "PersistReport",
    "Health",
    "StatusState",
    "apply_outcome",
]
