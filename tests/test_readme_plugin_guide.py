"""The README's "Writing a plugin" example, run for real: it must stay short, valid and working."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from unity_core.pipeline import EnrichContext, LocalCounters, Pipeline, PipelineResult
from unity_core.plugins.registry import discover, validate_config
from unity_core.plugins.runner import run_plugin
from unity_core.plugins.sdk import Plugin

README = Path(__file__).resolve().parent.parent / "README.md"
SLOT = datetime.now(UTC).replace(microsecond=0)


def example() -> str:
    guide = README.read_text(encoding="utf-8").split("### Writing a plugin", 1)[1]
    found = re.search(r"```python\n(.*?)```", guide, re.S)
    assert found is not None, "the README's plugin guide has no python block"
    return found.group(1)


def run(cls: type[Plugin], proc: Path, memory: LocalCounters, at: timedelta) -> PipelineResult:
    plugin = cls(validate_config(cls, cls.id, {"path": str(proc)}))
    collection = run_plugin(plugin, SLOT + at, timeout=5)
    context = EnrichContext(host="box", summary=plugin.summary(collection), now=SLOT + at)
    return Pipeline().process(collection, cls, context, counters=memory)


def test_the_guide_plugin_is_under_30_lines() -> None:
    assert len(example().splitlines()) < 30


def test_the_guide_plugin_is_discovered_and_collects_gauges_counters_rates_and_derived(
    tmp_path: Path,
) -> None:
    # Given the README's example saved where its first line says, in a plugins directory
    folder = tmp_path / "my_plugins" / "uptime"
    folder.mkdir(parents=True)
    (folder / "plugin.py").write_text(example(), encoding="utf-8")
    proc = tmp_path / "uptime"
    # When Unity discovers that directory
    found = discover(tmp_path / "my_plugins")
    assert found.errors == {}
    cls = found.classes["uptime"]
    # And runs it twice, a minute apart, against a /proc/uptime-shaped file
    memory = LocalCounters()
    proc.write_text("172800.00 300000.00\n")
    first = run(cls, proc, memory, timedelta(0))
    proc.write_text("172860.00 300090.00\n")
    second = run(cls, proc, memory, timedelta(minutes=1))
    # Then the first run stores the gauge, the counter, the derived metric and the summary
    values = {row.metric_name: row.value for row in first.rows}
    assert values["uptime_seconds"]["value"] == 172800.0
    assert values["idle_seconds"] == {"value": 300000.0, "type": "counter", "unit": "seconds"}
    assert values["uptime_days"] == {"value": 2.0, "type": "gauge", "unit": "days"}
    assert values["collection"]["summary"] == "up 48.0 hours"
    assert "idle_seconds_rate" not in values
    # And the second adds the counter's rate: 90 idle seconds over 60 s
    rates = {r.metric_name: r.numeric_value for r in second.rows if r.metric_name.endswith("_rate")}
    assert rates == {"idle_seconds_rate": 1.5}
    assert first.rejects == second.rejects == []
