"""Writing plugins for tests: folders for `plugins_dir`, and installed-looking distributions."""

from __future__ import annotations

import textwrap
import uuid
from pathlib import Path

import pytest

CLOCK = textwrap.dedent("""
    from unity_core.plugins.sdk import MetricSpec, Plugin


    class ClockPlugin(Plugin):
        id = "clock"
        name = "Clock"
        metrics = (MetricSpec("ticks", "count"),)

        def collect_data(self, acc):
            acc.add_gauge("ticks", 1)
""")

#: A plugin whose config has a required key, like most real ones (http, ping, …).
PROBE = textwrap.dedent("""
    from marshmallow import Schema, fields

    from unity_core.plugins.sdk import MetricSpec, Plugin


    class ProbeConfig(Schema):
        url = fields.String(required=True, metadata={"description": "What to probe."})
        expect_status = fields.Integer(load_default=200)
        verbose = fields.Boolean(load_default=False)


    class ProbePlugin(Plugin):
        id = "probe"
        name = "Probe"
        version = "2.1.0"
        config_schema = ProbeConfig
        metrics = (MetricSpec("status", "count"),)

        def collect_data(self, acc):
            acc.add_gauge("status", self.config["expect_status"])
""")


def write_plugin(plugins_dir: Path, folder: str, source: str, filename: str = "plugin.py") -> Path:
    """plugins_dir/folder/filename holding the dedented source; returns the folder."""
    target = plugins_dir / folder
    target.mkdir(parents=True, exist_ok=True)
    (target / filename).write_text(textwrap.dedent(source), encoding="utf-8")
    return target


def install_distribution(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, entry_points: dict[str, str], source: str
) -> str:
    """A module plus a dist-info declaring `entry_points` (name -> `{module}:Attr`) on sys.path.

    Returns the module's (unique) name; write `{module}` in the entry point values.
    """
    module = f"fake_unity_plugin_{uuid.uuid4().hex[:8]}"
    site = tmp_path / f"site-{module}"
    site.mkdir()
    (site / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    info = site / f"{module}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n")
    lines = [f"{name} = {value.format(module=module)}" for name, value in entry_points.items()]
    (info / "entry_points.txt").write_text("[unity.plugins]\n" + "\n".join(lines) + "\n")
    monkeypatch.syspath_prepend(str(site))
    return module
