"""The processing pipeline: a declared list of small stages from a Collection to storage rows."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from unity_core.errors import CollectionFailed
from unity_core.pipeline.derive import Derive
from unity_core.pipeline.enrich import Enrich, EnrichContext
from unity_core.pipeline.rates import CounterMemory, CounterSample, LocalCounters, Rates
from unity_core.pipeline.stage import Batch, Draft, MetricRejected, Rejection, Stage
from unity_core.pipeline.transform import Transform, standard_unit
from unity_core.pipeline.validate import SUMMARY_METRIC, Validate
from unity_core.plugins.sdk import Collection, Plugin
from unity_core.storage.batch import MetricRow

log = logging.getLogger("unity.pipeline")

#: The order is data, declared once (cf. dramatiq's default_middleware).
default_stages: tuple[type[Stage], ...] = (Validate, Transform, Derive, Rates, Enrich)


@dataclass(frozen=True)
class PipelineResult:
    """The rows to store (the summary row last, when asked for) and the metrics refused."""

    rows: list[MetricRow] = field(default_factory=list)
    rejects: list[Rejection] = field(default_factory=list)


class Pipeline:
    """Runs one Collection through its stages; holds no per-run state, so one can be shared.

    A metric a stage refuses becomes a Rejection and the rest of the run carries on. A
    stage that fails as a whole (a bug, not a bad metric) is logged with its name and
    raised as CollectionFailed, so the caller records a failed run instead of crashing.
    """

    def __init__(self, stages: Sequence[Stage] | None = None) -> None:
        self.stages: tuple[Stage, ...] = (
            tuple(stages) if stages is not None else tuple(cls() for cls in default_stages)
        )

    def process(
        self,
        collection: Collection,
        plugin_cls: type[Plugin],
        context: EnrichContext,
        *,
        counters: CounterMemory | None = None,
    ) -> PipelineResult:
        """The run's rows and rejects; `counters` is where Rates finds previous samples."""
        slot = collection.slot_time
        if slot.utcoffset() is None:
            raise ValueError(f"{collection.plugin_id}: slot time {slot.isoformat()} is naive")
        try:
            drafts = [Draft(metric) for metric in collection.metrics]
        except Exception as error:
            raise CollectionFailed(
                collection.plugin_id, f"its metrics could not be read: {error}"
            ) from error
        batch = Batch(
            collection=collection,
            plugin_cls=plugin_cls,
            context=context,
            drafts=drafts,
            now=context.now or datetime.now(UTC),
            slot_time=slot.astimezone(UTC),
            counters=counters,
        )
        for stage in self.stages:
            try:
                batch = stage.process(batch)
            except Exception as error:
                log.exception("%s: pipeline stage %s failed", collection.plugin_id, stage.name)
                raise CollectionFailed(
                    collection.plugin_id, f"pipeline stage {stage.name} failed: {error}"
                ) from error
        return PipelineResult(batch.rows, batch.rejects)


__all__ = [  # noqa: RUF022 - grouped by concept, not alphabetically (STYLE 9.15)
    # running
    "Pipeline",
    "PipelineResult",
    "EnrichContext",
    "Rejection",
    "default_stages",
    # writing stages
    "Stage",
    "Batch",
    "Draft",
    "MetricRejected",
    # the stages
    "Validate",
    "Transform",
    "Derive",
    "Rates",
    "Enrich",
    # counter memory for Rates
    "CounterMemory",
    "CounterSample",
    "LocalCounters",
    "SUMMARY_METRIC",
    "standard_unit",
]
