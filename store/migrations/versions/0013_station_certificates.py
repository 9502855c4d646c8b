"""station_certificates: certificates the operator's CA signed for stations, and refused CSRs

SignCertificate (OCPP 2.0.1 A02/A03, 1.6 security whitepaper) -> CertificateSigned; the station's
answer is recorded (`store/certificate_tables.py`).

Revision ID: 0013_station_certificates
Revises: 0012_station_credentials
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_station_certificates"
down_revision = "0012_station_credentials"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "station_certificates",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("station_id", sa.String(48), nullable=False),
        sa.Column("certificate_type", sa.String(32), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("serial_number", sa.String(64), nullable=True),
        sa.Column("fingerprint_sha256", sa.String(64), nullable=True),
        sa.Column("subject", sa.String(512), nullable=True),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=True),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=True),
        sa.Column("certificate", sa.Text(), nullable=True),
        sa.Column(
            "requested_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.text("now()"),
        ),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_station_certificates_station", "station_certificates", ["station_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_station_certificates_station", "station_certificates")
    op.drop_table("station_certificates")
