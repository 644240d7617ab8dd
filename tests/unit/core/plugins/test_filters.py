"""The shared include/exclude filter: its schema fields and what it admits."""

from __future__ import annotations

import pytest
from marshmallow import Schema, ValidationError, fields

from unity_core.plugins.filters import NameFilter, matches, with_filter


class _Base(Schema):
    url = fields.String(load_default="http://127.0.0.1/")


def test_with_filter_adds_include_and_exclude_lists_to_the_base_schema() -> None:
    # Given a base schema with one option
    # When the filter fields are added under a name of the plugin's choosing
    config_schema = with_filter(_Base, "TargetsConfig", include="Only these.", exclude="Not these.")
    # Then the new schema keeps the base's option and loads empty lists by default
    assert config_schema.__name__ == "TargetsConfig" and issubclass(config_schema, _Base)
    assert config_schema().load({}) == {"url": "http://127.0.0.1/", "include": [], "exclude": []}
    loaded = config_schema().load({"include": ["web*"], "exclude": ["web-old"]})
    assert (loaded["include"], loaded["exclude"]) == (["web*"], ["web-old"])
    # And each field carries the description the plugin gave, for `unity plugins info`
    described = {
        n: f.metadata["description"] for n, f in config_schema().fields.items() if n != "url"
    }
    assert described == {"include": "Only these.", "exclude": "Not these."}
    # And only lists of strings are accepted, so a typo is refused when the config loads
    with pytest.raises(ValidationError, match="exclude"):
        config_schema().load({"exclude": "web-old"})


@pytest.mark.parametrize(
    ("include", "exclude", "admitted"),
    [
        ((), (), {"eth0", "eth1", "lo", "veth9a"}),
        (("eth*",), (), {"eth0", "eth1"}),
        ((), ("lo", "veth*"), {"eth0", "eth1"}),
        (("eth*", "lo"), ("eth1",), {"eth0", "lo"}),
        (("Eth*",), (), set()),
    ],
    ids=["no filter", "include", "exclude", "exclude wins", "case sensitive"],
)
def test_empty_include_admits_all_and_exclude_always_wins(
    include: tuple[str, ...], exclude: tuple[str, ...], admitted: set[str]
) -> None:
    # Given a filter / When asking which of four interfaces it admits
    wanted = NameFilter(include, exclude)
    # Then only those the include/exclude rules allow pass
    assert {n for n in ("eth0", "eth1", "lo", "veth9a") if wanted.admits(n)} == admitted


def test_an_item_with_several_names_passes_when_any_of_them_matches() -> None:
    # Given a histogram series known by its own name and its family's
    names = ("http_seconds_bucket", "http_seconds")
    # When / Then the family's name selects it, and excluding the family drops it
    assert NameFilter(include=("http_seconds",)).admits(*names)
    assert not NameFilter(exclude=("http_seconds",)).admits(*names)
    assert not NameFilter(include=("node_*",)).admits(*names)


def test_from_config_reads_loaded_lists_and_treats_missing_ones_as_no_filter() -> None:
    # Given loaded configs: a full one, a partial one, none at all
    # When / Then the patterns are kept in order, and what is missing admits everything
    assert NameFilter.from_config({"include": ["a*"], "exclude": ["ab"]}) == NameFilter(
        ("a*",), ("ab",)
    )
    assert NameFilter.from_config({"exclude": ["ab"]}) == NameFilter((), ("ab",))
    assert NameFilter.from_config(None).admits("anything")


def test_matches_is_any_shell_pattern() -> None:
    # Given device patterns / When / Then a glob, a character class, and no patterns at all
    assert matches("loop3", ("loop*", "ram*"))
    assert matches("sda1", ("sd?[0-9]",))
    assert not matches("nvme0n1", ("loop*", "ram*"))
    assert not matches("sda", ())
