"""station_reports: the parts of reports 2.0.1 chargers send after an operator's request

NotifyMonitoringReport, NotifyDisplayMessages, NotifyCustomerInformation, ReportChargingProfiles
and PublishFirmwareStatusNotification, kept as received (`store/report_tables.py`).

Revision ID: 0011_station_reports
Revises: 0010_locations
"""

import sqlalchemy as sa
import sqlalchemy.dialects.postgresql  # noqa: F401  (JSONB)
from alembic import op

revision = "0011_station_reports"
down_revision = "0010_locations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "station_reports",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("station_id", sa.String(48), nullable=False),
        sa.Column("kind", sa.String(48), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("seq_no", sa.Integer(), nullable=True),
        sa.Column("tbc", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("data", sa.dialects.postgresql.JSONB(), nullable=False),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.text("now()"),
        ),
    )
    op.create_index(
        "ix_station_reports_request", "station_reports", ["station_id", "kind", "request_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_station_reports_request", "station_reports")
    op.drop_table("station_reports")
