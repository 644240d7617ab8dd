"""Transform: sample times in UTC, standard unit names, and the stored value shape."""

from __future__ import annotations

from datetime import UTC

from unity_core.pipeline.stage import Batch, Draft, Stage

#: Spellings plugins use for the same unit, mapped to the one name Unity stores. Values are
#: never rescaled: "ms" stays milliseconds, so a stored number always means what was read.
UNIT_ALIASES: dict[str, str] = {
    "%": "percent",
    "pct": "percent",
    "percentage": "percent",
    "B": "bytes",
    "byte": "bytes",
    "s": "seconds",
    "sec": "seconds",
    "secs": "seconds",
    "second": "seconds",
    "°C": "celsius",
    "degC": "celsius",
}


def standard_unit(unit: str) -> str:
    """The stored name of `unit` ("%" -> "percent", "B" -> "bytes"); unknown names unchanged."""
    return UNIT_ALIASES.get(unit, unit)


class Transform(Stage):
    """Gives each metric its sample time, unit and stored value.

    The sample time is the metric's own time in UTC, else the run's scheduled slot: the
    slot is the dedup key, so a redelivered or retried run of the same slot produces the
    same (series, time) keys and stores nothing twice. A declared unit wins over the one
    reported. Scalars are stored as {"value": v, "type": ..., "unit": ...} ("unit" only
    when there is one); a mapping value is stored as it is.
    """

    name = "Transform"

    def process_draft(self, draft: Draft, batch: Batch) -> None:
        spec = draft.spec
        unit = spec.unit if spec is not None and spec.unit else draft.unit
        if unit:
            unit = UNIT_ALIASES.get(unit, unit)
        when = draft.time
        if when is None:
            draft.time = batch.slot_time
        elif when.tzinfo is not UTC:
            draft.time = when.astimezone(UTC)
        value = draft.value
        if type(value) is dict:
            draft.payload = value
        elif unit:
            draft.payload = {"value": value, "type": draft.type, "unit": unit}
        else:
            draft.payload = {"value": value, "type": draft.type}
        draft.unit = unit
