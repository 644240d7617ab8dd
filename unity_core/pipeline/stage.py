"""The Stage base class, the per-metric Draft the stages pass along, and MetricRejected."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from unity_core.plugins.sdk import Collection, MetricSpec, Plugin
from unity_core.storage.batch import MetricRow

if TYPE_CHECKING:
    from unity_core.pipeline.enrich import EnrichContext
    from unity_core.pipeline.rates import CounterMemory

log = logging.getLogger("unity.pipeline")

#: Longest text kept of a rejected value or a reason, so one bad metric cannot bloat a batch.
MAX_REJECT_TEXT = 500


class MetricRejected(Exception):
    """Raised by a stage to drop one metric; `reason` is kept and shown to the user."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True, slots=True)
class Rejection:
    """A metric the pipeline refused: its name (None if it had none), why, and what it held.

    `value` is JSON-safe: the reported value when it is a plain finite scalar, else a
    bounded repr, so rejects can always be stored and shipped between processes.
    """

    metric_name: str | None
    reason: str
    value: Any = None


@dataclass(slots=True)
class Draft:
    """One reported metric on its way through the stages; each stage fills in its part.

    Validate sets name/value/type/unit/spec/tags/time from `source`; Transform sets
    `time` (UTC), `payload` (the stored value dict) and `numeric`; Enrich builds the row.
    """

    source: object
    name: str = ""
    value: Any = None
    type: str = "gauge"
    unit: str = ""
    spec: MetricSpec | None = None
    tags: dict[str, str] | None = None
    time: datetime | None = None
    numeric: float | None = None
    payload: dict[str, Any] | None = None


@dataclass(slots=True)
class Batch:
    """What the stages work on: one run's drafts, the rejects so far, and the rows made."""

    collection: Collection
    plugin_cls: type[Plugin]
    context: EnrichContext
    drafts: list[Draft]
    #: The wall-clock time the batch entered the pipeline (bounds for metric times).
    now: datetime
    #: The run's scheduled slot in UTC: the sample time of metrics that give none.
    slot_time: datetime
    rejects: list[Rejection] = field(default_factory=list)
    rows: list[MetricRow] = field(default_factory=list)
    #: Where Rates finds each counter's previous sample; None derives no rates.
    counters: CounterMemory | None = None

    def reject(self, draft: Draft, reason: str) -> None:
        name = draft.name or getattr(draft.source, "name", None)
        self.rejects.append(
            Rejection(
                name if isinstance(name, str) else None,
                reason[:MAX_REJECT_TEXT],
                safe_value(getattr(draft.source, "value", draft.source)),
            )
        )


class Stage:
    """One step between collection and storage. Must not do I/O of its own.

    (Rates is the one stage that reads outside the batch: through the CounterMemory the
    caller hands in, in one exchange per run, and a failing memory costs only the rates.)

    The default `process` calls `process_draft` for each draft: raising MetricRejected
    drops that metric with its reason; any other exception is logged with the stage's
    name and rejects only that metric too, so one odd value never fails a whole run.
    Stages that work on the batch as a whole (Enrich) override `process`.
    """

    name: ClassVar[str] = "Stage"

    def process(self, batch: Batch) -> Batch:
        kept: list[Draft] = []
        for draft in batch.drafts:
            try:
                self.process_draft(draft, batch)
            except MetricRejected as rejected:
                batch.reject(draft, rejected.reason)
            except Exception as error:
                log.exception(
                    "%s: stage %s failed on metric %r",
                    batch.collection.plugin_id,
                    self.name,
                    draft.name or draft.source,
                )
                batch.reject(draft, f"{self.name} failed: {type(error).__name__}: {error}")
            else:
                kept.append(draft)
        batch.drafts = kept
        return batch

    def process_draft(self, draft: Draft, batch: Batch) -> None:
        raise NotImplementedError


def safe_value(value: object) -> Any:
    """`value` if it is a JSON scalar that every database accepts, else a bounded repr."""
    if value is None or isinstance(value, bool | int | str):
        if isinstance(value, str) and len(value) > MAX_REJECT_TEXT:
            return value[:MAX_REJECT_TEXT] + "…"
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**53:
            return str(value)
        return value
    if isinstance(value, float) and value - value == 0.0:
        return value
    try:
        text = repr(value)
    except Exception:  # a repr that raises must not turn a reject into a crash
        text = f"<{type(value).__name__}>"
    return text[:MAX_REJECT_TEXT]
