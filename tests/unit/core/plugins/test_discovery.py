"""Discovery: entry points and plugins_dir folders load; broken ones are reported and skipped."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.unit.core.plugins.folders import CLOCK, PROBE, install_distribution, write_plugin
from unity_core.errors import PluginNotFound
from unity_core.plugins.registry import Discovery, discover
from unity_core.plugins.sdk import Plugin


def from_folders(found: Discovery) -> list[str]:
    """The ids that came from plugins_dir (installed entry points, like system, left out)."""
    return [i for i in found.classes if not found.sources[i].startswith("entry point")]


def test_a_folder_with_plugin_py_is_imported_in_isolation(tmp_path: Path) -> None:
    # Given a plugins_dir with one plugin folder
    write_plugin(tmp_path, "clock", CLOCK)
    # When discovering
    found = discover(tmp_path)
    # Then its class is there, imported under the private local package, not as `clock`
    cls = found.classes["clock"]
    assert issubclass(cls, Plugin)
    assert cls.__module__ == "unity_plugins_local.clock.plugin"
    assert "clock" not in sys.modules
    assert found.sources["clock"] == str(tmp_path / "clock")
    assert found.errors == {}


def test_a_package_folder_may_use_relative_imports(tmp_path: Path) -> None:
    # Given a folder whose __init__.py defines the plugin from a sibling helper module
    folder = write_plugin(tmp_path, "greeter", "GREETING = 'hello'\n", filename="words.py")
    source = """
        from unity_core.plugins.sdk import Plugin

        from .words import GREETING


        class GreeterPlugin(Plugin):
            id = "greeter"

            def collect_data(self, acc):
                acc.add_gauge("greeting", GREETING)
    """
    write_plugin(tmp_path, "greeter", source, filename="__init__.py")
    # When discovering
    found = discover(tmp_path)
    # Then it loads, and a plugin that declares no name is named after its id
    assert found.errors == {}
    assert found.classes["greeter"].name == "greeter"
    assert folder.is_dir()


def test_one_broken_folder_is_reported_and_the_others_still_load(tmp_path: Path) -> None:
    # Given a good folder between a syntax error and an import error
    write_plugin(tmp_path, "a_syntax", "class Broken(:\n")
    write_plugin(tmp_path, "b_clock", CLOCK)
    write_plugin(tmp_path, "c_import", "import module_that_does_not_exist_anywhere\n")
    # When discovering
    found = discover(tmp_path)
    # Then the good one loads and each broken one has its reason
    assert from_folders(found) == ["clock"]
    assert "SyntaxError" in found.errors["a_syntax"]
    assert "plugin.py, line 1" in found.errors["a_syntax"]
    assert "ModuleNotFoundError" in found.errors["c_import"]
    assert "module_that_does_not_exist_anywhere" in found.errors["c_import"]


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        (
            CLOCK + "\n\nclass SecondPlugin(ClockPlugin):\n    id = 'second'\n",
            "2 Plugin subclasses",
        ),
        ("from unity_core.plugins.sdk import Plugin\n", "defines no Plugin subclass"),
        (
            "from unity_core.plugins.sdk import Plugin\n"
            "class NoId(Plugin):\n    def collect_data(self, acc): pass\n",
            "has no id",
        ),
        (
            "from unity_core.plugins.sdk import Plugin\nclass Lazy(Plugin):\n    id = 'lazy'\n"
            "PLUGIN = Lazy\n",
            "does not implement collect_data",
        ),
        (
            "from unity_core.plugins.sdk import Plugin\n"
            "class Bad(Plugin):\n    id = 'has space'\n    def collect_data(self, acc): pass\n",
            "is invalid",
        ),
        ("PLUGIN = 42\n", "is not a subclass"),
        ("raise SystemExit(3)\n", "SystemExit"),
    ],
    ids=["two-classes", "no-class", "no-id", "abstract", "bad-id", "not-a-class", "exit"],
)
def test_a_folder_that_does_not_define_exactly_one_usable_plugin_is_an_error(
    tmp_path: Path, source: str, reason: str
) -> None:
    # Given a folder whose plugin.py is wrong in one way
    write_plugin(tmp_path, "wrong", source)
    # When discovering
    found = discover(tmp_path)
    # Then nothing loads from it and the error says why
    assert from_folders(found) == []
    assert reason in found.errors["wrong"]


def test_plugin_variable_picks_one_class_among_several(tmp_path: Path) -> None:
    # Given a module with two plugin classes and PLUGIN naming one
    source = (
        CLOCK + "\n\nclass FastClock(ClockPlugin):\n    id = 'fastclock'\n\nPLUGIN = FastClock\n"
    )
    write_plugin(tmp_path, "clocks", source)
    # When discovering
    found = discover(tmp_path)
    # Then the named one is the plugin
    assert from_folders(found) == ["fastclock"]


def test_duplicate_ids_keep_the_first_and_report_the_other(tmp_path: Path) -> None:
    # Given two folders whose plugins share the id "clock"
    write_plugin(tmp_path, "a_clock", CLOCK)
    write_plugin(tmp_path, "b_clock", CLOCK)
    # When discovering
    found = discover(tmp_path)
    # Then the first folder (by name) wins, the second is reported
    assert found.sources["clock"] == str(tmp_path / "a_clock")
    assert "duplicate plugin id 'clock'" in found.errors["b_clock"]


def test_folders_without_code_and_private_folders(tmp_path: Path) -> None:
    # Given a folder with no Python file, a private folder and a stray file
    (tmp_path / "notes").mkdir()
    write_plugin(tmp_path, "_disabled", "class Broken(:\n")
    (tmp_path / "README.txt").write_text("not a plugin")
    # When discovering
    found = discover(tmp_path)
    # Then only the empty folder is worth a report
    assert found.errors == {"notes": f"{tmp_path / 'notes'} has neither plugin.py nor __init__.py"}


def test_a_missing_plugins_dir_is_reported(tmp_path: Path) -> None:
    # Given a plugins_dir that does not exist
    missing = tmp_path / "nowhere"
    # When discovering
    found = discover(missing)
    # Then the installed plugins still load and the folder is reported
    assert "is not a directory" in found.errors[str(missing)]


def test_rediscovery_reimports_edited_folders(tmp_path: Path) -> None:
    # Given a folder discovered once
    write_plugin(tmp_path, "clock", CLOCK)
    first = discover(tmp_path).classes["clock"]
    # When its code changes and discovery runs again
    write_plugin(tmp_path, "clock", CLOCK.replace('name = "Clock"', 'name = "Clock 2"'))
    second = discover(tmp_path).classes["clock"]
    # Then the new code is what loaded
    assert (first.name, second.name) == ("Clock", "Clock 2")


def test_entry_point_plugins_are_discovered(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Given an installed distribution declaring a unity.plugins entry point
    source = PROBE.replace('"probe"', '"epprobe"')
    install_distribution(monkeypatch, tmp_path, {"epprobe": "{module}:ProbePlugin"}, source)
    # When discovering without a plugins_dir
    found = discover()
    # Then the plugin is found under its id, with its entry point as source
    assert found.classes["epprobe"].version == "2.1.0"
    assert found.sources["epprobe"].startswith("entry point epprobe = fake_unity_plugin_")


def test_broken_entry_points_are_reported_by_name(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Given entry points to a missing attribute, to a class with another id, and a good one
    points = {
        "ghost": "{module}:NoSuchClass",
        "renamed": "{module}:ClockPlugin",
        "clock": "{module}:ClockPlugin",
    }
    install_distribution(monkeypatch, tmp_path, points, CLOCK)
    # When discovering
    found = discover()
    # Then the good one loads and the others say why not
    assert "clock" in found.classes
    assert "cannot import" in found.errors["ghost"]
    assert "AttributeError" in found.errors["ghost"]
    assert "differs from the plugin's id 'clock'" in found.errors["renamed"]


def test_an_entry_point_wins_over_a_folder_with_the_same_id(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Given the same plugin id installed and in plugins_dir
    install_distribution(monkeypatch, tmp_path, {"clock": "{module}:ClockPlugin"}, CLOCK)
    write_plugin(tmp_path / "local", "myclock", CLOCK)
    # When discovering both
    found = discover(tmp_path / "local")
    # Then the installed one is used and the folder is reported as a duplicate
    assert found.sources["clock"].startswith("entry point clock")
    assert "duplicate plugin id 'clock'" in found.errors["myclock"]


def test_the_same_distribution_seen_twice_is_not_a_duplicate(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Given one distribution visible through two sys.path entries (egg-info beside an install)
    install_distribution(monkeypatch, tmp_path, {"clock": "{module}:ClockPlugin"}, CLOCK)
    monkeypatch.syspath_prepend(sys.path[0])
    # When discovering
    found = discover()
    # Then it loads once, without a duplicate error
    assert "clock" in found.classes
    assert "clock" not in found.errors


def test_get_explains_why_an_implementation_is_missing(tmp_path: Path) -> None:
    # Given a discovery where "broken" failed to import
    write_plugin(tmp_path, "broken", "import nothing_here_at_all\n")
    found = discover(tmp_path)
    # When asking for it, and for one that was never there
    with pytest.raises(PluginNotFound) as broken:
        found.get("broken", instance_id="my-broken")
    with pytest.raises(PluginNotFound) as absent:
        Discovery().get("http")
    # Then the errors name the instance and the reason
    assert str(broken.value).startswith("my-broken: plugin 'broken' could not be loaded:")
    assert str(absent.value) == "http: plugin 'http' is not installed"


@pytest.mark.parametrize(
    ("defaults", "problem"),
    [
        ({"interval": -5}, "interval:"),
        ({"queue": "host.nas"}, "queue: not a default a plugin may set"),
        ({"timeout": "soon"}, "timeout:"),
    ],
)
def test_a_plugin_with_unusable_defaults_is_refused_with_the_reason(
    defaults: dict[str, object], problem: str
) -> None:
    from unity_core.plugins.registry.discovery import check_plugin_class
    from unity_core.plugins.sdk import Accumulator, Plugin

    class Suggests(Plugin):
        id = "suggests"

        def collect_data(self, acc: Accumulator) -> None:
            acc.add_gauge("x", 1)

    Suggests.defaults = defaults
    reason = check_plugin_class(Suggests)
    assert reason is not None and "Suggests.defaults" in reason and problem in reason
