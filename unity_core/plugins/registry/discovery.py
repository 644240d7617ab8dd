"""Finding plugin implementations: installed entry points and a local plugins folder.

A broken plugin never stops discovery: its reason lands in `Discovery.errors` and the rest
still load. Entry points (group `unity.plugins`) come first, then the folders of
`plugins_dir` in name order; when two provide the same id the first wins.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import re
import sys
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

from marshmallow import Schema

from unity_core.errors import PluginNotFound
from unity_core.plugins.registry.framework import default_columns
from unity_core.plugins.sdk import MetricSpec, Plugin

__all__ = ["ENTRY_POINT_GROUP", "LOCAL_PACKAGE", "Discovery", "check_plugin_class", "discover"]

ENTRY_POINT_GROUP = "unity.plugins"
#: Parent of the modules imported from `plugins_dir`, so they never shadow real packages.
LOCAL_PACKAGE = "unity_plugins_local"
PLUGIN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass
class Discovery:
    """Every usable implementation by id, and why the unusable ones were skipped."""

    classes: dict[str, type[Plugin]] = field(default_factory=dict)
    #: Entry-point or folder name -> the reason it was skipped.
    errors: dict[str, str] = field(default_factory=dict)
    #: Plugin id -> where it came from (`entry point system = pkg:Cls` or a file path).
    sources: dict[str, str] = field(default_factory=dict)

    def get(self, plugin: str, *, instance_id: str | None = None) -> type[Plugin]:
        """The implementation `plugin`, or PluginNotFound naming the instance and the reason."""
        found = self.classes.get(plugin)
        if found is not None:
            return found
        reason = f"plugin {plugin!r} is not installed"
        if plugin in self.errors:
            reason = f"plugin {plugin!r} could not be loaded: {self.errors[plugin]}"
        raise PluginNotFound(instance_id or plugin, reason)


class _Broken(Exception):
    """Why one candidate cannot be used; becomes its Discovery.errors entry."""


def discover(plugins_dir: Path | None = None) -> Discovery:
    """Load every plugin from the `unity.plugins` entry points and `plugins_dir/<folder>/`.

    Each folder is imported in isolation as `unity_plugins_local.<folder>` (from its
    `plugin.py`, else its `__init__.py`) and must define exactly one concrete Plugin
    subclass or name one with `PLUGIN = Cls`. Re-running discover() re-imports the folders.
    """
    found = Discovery()
    seen: set[tuple[str, str]] = set()
    for point in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda p: (p.name, p.value)):
        # The same distribution can be visible twice (an egg-info beside the install).
        if (point.name, point.value) in seen:
            continue
        seen.add((point.name, point.value))
        source = f"entry point {point.name} = {point.value}"
        try:
            cls = _load_entry_point(point)
        except _Broken as broken:
            found.errors[point.name] = str(broken)
            continue
        _accept(found, cls, source, key=point.name)
    if plugins_dir is not None:
        for folder, cls_or_error in _load_folder_plugins(Path(plugins_dir)):
            key = folder.name
            if key in found.errors or folder == Path(plugins_dir):
                key = str(folder)
            if isinstance(cls_or_error, str):
                found.errors[key] = cls_or_error
            else:
                _accept(found, cls_or_error, str(folder), key=key)
    return found


def check_plugin_class(obj: object) -> str | None:
    """Why `obj` cannot serve as a plugin implementation, or None if it can."""
    if not (isinstance(obj, type) and issubclass(obj, Plugin)):
        return f"{obj!r} is not a subclass of unity_core.plugins.Plugin"
    if inspect.isabstract(obj):
        missing = ", ".join(sorted(getattr(obj, "__abstractmethods__", ())))
        return f"{obj.__qualname__} does not implement {missing}"
    ident = getattr(obj, "id", None)
    if not isinstance(ident, str) or not ident:
        return f'{obj.__qualname__} has no id (add a class attribute such as id = "mything")'
    if not PLUGIN_ID.match(ident):
        return f"{obj.__qualname__}.id {ident!r} is invalid: use letters, digits, '.', '_' and '-'"
    if not (isinstance(obj.config_schema, type) and issubclass(obj.config_schema, Schema)):
        return f"{obj.__qualname__}.config_schema is not a marshmallow Schema class"
    if not isinstance(obj.metrics, tuple | list):
        return f"{obj.__qualname__}.metrics is not a tuple of MetricSpec"
    names: set[str] = set()
    for spec in obj.metrics:
        if not isinstance(spec, MetricSpec):
            return f"{obj.__qualname__}.metrics holds {spec!r}, not a MetricSpec"
        if spec.name in names:
            return f"{obj.__qualname__}.metrics declares {spec.name!r} twice"
        names.add(spec.name)
    if not isinstance(obj.defaults, Mapping):
        return f"{obj.__qualname__}.defaults is not a mapping"
    problems = default_columns(obj.defaults)[1]
    if problems:
        return f"{obj.__qualname__}.defaults: " + "; ".join(problems)
    return None


def _accept(found: Discovery, cls: type[Plugin], source: str, *, key: str) -> None:
    if cls.id in found.classes:
        found.errors[key] = (
            f"duplicate plugin id {cls.id!r} (from {source}): "
            f"{found.sources[cls.id]} already provides it; this one is ignored"
        )
        return
    found.classes[cls.id] = cls
    found.sources[cls.id] = source


def _load_entry_point(point: EntryPoint) -> type[Plugin]:
    try:
        obj = point.load()
    except (Exception, SystemExit) as error:  # a plugin's import may raise anything
        raise _Broken(f"cannot import {point.value}: {_describe(error)}") from None
    problem = check_plugin_class(obj)
    if problem:
        raise _Broken(problem)
    assert isinstance(obj, type) and issubclass(obj, Plugin)
    if obj.id != point.name:
        raise _Broken(f"entry point name {point.name!r} differs from the plugin's id {obj.id!r}")
    return obj


def _load_folder_plugins(plugins_dir: Path) -> list[tuple[Path, type[Plugin] | str]]:
    if not plugins_dir.is_dir():
        return [(plugins_dir, f"plugins_dir {plugins_dir} is not a directory")]
    results: list[tuple[Path, type[Plugin] | str]] = []
    used: set[str] = set()
    for folder in sorted(plugins_dir.iterdir()):
        if not folder.is_dir() or folder.name.startswith((".", "_")):
            continue
        package = _module_name(folder.name, used)
        try:
            results.append((folder, _load_folder(folder, package)))
        except _Broken as broken:
            _forget(package)
            results.append((folder, str(broken)))
    return results


def _module_name(folder: str, used: set[str]) -> str:
    ident = re.sub(r"\W", "_", folder)
    if ident[0].isdigit():
        ident = f"_{ident}"
    candidate, n = ident, 1
    while candidate in used:
        n += 1
        candidate = f"{ident}_{n}"
    used.add(candidate)
    return f"{LOCAL_PACKAGE}.{candidate}"


def _load_folder(folder: Path, package: str) -> type[Plugin]:
    init, plugin_file = folder / "__init__.py", folder / "plugin.py"
    if not init.is_file() and not plugin_file.is_file():
        raise _Broken(f"{folder} has neither plugin.py nor __init__.py")
    _forget(package)
    _ensure_local_root()
    try:
        module = _import_package(folder, package, init)
        if plugin_file.is_file():
            module = importlib.import_module(f"{package}.plugin")
    except (Exception, SystemExit) as error:  # a plugin's import may raise anything
        raise _Broken(f"cannot import {folder}: {_describe(error)}") from None
    cls = _find_class(module, package)
    problem = check_plugin_class(cls)
    if problem:
        raise _Broken(f"{module.__file__}: {problem}")
    assert isinstance(cls, type) and issubclass(cls, Plugin)
    return cls


def _import_package(folder: Path, package: str, init: Path) -> types.ModuleType:
    """Import the folder as a package so its modules may use relative imports."""
    if init.is_file():
        spec = importlib.util.spec_from_file_location(
            package, init, submodule_search_locations=[str(folder)]
        )
    else:
        spec = importlib.util.spec_from_loader(package, loader=None, is_package=True)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    if not init.is_file():
        module.__path__ = [str(folder)]
    sys.modules[package] = module
    setattr(sys.modules[LOCAL_PACKAGE], package.rpartition(".")[2], module)
    if spec.loader is not None:
        spec.loader.exec_module(module)
    return module


def _find_class(module: types.ModuleType, package: str) -> object:
    if hasattr(module, "PLUGIN"):
        return module.PLUGIN
    candidates = [
        obj
        for obj in vars(module).values()
        if isinstance(obj, type)
        and issubclass(obj, Plugin)
        and not inspect.isabstract(obj)
        and (obj.__module__ == package or obj.__module__.startswith(f"{package}."))
    ]
    unique = list(dict.fromkeys(candidates))
    if len(unique) == 1:
        return unique[0]
    where = module.__file__
    if not unique:
        raise _Broken(f"{where}: defines no Plugin subclass (or PLUGIN = TheClass)")
    names = ", ".join(c.__qualname__ for c in unique)
    raise _Broken(f"{where}: defines {len(unique)} Plugin subclasses ({names}); set PLUGIN = One")


def _ensure_local_root() -> None:
    if LOCAL_PACKAGE not in sys.modules:
        root = types.ModuleType(LOCAL_PACKAGE, "Plugins imported from the plugins_dir folder.")
        root.__path__ = []
        sys.modules[LOCAL_PACKAGE] = root


def _forget(package: str) -> None:
    for name in [n for n in sys.modules if n == package or n.startswith(f"{package}.")]:
        del sys.modules[name]


def _describe(error: BaseException) -> str:
    if isinstance(error, SyntaxError):
        return f"SyntaxError: {error.msg} ({error.filename}, line {error.lineno})"
    return f"{type(error).__name__}: {error}"
