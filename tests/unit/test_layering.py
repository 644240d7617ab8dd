"""unity_core stays free of Celery and Flask, however its modules are imported."""

from __future__ import annotations

import subprocess
import sys


def test_core_loads_without_celery_or_flask() -> None:
    # Given a fresh interpreter that imports every unity_core module
    probe = (
        "import pkgutil, sys, unity_core\n"
        "for m in pkgutil.walk_packages(unity_core.__path__, 'unity_core.'):\n"
        "    __import__(m.name)\n"
        "print(sorted({'celery', 'flask', 'flask_smorest'} & sys.modules.keys()))"
    )
    # When it has imported them all
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    # Then neither framework was pulled in
    assert out.stdout.strip() == "[]"
