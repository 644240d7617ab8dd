"""Derive: metrics a plugin declares with `MetricSpec(derive=...)`, computed from the others."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from weakref import WeakKeyDictionary

from unity_core.pipeline.stage import Batch, Draft, Stage
from unity_core.pipeline.transform import standard_unit
from unity_core.plugins.formula import parse_formula
from unity_core.plugins.sdk import Metric, MetricSpec, Plugin

log = logging.getLogger("unity.pipeline")

_derived: WeakKeyDictionary[type[Plugin], tuple[tuple[MetricSpec, ...], tuple[MetricSpec, ...]]]
_derived = WeakKeyDictionary()

#: One group of a run's numbers: same sample time, same metric tags.
_Group = tuple[datetime | None, tuple[tuple[str, str], ...]]


def derived_specs(plugin_cls: type[Plugin]) -> tuple[MetricSpec, ...]:
    """The plugin's metrics that declare `derive`, in declared order (built once per class)."""
    declared = plugin_cls.metrics
    cached = _derived.get(plugin_cls)
    if cached is None or cached[0] is not declared:
        cached = (declared, tuple(spec for spec in declared if spec.derive is not None))
        _derived[plugin_cls] = cached
    return cached[1]


def computed_draft(
    source: Metric, value: float, kind: str, unit: str, spec: MetricSpec | None
) -> Draft:
    """A Draft for a value the pipeline computed, filled in as Validate and Transform would."""
    payload: dict[str, Any] = {"value": value, "type": kind}
    if unit:
        payload["unit"] = unit
    return Draft(
        source=source,
        name=source.name,
        value=value,
        type=kind,
        unit=unit,
        spec=spec,
        tags=dict(source.tags) if source.tags else None,
        time=source.time,
        numeric=value,
        payload=payload,
    )


class Derive(Stage):
    """Adds each declared derived metric to every tag group of the run that has its inputs.

    A group is the run's numeric metrics with equal tags and sample time, so per-disk
    `disk_used / disk_total` pairs up by mountpoint. Derived metrics are computed in
    declared order and join their group, so a later formula may use an earlier one. A
    metric the plugin reported itself is kept as reported. A result outside the spec's
    minimum/maximum is rejected with the reason, like a reported one; a formula without a
    value (a missing input, division by zero) adds nothing. Costs nothing for plugins
    that declare no derived metric.
    """

    name = "Derive"

    def process(self, batch: Batch) -> Batch:
        derived = derived_specs(batch.plugin_cls)
        if not derived:
            return batch
        groups: dict[_Group, dict[str, float]] = {}
        for draft in batch.drafts:
            if draft.numeric is not None:
                ident = (draft.time, tuple(sorted(draft.tags.items())) if draft.tags else ())
                groups.setdefault(ident, {}).setdefault(draft.name, draft.numeric)
        for spec in derived:
            for (when, tags), values in groups.items():
                if spec.name in values:
                    continue
                self._add(batch, spec, when, dict(tags), values)
        return batch

    def _add(
        self,
        batch: Batch,
        spec: MetricSpec,
        when: datetime | None,
        tags: dict[str, str],
        values: dict[str, float],
    ) -> None:
        source = Metric(spec.name, None, tags, when, spec.type, spec.unit)
        try:
            value = _value_of(spec, values)
        except Exception as error:  # a plugin's derive function is plugin code: contain it
            log.warning("%s: deriving %s failed: %s", batch.collection.plugin_id, spec.name, error)
            batch.reject(
                computed_draft(source, 0.0, str(spec.type), "", spec),
                f"{spec.name}: derive failed: {type(error).__name__}: {error}",
            )
            return
        if value is None:
            return
        source.value = value
        draft = computed_draft(source, value, str(spec.type), standard_unit(spec.unit), spec)
        if spec.minimum is not None and value < spec.minimum:
            batch.reject(draft, f"{spec.name}: derived value {value:g} is below {spec.minimum:g}")
        elif spec.maximum is not None and value > spec.maximum:
            batch.reject(draft, f"{spec.name}: derived value {value:g} is above {spec.maximum:g}")
        else:
            values[spec.name] = value
            batch.drafts.append(draft)


def _value_of(spec: MetricSpec, values: Mapping[str, float]) -> float | None:
    derive = spec.derive
    if isinstance(derive, str):
        return parse_formula(derive).evaluate(values)
    assert derive is not None
    try:
        result = derive(values)
    except (KeyError, ZeroDivisionError):  # a missing input or 0 total: no value, as a formula
        return None
    if result is None:
        return None
    number = float(result)
    return number if number - number == 0.0 else None
