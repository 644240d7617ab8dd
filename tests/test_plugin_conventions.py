"""Every built-in plugin folder has the same anatomy (STYLE.md 9.2), checked in one place."""

from __future__ import annotations

import re
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
import yaml

from unity_core.plugins.registry import discover, validate_config
from unity_core.plugins.sdk import Plugin

PLUGINS = Path(__file__).resolve().parent.parent / "plugins"
FOLDERS = sorted(p for p in PLUGINS.iterdir() if (p / "__init__.py").exists() and p.name[0] != "_")
ANATOMY = ("__init__.py", "plugin.py", "README.md", "sample.yaml", "tests/test_plugin.py")


def _plugin_class(folder: Path) -> type[Plugin]:
    found = discover().classes.get(folder.name)
    assert found is not None, f"plugins/{folder.name} is not registered under unity.plugins"
    return found


@pytest.mark.parametrize("folder", FOLDERS, ids=[f.name for f in FOLDERS])
def test_each_plugin_folder_has_the_full_anatomy_and_an_entry_point(folder: Path) -> None:
    # Given a built-in plugin folder
    # Then every file of the anatomy is there
    missing = [name for name in ANATOMY if not (folder / name).exists()]
    assert missing == [], f"plugins/{folder.name} lacks {missing}"
    # And it is installed under the unity.plugins entry-point group, by its own id
    names = {point.name for point in entry_points(group="unity.plugins")}
    assert folder.name in names
    assert _plugin_class(folder).id == folder.name


@pytest.mark.parametrize("folder", FOLDERS, ids=[f.name for f in FOLDERS])
def test_readme_embeds_sample_yaml_and_lists_every_metric(folder: Path) -> None:
    # Given the README and the sample
    readme = (folder / "README.md").read_text(encoding="utf-8")
    sample = (folder / "sample.yaml").read_text(encoding="utf-8")
    # When reading the README's Configuration block and Metrics table
    block = re.search(r"## Configuration\n\n```yaml\n(.*?)```", readme, re.S)
    rows = re.findall(r"^\| (\w+) \| (\w+) \| (gauge|counter) \| ([\w, -]+) \|$", readme, re.M)
    # Then the block is the sample byte for byte and the table matches the declarations
    assert block is not None and block.group(1) == sample
    declared = [
        (s.name, s.unit, s.type.value, ", ".join(s.tags) or "-")
        for s in _plugin_class(folder).metrics
    ]
    assert rows == declared


@pytest.mark.parametrize("folder", FOLDERS, ids=[f.name for f in FOLDERS])
def test_sample_yaml_defaults_are_the_schemas_defaults(folder: Path) -> None:
    # Given the sample with every commented key uncommented
    sample = (folder / "sample.yaml").read_text(encoding="utf-8")
    uncommented = re.sub(r"^(\s*)# (?!#)(\s*[\w-]+:)", r"\1\2", sample, flags=re.M)
    entry: dict[str, Any] = yaml.safe_load(uncommented)["plugins"][0]
    # When its config is validated / Then it equals the defaults the schema fills in
    cls = _plugin_class(folder)
    defaults = validate_config(cls, folder.name, {})
    assert validate_config(cls, folder.name, entry.get("config") or {}) == defaults
