"""The lifecycle commands as a user runs them: rollup, retention (dry run), export, import."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine

from tests.integration.lifecycle.helpers import T0, samples, write
from unity_core.cli import main


@pytest.fixture(autouse=True)
def _no_unity_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI reads os.environ; keep the developer's own UNITY_* variables out."""
    for name in [name for name in os.environ if name.startswith("UNITY_")]:
        monkeypatch.delenv(name)


def unity(config: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["--config", str(config), *args])


def test_rollup_retention_export_and_import_commands(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    # Given a database with two days of old samples and a config keeping raw data 1 day
    write(engine, samples(T0, 2 * 24 * 6, timedelta(minutes=10)))
    config = tmp_path / "unity.yaml"
    config.write_text(f"database:\n  url: {database_url}\nretention:\n  raw_metrics: 1d\n")
    # When the user rolls up, then asks what retention would remove
    rolled = unity(config, "rollup", "run")
    dry = unity(config, "retention", "run", "--dry-run")
    # Then the rollup reports its watermarks, the dry run what it would remove
    assert rolled.exit_code == 0, rolled.output
    assert "hourly: complete until" in rolled.output and "daily: complete until" in rolled.output
    assert dry.exit_code == 0, dry.output
    assert "dry run: nothing was removed" in dry.output
    assert "plugin_metrics: keep 1d; would remove 288 row(s)" in dry.output
    # When one day of one plugin is exported as JSON and imported again
    file = tmp_path / "day.json"
    exported = unity(
        config,
        "export",
        "--format",
        "json",
        "--output",
        str(file),
        "--from",
        T0.isoformat(),
        "--to",
        "2025-03-11T00:00:00",
        "--plugin",
        "system",
    )
    imported = unity(config, "import", "--input", str(file))
    # Then both report their counts, and nothing was new on import
    assert exported.exit_code == 0, exported.output
    assert "plugin_metrics                    144" in exported.output
    assert imported.exit_code == 0, imported.output
    assert "plugin_metrics" in imported.output and "imported" in imported.output
    # When the file is damaged, the import fails with the line and no traceback
    lines = file.read_text().splitlines(keepends=True)
    lines[5] = "{broken\n"
    file.write_text("".join(lines))
    failed = unity(config, "import", "--input", str(file))
    assert failed.exit_code == 1
    assert f"{file}:6: not valid JSON" in failed.output
    # And a bad --from is refused with a hint
    bad = unity(config, "export", "--output", str(file), "--from", "last tuesday")
    assert bad.exit_code == 2 and "duration like 7d" in bad.output
