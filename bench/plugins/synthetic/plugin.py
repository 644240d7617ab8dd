"""Synthetic plugin for bench/pipeline.py: K gauges per run from ten names, no I/O at all."""

from __future__ import annotations

import itertools

from marshmallow import Schema, fields, validate

from unity_core.plugins.sdk import Accumulator, MetricSpec, Plugin

#: Ten declared gauges; K metrics are these names over K/10 `item` tags (like disks, cores).
NAMES = tuple(f"synthetic_{n}" for n in range(10))
#: Runs in this process (a plugin object lives for one run): varies the values per run.
_runs = itertools.count()


class SyntheticConfig(Schema):
    k = fields.Integer(load_default=10, validate=validate.Range(min=1, max=100_000))


class SyntheticPlugin(Plugin):
    """Reports `k` bounded gauges per run; values vary per run so nothing compresses away."""

    id = "synthetic"
    name = "Synthetic (bench)"
    config_schema = SyntheticConfig
    metrics = tuple(MetricSpec(name, unit="percent", minimum=0, maximum=100) for name in NAMES)

    def collect_data(self, acc: Accumulator) -> None:
        base = next(_runs) * 0.37
        for i in range(int(self.config["k"])):
            value = round((base + i * 7.31) % 100, 3)
            acc.add_gauge(NAMES[i % 10], value, {"item": f"item{i // 10}"})
