"""Readiness checks can tell an unmigrated database from one at head."""

from __future__ import annotations

import pytest

from unity_core.errors import SchemaOutOfDate
from unity_core.storage import migrate


def test_check_at_head_names_the_fix_for_an_empty_database(empty_database_url: str) -> None:
    # Given a database nobody migrated
    # When readiness is checked
    with pytest.raises(SchemaOutOfDate) as raised:
        migrate.check_at_head(empty_database_url)
    # Then the error says what to run
    assert "unity db upgrade" in str(raised.value)
