"""Lifecycle: rollup watermarks and anything else rollups/retention/export need (issue 6).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Nothing yet: this revision is reserved so parallel work keeps one linear history."""


def downgrade() -> None:
    """Nothing yet."""
