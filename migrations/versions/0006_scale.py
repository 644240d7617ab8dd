"""Scale-out: worker heartbeats / host bookkeeping (issue 8).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

from __future__ import annotations

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Nothing yet: this revision is reserved so parallel work keeps one linear history."""


def downgrade() -> None:
    """Nothing yet."""
