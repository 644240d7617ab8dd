"""Root conftest: makes the shared service fixtures reach tests/ and every plugins/<id>/tests/."""

pytest_plugins = ["tests.services"]
