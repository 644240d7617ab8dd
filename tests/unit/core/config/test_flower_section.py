"""The flower section: address, port and basic-auth credentials, from the file or UNITY_FLOWER_*."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.core.config.conftest import WriteConfig
from unity_core.config import load_settings, settings_as_dict
from unity_core.errors import ConfigError


def test_credentials_and_port_come_from_the_file_and_are_masked_when_shown(
    write_config: WriteConfig,
) -> None:
    path = write_config(
        """
        flower: {user: ops, password: hunter2, port: 5556, address: 0.0.0.0}
        """
    )
    flower = load_settings(path, environ={}).flower
    assert (flower.user, flower.password, flower.port, flower.address) == (
        "ops",
        "hunter2",
        5556,
        "0.0.0.0",  # noqa: S104 - a configured value, not a bind
    )
    shown = settings_as_dict(load_settings(path, environ={}))["flower"]
    assert shown["password"] == "***" and "hunter2" not in repr(flower)


def test_environment_beats_the_file_and_reads_password_files(
    write_config: WriteConfig, tmp_path: Path
) -> None:
    path = write_config("flower: {user: ops, password: from-file}\n")
    secret = tmp_path / "flower.secret"
    secret.write_text("from-secret\n", encoding="utf-8")
    environ = {"UNITY_FLOWER_USER": "admin", "UNITY_FLOWER_PASSWORD_FILE": str(secret)}
    flower = load_settings(path, environ=environ).flower
    assert (flower.user, flower.password) == ("admin", "from-secret")


def test_defaults_are_loopback_without_credentials(tmp_path: Path) -> None:
    flower = load_settings(None, environ={"UNITY_DATA_DIR": str(tmp_path)}).flower
    assert (flower.address, flower.port, flower.user, flower.password) == (
        "127.0.0.1",
        5555,
        None,
        None,
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("flower: {user: ops}\n", "flower.password: set flower.user and flower.password together"),
        ("flower: {password: x}\n", "flower.user: set flower.user and flower.password together"),
        ("flower: {user: 'a:b', password: x}\n", "flower.user: Flower credentials may not"),
        ("flower: {port: 70000}\n", "flower.port"),
        ("flower: {usr: ops}\n", "flower.usr"),
    ],
)
def test_bad_flower_settings_are_refused_by_name(
    write_config: WriteConfig, text: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        load_settings(write_config(text), environ={})
