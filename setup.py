"""Package discovery that setuptools' pyproject tables cannot express.

The contract keeps `plugins/` and `migrations/` as top-level folders but ships them under the
import names `unity_plugins` and `unity_migrations` (see pyproject's package-dir). setuptools'
`packages.find` only finds packages under their folder names, so the renamed subpackages are
listed here; everything else stays in pyproject.toml.
"""

from setuptools import find_packages, setup


def _renamed(folder: str, import_name: str) -> list[str]:
    found = find_packages(include=[folder, f"{folder}.*"])
    return [import_name + name[len(folder) :] for name in found]


setup(
    packages=find_packages(include=["unity_core*", "unity_workers*", "unity_api*"])
    + _renamed("plugins", "unity_plugins")
    + _renamed("migrations", "unity_migrations")
)
