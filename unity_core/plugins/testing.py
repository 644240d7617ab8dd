"""Helpers for plugin tests: an accumulator that records and asserts, and a one-call collect.

acc = collect(SystemPlugin, {"percpu": False})
acc.assert_metric("cpu_percent", value=lambda v: 0 <= v <= 100)
acc.assert_no_errors()
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from unity_core.plugins.registry.options import validate_config
from unity_core.plugins.runner import CollectingAccumulator
from unity_core.plugins.sdk import Metric, MetricType, Plugin

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


def _value_matches(actual: Any, expected: Any) -> bool:
    if callable(expected) and not isinstance(expected, _Any):
        return bool(expected(actual))
    return bool(actual == expected)
