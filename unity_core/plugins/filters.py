"""Include/exclude filters by shell pattern, for plugins that let users pick what they read.

One meaning everywhere (system mount points, interfaces and devices, docker containers,
prometheus metrics): an empty `include` admits every name, a non-empty one only names that
match one of its patterns, and `exclude` always wins. Patterns are fnmatch globs (`eth*`,
`sd?[0-9]`), matched case-sensitively on every platform so a config means the same on
Linux and macOS.

    DockerConfig = with_filter(_EngineConfig, "DockerConfig", include="...", exclude="...")
    wanted = NameFilter.from_config(self.config)
    containers = [c for c in listed if wanted.admits(c.name)]
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from marshmallow import Schema, fields

__all__ = ["NameFilter", "matches", "with_filter"]


def matches(name: str, patterns: Iterable[str]) -> bool:
    """Whether `name` matches any of the shell patterns (none given: False)."""
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


@dataclass(frozen=True)
class NameFilter:
    """Loaded `include`/`exclude` patterns; `admits` says whether an item passes them."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None) -> NameFilter:
        """From a mapping holding `include`/`exclude` lists; missing or empty ones admit all."""
        config = config or {}
        return cls(tuple(config.get("include") or ()), tuple(config.get("exclude") or ()))

    def admits(self, *names: str) -> bool:
        """Whether an item known by these names passes: any one of them may match a pattern.

        Several names serve items with an alias, e.g. a Prometheus sample and its family, so
        that `node_cpu_*` or excluding a histogram's family covers all its series.
        """
        if self.include and not any(matches(name, self.include) for name in names):
            return False
        return not any(matches(name, self.exclude) for name in names)


def with_filter(base: type[Schema], name: str, *, include: str, exclude: str) -> type[Schema]:
    """`base` plus `include` and `exclude` (lists of patterns, default empty), as class `name`.

    `include` and `exclude` are the fields' descriptions, shown by `unity plugins info`:
    each plugin says what its patterns are matched against. Built with Schema.from_dict
    because a field named `exclude` in a class body would shadow Schema.exclude.
    """
    patterns: dict[str, fields.Field[Any]] = {
        "include": fields.List(
            fields.String(), load_default=list, metadata={"description": include}
        ),
        "exclude": fields.List(
            fields.String(), load_default=list, metadata={"description": exclude}
        ),
    }
    return base.from_dict(patterns, name=name)
