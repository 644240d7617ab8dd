"""Helpers for plugin tests: an accumulator that records and asserts, and a one-call collect.

acc = collect(SystemPlugin, {"percpu": False})
acc.assert_metric("cpu_percent", value=lambda v: 0 <= v <= 100)
acc.assert_no_errors()
acc.assert_as_declared(SystemPlugin)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from unity_core.plugins.registry.options import validate_config
from unity_core.plugins.runner import CollectingAccumulator
from unity_core.plugins.sdk import Metric, MetricSpec, MetricType, Plugin

__all__ = ["ANY", "RecordingAccumulator", "collect"]


class _Any:
    def __eq__(self, other: object) -> bool:
        return True

    def __hash__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return "ANY"


#: Matches any value in assert_metric(value=...).
ANY: Any = _Any()


class RecordingAccumulator(CollectingAccumulator):
    """A CollectingAccumulator with assertions whose failures show what was recorded."""

    def find(self, name: str, tags: Mapping[str, Any] | None = None) -> list[Metric]:
        """Metrics called `name` whose tags include every given tag (values compared as str)."""
        wanted = {str(k): str(v) for k, v in (tags or {}).items()}
        return [
            m
            for m in self.metrics
            if m.name == name and all(m.tags.get(k) == v for k, v in wanted.items())
        ]

    def assert_metric(
        self,
        name: str,
        tags: Mapping[str, Any] | None = None,
        value: Any = ANY,
        *,
        type: MetricType | None = None,
        unit: str | None = None,
    ) -> Metric:
        """The one matching metric; AssertionError listing the candidates otherwise.

        `value` is compared with ==, or called when it is a function (a predicate). With
        tags=None any tags match, but exactly one metric may match: give tags to pick one.
        """
        found = [
            m
            for m in self.find(name, tags)
            if _value_matches(m.value, value)
            and (type is None or m.type == type)
            and (unit is None or m.unit == unit)
        ]
        if len(found) == 1:
            return found[0]
        recorded = (
            "\n".join(
                f"  {m.name} {m.tags} = {m.value!r} ({m.type}, {m.unit})"
                for m in self.metrics
                if m.name == name
            )
            or "  (none)"
        )
        criteria = f"tags={dict(tags or {})}, value={value!r}, type={type}, unit={unit}"
        raise AssertionError(
            f"expected exactly one {name!r} metric with {criteria}, found {len(found)};"
            f" recorded {name!r} metrics:\n{recorded}"
        )

    def assert_no_metric(self, name: str, tags: Mapping[str, Any] | None = None) -> None:
        found = self.find(name, tags)
        assert not found, f"expected no {name!r} metric with tags {tags}, found {found}"

    def assert_no_errors(self) -> None:
        assert not self.errors, f"expected no per-item errors, got {self.errors}"

    def assert_as_declared(
        self, plugin: type[Plugin], *, absent: Iterable[str] = (), numeric: bool = True
    ) -> None:
        """What was recorded is what `plugin` declares: AssertionError listing every difference.

        Every declared metric appears but those in `absent` (what this host or server lacks)
        and the derived ones (the pipeline computes those), and nothing undeclared does. Each
        recorded metric has its spec's unit and type and only the spec's tags; with `numeric`
        its value is a number (not a bool) within the spec's minimum and maximum.
        """
        declared = {spec.name: spec for spec in plugin.metrics}
        lacking = set(absent)
        expected = {name for name, spec in declared.items() if spec.derive is None} - lacking
        problems = [f"  {name}: declared, not recorded" for name in sorted(expected - self.names())]
        for metric in self.metrics:
            spec = declared.get(metric.name)
            if spec is None:
                problems.append(f"  {metric.name}: recorded, not declared")
                continue
            problems.extend(
                f"  {metric.name} {metric.tags}: {p}" for p in _deviations(metric, spec, numeric)
            )
            if metric.name in lacking:
                problems.append(f"  {metric.name}: recorded, though expected absent")
        if problems:
            raise AssertionError(
                f"{plugin.id}: recorded metrics differ from the declared ones:\n"
                + "\n".join(dict.fromkeys(problems))
            )

    def names(self) -> set[str]:
        """Every metric name recorded."""
        return {m.name for m in self.metrics}


def collect(
    plugin: type[Plugin] | Plugin, config: Mapping[str, Any] | None = None
) -> RecordingAccumulator:
    """Validate `config`, run setup/collect_data/teardown once in this thread, return the record.

    Unlike the runner there is no deadline and exceptions propagate, so tests see them raw.
    """
    if isinstance(plugin, Plugin):
        instance = plugin
    else:
        instance = plugin(validate_config(plugin, plugin.id, config), instance_id=plugin.id)
    acc = RecordingAccumulator()
    instance.setup()
    try:
        instance.collect_data(acc)
    finally:
        instance.teardown()
    return acc


def _deviations(metric: Metric, spec: MetricSpec, numeric: bool) -> list[str]:
    """How one recorded metric differs from its spec; empty when it is as declared."""
    found = []
    if (metric.unit, metric.type) != (spec.unit, spec.type):
        found.append(f"{metric.type}, {metric.unit!r}; declared {spec.type}, {spec.unit!r}")
    if undeclared := set(metric.tags) - set(spec.tags):
        found.append(f"tags {sorted(undeclared)} not declared (declared: {list(spec.tags)})")
    value = metric.value
    if numeric and (isinstance(value, bool) or not isinstance(value, int | float)):
        found.append(f"value {value!r} is not a number")
    elif isinstance(value, int | float):
        if spec.minimum is not None and value < spec.minimum:
            found.append(f"value {value} is below the minimum {spec.minimum}")
        if spec.maximum is not None and value > spec.maximum:
            found.append(f"value {value} is above the maximum {spec.maximum}")
    return found


def _value_matches(actual: Any, expected: Any) -> bool:
    if callable(expected) and not isinstance(expected, _Any):
        return bool(expected(actual))
    return bool(actual == expected)
