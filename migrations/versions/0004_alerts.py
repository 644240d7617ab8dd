"""Alerts: per-rule/tag-set state, notification outbox and silences (issue 7).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from unity_core.storage.types import PortableJSON, UTCDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "alert_states",
        sa.Column("alert_id", sa.Uuid(), nullable=False),
        sa.Column("state_key", sa.String(32), nullable=False),
        sa.Column("tags", PortableJSON, nullable=True),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("since", UTCDateTime(), nullable=False),
        sa.Column("value", sa.Double(), nullable=True),
        sa.Column("evaluated_at", UTCDateTime(), nullable=False),
        sa.Column("notified_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["alerts.id"],
            name=op.f("fk_alert_states_alert_id_alerts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("alert_id", "state_key", name=op.f("pk_alert_states")),
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("channel", sa.String(100), nullable=False),
        sa.Column("payload", PortableJSON, nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("sent_with", sa.Uuid(), nullable=True),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )
    op.create_index(
        "ix_notifications_channel_status", "notifications", ["channel", "status"], unique=False
    )
    op.create_table(
        "alert_silences",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("alert_id", sa.Uuid(), nullable=True),
        sa.Column("starts_at", UTCDateTime(), nullable=False),
        sa.Column("ends_at", UTCDateTime(), nullable=False),
        sa.Column("reason", sa.String(200), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["alerts.id"],
            name=op.f("fk_alert_silences_alert_id_alerts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_silences")),
    )
    op.create_index(
        op.f("ix_alert_silences_alert_id"), "alert_silences", ["alert_id"], unique=False
    )
    op.create_index("ix_alert_silences_ends_at", "alert_silences", ["ends_at"], unique=False)


def downgrade() -> None:
    op.drop_table("alert_silences")
    op.drop_index("ix_notifications_channel_status", table_name="notifications")
    op.drop_table("notifications")
    op.drop_table("alert_states")
