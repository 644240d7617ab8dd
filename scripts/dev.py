#!/usr/bin/env python3
"""Set-up and the README's two commands, needing nothing but Python 3.11+.

`python3 scripts/dev.py run` creates .venv, installs Unity into it and runs `unity up`;
`python3 scripts/dev.py test` does the same set-up, then lint, types and the test suite.
The Makefile's `run` and `test` targets call this, so both ways do the same thing.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".unity-installed"
INPUTS = ("pyproject.toml", "setup.py")


def _fingerprint() -> str:
    digest = hashlib.sha256()
    for name in INPUTS:
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()


def _run(*args: str | Path, **kwargs: object) -> None:
    print("+", " ".join(str(a) for a in args), flush=True)
    subprocess.run([str(a) for a in args], check=True, cwd=ROOT, **kwargs)  # type: ignore[call-overload]


def ensure_installed() -> None:
    """Create .venv and install Unity with its dev extras, again only when the inputs change."""
    if sys.version_info < (3, 11):  # noqa: UP036 - this script is what runs on old Pythons
        sys.exit(f"Unity needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    if not (BIN / "python").exists():
        print(f"creating virtual environment in {VENV}", flush=True)
        venv.create(VENV, with_pip=True)
    if STAMP.exists() and STAMP.read_text() == _fingerprint():
        return
    pip = [BIN / "python", "-m", "pip", "--disable-pip-version-check", "-q"]
    _run(*pip, "install", "--upgrade", "pip", "setuptools>=77", "wheel")
    _run(*pip, "install", "-e", ".[dev]")
    STAMP.write_text(_fingerprint())


def run() -> int:
    ensure_installed()
    return subprocess.call([str(BIN / "unity"), "up", *sys.argv[2:]], cwd=ROOT)


def lint() -> None:
    ensure_installed()
    _run(BIN / "ruff", "check", ".")
    _run(BIN / "ruff", "format", "--check", ".")
    _run(BIN / "lint-imports")
    _run(BIN / "mypy")


def test() -> int:
    lint()
    return subprocess.call([str(BIN / "pytest"), *sys.argv[2:]], cwd=ROOT)


def main() -> int:
    commands = {
        "run": run,
        "test": test,
        "lint": lambda: lint() or 0,
        "install": lambda: ensure_installed() or 0,
    }
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        print(f"usage: {sys.argv[0]} {{{'|'.join(commands)}}} [args…]", file=sys.stderr)
        return 2
    return int(commands[sys.argv[1]]() or 0)


if __name__ == "__main__":
    sys.exit(main())
