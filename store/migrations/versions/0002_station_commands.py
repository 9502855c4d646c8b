"""station command routing and the command log

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("stations", sa.Column("gateway_queue", sa.String(), nullable=True))
    op.add_column("stations", sa.Column("connected_version", sa.String(), nullable=True))
    op.create_table(
        "station_commands",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("workflow_id", sa.String(length=160), nullable=False, unique=True),
        sa.Column("station_id", sa.String(length=48), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("params", postgresql.JSONB(), nullable=False),
        sa.Column("requested_by", sa.String(), nullable=False),
        sa.Column("outcome", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=True),
        sa.Column("response", postgresql.JSONB(), nullable=True),
        sa.Column("error", sa.String(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
    )
    op.create_index("ix_station_commands_station", "station_commands", ["station_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_station_commands_station", table_name="station_commands")
    op.drop_table("station_commands")
    op.drop_column("stations", "connected_version")
    op.drop_column("stations", "gateway_queue")
