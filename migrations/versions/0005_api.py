"""API: token and request bookkeeping the REST API needs (issue 5).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from __future__ import annotations

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Nothing yet: this revision is reserved so parallel work keeps one linear history."""


def downgrade() -> None:
    """Nothing yet."""
