"""site load management: a site's grid connection limit and per-station limits

`site_load_limits`: the grid connection of a location (site): a limit in A per phase and/or
in W, the nominal voltage, an optional daily schedule of lower or higher limits (JSON list of
`{start: "HH:MM", limit_a, limit_w}` in the location's time zone) and driver-group priorities.
A site with a row here is managed by a `SiteLoad` workflow.
`station_load_limits`: a station's own limit (A per phase and/or W), optionally temporary
(`until`), set by an operator (e.g. during maintenance).

Revision ID: 0013_site_load
Revises: 0012_station_credentials
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0013_site_load"
down_revision = "0012_station_credentials"
branch_labels = None
depends_on = None


def _ts(name: str) -> sa.Column:
    return sa.Column(
        name, sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")
    )


def upgrade() -> None:
    op.create_table(
        "site_load_limits",
        sa.Column(
            "location_id", sa.String(length=64), sa.ForeignKey("locations.id"), primary_key=True
        ),
        sa.Column("limit_a", sa.Float(), nullable=True),
        sa.Column("limit_w", sa.Float(), nullable=True),
        sa.Column("voltage_v", sa.Float(), nullable=False, server_default="230"),
        sa.Column("schedule", JSONB(), nullable=False, server_default=sa.text("'[]'::jsonb")),
        sa.Column(
            "group_priorities", JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")
        ),
        sa.Column("updated_by", sa.String(length=120), nullable=True),
        _ts("updated_at"),
    )
    op.create_table(
        "station_load_limits",
        sa.Column(
            "station_id", sa.String(length=48), sa.ForeignKey("stations.id"), primary_key=True
        ),
        sa.Column("limit_a", sa.Float(), nullable=True),
        sa.Column("limit_w", sa.Float(), nullable=True),
        sa.Column("until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.String(length=255), nullable=True),
        sa.Column("updated_by", sa.String(length=120), nullable=True),
        _ts("updated_at"),
    )


def downgrade() -> None:
    op.drop_table("station_load_limits")
    op.drop_table("site_load_limits")
