"""Everything a plugin author imports: Plugin, MetricSpec, the Accumulator and Collection.

A plugin pushes what it reads into an Accumulator and reports per-item failures with
`acc.error()`; it never decides what a failure means for the run (the runner does) and
never touches storage (the pipeline does).
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Protocol

from marshmallow import Schema

from unity_core.plugins.formula import parse_formula

#: What a metric's value may be: a number, a flag, a short text, or a mapping of those.
MetricValue = float | int | bool | str | Mapping[str, Any] | None
#: How a derived metric is computed from the numbers one run reported with the same tags:
#: a formula such as "memory_used / memory_total * 100", or a function of {name: value}
#: returning the value (None, or raising KeyError for a missing input, means no value).
Derivation = str | Callable[[Mapping[str, float]], float | None]

#: The most a value of these units can be, for MetricSpec.non_negative.
UNIT_CEILINGS: Mapping[str, float] = {"percent": 100, "boolean": 1}


class MetricType(StrEnum):
    GAUGE = "gauge"
    COUNTER = "counter"


@dataclass(frozen=True)
class MetricSpec:
    """A metric a plugin declares: validation checks emitted metrics against these.

    With `derive` the pipeline computes the metric itself (stage Derive) from the run's
    other metrics with the same tags; the plugin does not report it. A formula is checked
    here, so a typo fails when the plugin class is defined, not at its first run.
    """

    name: str
    unit: str = ""
    type: MetricType = MetricType.GAUGE
    description: str = ""
    tags: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    derive: Derivation | None = None

    @classmethod
    def non_negative(
        cls,
        name: str,
        unit: str,
        kind: MetricType,
        description: str,
        *tags: str,
        maximum: float | None = None,
    ) -> MetricSpec:
        """A metric that cannot go below 0 (counts, bytes, durations), the common case.

        `maximum` defaults to the unit's own ceiling: 100 for percent, 1 for boolean. Where
        a unit means more than that (docker's CPU percent is 100 per busy CPU), build the
        MetricSpec directly.
        """
        ceiling = UNIT_CEILINGS.get(unit) if maximum is None else maximum
        return cls(name, unit, kind, description, tags, minimum=0, maximum=ceiling)

    def __post_init__(self) -> None:
        if isinstance(self.derive, str):
            try:
                parse_formula(self.derive)
            except ValueError as error:
                raise ValueError(f"metric {self.name!r}: {error}") from None
        elif self.derive is not None and not callable(self.derive):
            raise ValueError(f"metric {self.name!r}: derive must be a formula or a function")


@dataclass
class Metric:
    """One value as a plugin reported it, before validation and transformation."""

    name: str
    value: Any
    tags: dict[str, str] = field(default_factory=dict)
    time: datetime | None = None
    type: MetricType = MetricType.GAUGE
    unit: str | None = None


class Accumulator(Protocol):
    """Where a plugin puts what it collected (cf. Telegraf's accumulator)."""

    def add_gauge(
        self,
        name: str,
        value: MetricValue,
        tags: Mapping[str, Any] | None = None,
        *,
        unit: str | None = None,
        time: datetime | None = None,
    ) -> None:
        """A current value (CPU %, free bytes). Time defaults to the scheduled slot."""

    def add_counter(
        self,
        name: str,
        value: float | int,
        tags: Mapping[str, Any] | None = None,
        *,
        unit: str | None = None,
        time: datetime | None = None,
    ) -> None:
        """A monotonically increasing total (bytes sent); the pipeline derives its rate."""

    def error(self, error: BaseException | str, *, item: str | None = None) -> None:
        """Record a failure for one item (a container, a disk) and carry on with the rest."""


@dataclass
class Collection:
    """What one run produced: its metrics, the per-item errors, and how long it took."""

    plugin_id: str
    slot_time: datetime
    metrics: list[Metric] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    duration_ms: float = 0.0

    def values(self, name: str) -> list[Any]:
        """Every value reported under `name`, in order (handy in summary())."""
        return [m.value for m in self.metrics if m.name == name]

    def first(self, name: str, default: Any = None) -> Any:
        found = self.values(name)
        return found[0] if found else default


class EmptyConfig(Schema):
    """Config schema of plugins that take no options."""


class Plugin(ABC):
    """Base class for collectors. Subclasses implement collect_data; the rest has defaults.

    One instance serves one registry entry (`instance_id`) with its validated `config`.
    Plugins must put timeouts on every network call they make; the runner's deadline is
    the last line of defence, not the first.
    """

    id: ClassVar[str]
    name: ClassVar[str]
    version: ClassVar[str] = "1.0.0"
    description: ClassVar[str] = ""
    config_schema: ClassVar[type[Schema]] = EmptyConfig
    metrics: ClassVar[tuple[MetricSpec, ...]] = ()
    #: True for plugins whose metric names are only known at run time (exec, prometheus).
    dynamic_metrics: ClassVar[bool] = False
    #: Scheduling this plugin suggests for a new instance, overriding the collection
    #: defaults: any of interval (or schedule + timezone), timeout, retry_count, retry_delay,
    #: retry_backoff — e.g. {"interval": 300, "timeout": 30} for a slow API. An instance's
    #: own settings (`unity plugins set`, the file, the API) override these in turn.
    defaults: ClassVar[Mapping[str, Any]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # A plugin that declares only its id still has a display name.
        own_id = vars(cls).get("id")
        if isinstance(own_id, str) and not isinstance(getattr(cls, "name", None), str):
            cls.name = own_id

    def __init__(self, config: Mapping[str, Any] | None = None, *, instance_id: str | None = None):
        self.config: dict[str, Any] = dict(config or {})
        self.instance_id = instance_id or self.id
        #: The instance's own logger, the one the runner reports this instance's runs on.
        self.log = logging.getLogger(f"unity.plugins.{self.instance_id}")

    def setup(self) -> None:  # noqa: B027 - an optional hook, not an abstract one
        """Check dependencies and open clients once; raise PluginConfigError on bad settings."""

    @abstractmethod
    def collect_data(self, acc: Accumulator) -> None:
        """Add this run's metrics to acc; report per-item failures with acc.error()."""

    def summary(self, collection: Collection) -> str:
        """One human sentence for the AI formats, e.g. '12 containers running, 3 stopped'."""
        return f"{len(collection.metrics)} metrics collected"

    def teardown(self) -> None:  # noqa: B027 - an optional hook, not an abstract one
        """Release what setup() opened."""

    @classmethod
    def spec(cls, name: str) -> MetricSpec | None:
        for spec in cls.metrics:
            if spec.name == name:
                return spec
        return None
