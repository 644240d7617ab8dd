"""Alerts: per-rule/tag-set state, notification outbox and silences (issue 7).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from __future__ import annotations

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Nothing yet: this revision is reserved so parallel work keeps one linear history."""


def downgrade() -> None:
    """Nothing yet."""
