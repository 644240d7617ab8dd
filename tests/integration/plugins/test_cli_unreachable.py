"""`unity plugins list / info` say when a pinned plugin has no live worker on its queue."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, update

from unity_core.cli.plugins import plugins
from unity_core.presence import Announcement, announce
from unity_core.storage import make_sessionmaker
from unity_core.storage.models import Plugin
from unity_core.storage.types import utcnow

from .test_cli_plugins import write_config


# Which database holds the registry does not matter here; one is enough.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_pinned_plugin_without_a_live_worker_reads_unreachable(
    database_url: str, engine: Engine, tmp_path: Path
) -> None:
    # Given the probe plugin enabled and pinned to host.nas, and no worker on host.nas
    path = write_config(tmp_path, database_url)

    def run(*args: str) -> str:
        result = CliRunner().invoke(plugins, list(args), obj={"config_path": str(path)})
        assert result.exit_code == 0, result.output
        return result.output

    run("list")  # registers the installed plugins
    with make_sessionmaker(engine)() as session:
        session.execute(
            update(Plugin).where(Plugin.plugin_id == "probe").values(enabled=True, queue="host.nas")
        )
        session.commit()
    # Then list and info say it is unreachable, and why
    [line] = [ln for ln in run("list").splitlines() if ln.startswith("probe ")]
    assert "unreachable (no live worker on host.nas)" in line
    assert "no live worker consumes host.nas" in run("info", "probe")
    # When the NAS worker announces itself
    with make_sessionmaker(engine)() as session:
        worker = Announcement("unity-collect@nas", "nas", ("host.nas",), 1, 1, utcnow())
        announce(session, worker)
    # Then the plugin is no longer called unreachable
    assert "unreachable" not in run("list")
    assert "no live worker" not in run("info", "probe")
