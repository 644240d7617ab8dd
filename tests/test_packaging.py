"""The renamed top-level folders ship and import as unity_plugins / unity_migrations."""

from __future__ import annotations

import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from unity_core.storage.migrate import head_revision

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # Build from a copy: setuptools writes unity.egg-info into the source tree, and a stale
    # one in the checkout would shadow the installed entry points for every later test.
    source = tmp_path_factory.mktemp("source") / "unity"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "data", "*.egg-info", "__pycache__", ".*_cache", "build", "dist"
        ),
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(source),
        ],
        check=True,
        capture_output=True,
    )
    (found,) = out.glob("unity-*.whl")
    return found


def test_wheel_ships_plugins_migrations_and_celeryconfig_under_their_import_names(
    wheel: Path,
) -> None:
    # Given the wheel a plain `pip install` would use
    names = set(zipfile.ZipFile(wheel).namelist())
    # Then the contract's folders are inside under non-clashing import names
    assert "unity_plugins/__init__.py" in names
    assert "unity_migrations/env.py" in names
    assert "unity_migrations/script.py.mako" in names
    assert "unity_migrations/versions/0001_initial_schema.py" in names
    assert "celeryconfig.py" in names
    assert "unity_core/py.typed" in names
    # And nothing ships under the generic names
    assert not any(n.startswith(("plugins/", "migrations/")) for n in names)


def test_plain_install_finds_its_migrations(wheel: Path, tmp_path: Path) -> None:
    # Given a fresh virtual environment that sees this one's packages but not the source tree
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False, system_site_packages=False)
    site = next((env_dir / "lib").glob("python*/site-packages"))
    zipfile.ZipFile(wheel).extractall(site)
    deps = [p for p in sys.path if p.endswith("site-packages") and ".venv" in p]
    (site / "deps.pth").write_text("\n".join(deps) + "\n")
    # When it imports the renamed packages and asks for the migration head from another folder
    probe = (
        "import unity_plugins, unity_migrations\n"
        "from unity_core.storage.migrate import head_revision\n"
        f"print(unity_migrations.__file__.startswith({str(site)!r}), head_revision())"
    )
    out = subprocess.run(
        [str(env_dir / "bin" / "python"), "-c", probe],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    # Then they come from the installed wheel, not the checkout
    assert out.stdout.split() == ["True", head_revision()]
