"""charging profiles chargers accepted from us; the phase of a single-phase connector

`charging_profiles`: per station and profile id, a profile the charger answered Accepted (sent
by a site's load management or an operator), as sent, with its EVSE, purpose, stack level and
transaction; replaced by a later profile with the same id (or EVSE, purpose and stack level),
removed by an accepted ClearChargingProfile. An EV's charging schedule (2.0.1
NotifyEVChargingSchedule) is checked against them.
`connector_specs.phase`: the site phase (1-3) a single-phase connector is wired to, so that
load management balances per phase (not given: L1).

Revision ID: 0014_charging_profiles
Revises: 0013_site_load
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0014_charging_profiles"
down_revision = "0013_site_load"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "charging_profiles",
        sa.Column(
            "station_id", sa.String(length=48), sa.ForeignKey("stations.id"), primary_key=True
        ),
        sa.Column("profile_id", sa.Integer(), primary_key=True),
        sa.Column("evse_id", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("purpose", sa.String(length=40), nullable=False),
        sa.Column("stack_level", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("transaction_id", sa.String(length=64), nullable=True),
        sa.Column("profile", JSONB(), nullable=False),
        sa.Column(
            "set_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")
        ),
    )
    op.add_column("connector_specs", sa.Column("phase", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("connector_specs", "phase")
    op.drop_table("charging_profiles")
