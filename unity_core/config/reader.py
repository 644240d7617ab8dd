"""Reads unity.yaml into a plain tree with safe YAML, refusing duplicate keys, or a ConfigError."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError

from unity_core.config.schema import key_path
from unity_core.errors import ConfigError

_MERGE = "tag:yaml.org,2002:merge"


def read_file(file: Path) -> dict[str, Any]:
    """The file's top-level mapping ({} when empty); ConfigError naming the file and the line."""
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else str(error)
        raise ConfigError(f"cannot read the configuration file: {reason}", str(file)) from None
    loader = _UniqueKeyLoader(text)
    try:
        tree = loader.get_single_data()
    except _DuplicateKey as error:
        message = f"line {error.line}: {error.path}: duplicate key (first at line {error.first})"
        raise ConfigError(message, str(file)) from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = error.problem or error.context or "not valid YAML"
        raise ConfigError(f"{where}{problem}", str(file)) from None
    except yaml.YAMLError as error:
        raise ConfigError(f"not valid YAML: {error}", str(file)) from None
    finally:
        loader.dispose()
    if tree is None:  # empty, or only comments
        return {}
    if not isinstance(tree, dict):
        kind = type(tree).__name__
        raise ConfigError(f"the top level must be a mapping of sections, not a {kind}", str(file))
    return tree


class _DuplicateKey(ConstructorError):
    """A mapping gives the same key twice; YAML forbids it and safe_load keeps the last one."""

    def __init__(self, path: str, node: yaml.Node, first: yaml.Node) -> None:
        self.path = path
        self.line = node.start_mark.line + 1
        self.first = first.start_mark.line + 1
        super().__init__(None, None, f"duplicate key {path}", node.start_mark)


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader (plain data, no Python tags) whose mappings reject a key given twice.

    A `<<: *anchor` merge may still supply a key the mapping also gives: that is an override.
    Each node's key path is noted while its parent is built, so the error can say where it is.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.paths: dict[yaml.Node, str] = {}
        self.checked: set[yaml.Node] = set()

    def flatten_mapping(self, node: yaml.MappingNode) -> None:
        # Flattening puts merged pairs into node.value, in place: note the node's own ones first.
        own = [(k, v) for k, v in node.value if k.tag != _MERGE]
        super().flatten_mapping(node)  # also turns a `=` key from tag:…:value into a string
        if node not in self.checked:
            self.checked.add(node)
            self.check_keys(own, self.paths.get(node, ""))

    def check_keys(self, pairs: list[tuple[yaml.Node, yaml.Node]], path: str) -> None:
        first: dict[Any, yaml.Node] = {}
        for key_node, value_node in pairs:
            key = self.construct_object(key_node, deep=True)
            try:
                seen = first.setdefault(key, key_node)
            except TypeError:  # unhashable: the base constructor reports it
                continue
            if seen is not key_node:
                raise _DuplicateKey(key_path(path, key), key_node, seen)
            self.paths.setdefault(value_node, key_path(path, key))

    def construct_sequence(self, node: yaml.SequenceNode, deep: bool = False) -> list[Any]:
        path = self.paths.get(node, "")
        for index, item in enumerate(node.value):
            self.paths.setdefault(item, f"{path}[{index}]")
        return super().construct_sequence(node, deep=deep)
