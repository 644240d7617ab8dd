"""The collection section's context keys: plugins folder, host, environment and global tags."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.core.config.conftest import WriteConfig
from unity_core.config import load_settings
from unity_core.errors import ConfigError


def test_plugins_dir_is_relative_to_the_file_and_tags_are_kept(write_config: WriteConfig) -> None:
    # Given a file naming a relative plugins folder, a host name, an environment and tags
    path = write_config(
        """
        collection:
          plugins_dir: my-plugins
          host: nas
          environment: lab
          tags: {site: rack1}
        """
    )
    # When it is loaded from another working directory
    settings = load_settings(path, environ={})
    # Then the folder is resolved next to the file and the context keys are as written
    assert settings.collection.plugins_dir == (path.parent / "my-plugins").resolve()
    assert settings.collection.host == "nas"
    assert settings.collection.environment == "lab"
    assert settings.collection.tags == {"site": "rack1"}


def test_collection_context_defaults_leave_host_to_the_machine(tmp_path: Path) -> None:
    # Given no file at all
    settings = load_settings(None, environ={"UNITY_DATA_DIR": str(tmp_path)})
    # Then no plugins folder is set, the host is looked up at collection time
    assert settings.collection.plugins_dir is None
    assert settings.collection.host is None
    assert settings.collection.environment == "homelab"


def test_non_string_tag_values_are_rejected_with_their_path(write_config: WriteConfig) -> None:
    # Given a global tag whose value is a list
    path = write_config("collection:\n  tags: {site: [a, b]}\n")
    # When it is loaded
    with pytest.raises(ConfigError) as raised:
        load_settings(path, environ={})
    # Then the message names the key path
    assert "collection.tags" in str(raised.value)


def test_a_sentinel_broker_needs_the_master_name(write_config: WriteConfig) -> None:
    # Given a Sentinel broker URL without the master's name
    path = write_config("broker:\n  url: sentinel://s1.lan:26379;sentinel://s2.lan:26379\n")
    # When it is loaded
    with pytest.raises(ConfigError) as raised:
        load_settings(path, environ={})
    # Then the missing key is named
    assert "broker.sentinel_master" in str(raised.value)
    # And with the name it loads
    named = write_config(
        "broker:\n  url: sentinel://s1.lan:26379\n  sentinel_master: mymaster\n", "ok.yaml"
    )
    assert load_settings(named, environ={}).broker.sentinel_master == "mymaster"
