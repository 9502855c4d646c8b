"""remote maintenance: jobs, files, diagnostics uploads, firmware, desired config, alerts,
device model

Revision ID: 0005
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0002"
branch_labels = None
depends_on = None


def _now() -> sa.Column:
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "maintenance_jobs",
        sa.Column("workflow_id", sa.String(length=200), primary_key=True),
        sa.Column("run_id", sa.String(length=64), primary_key=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("station_id", sa.String(length=48), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.String(), nullable=False),
        sa.Column("summary", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=True),
        sa.Column("detail", postgresql.JSONB(), nullable=False),
        sa.Column(
            "started_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index(
        "ix_maintenance_jobs_station_state", "maintenance_jobs", ["station_id", "state"]
    )
    op.create_index("ix_maintenance_jobs_kind", "maintenance_jobs", ["kind", "started_at"])

    op.create_table(
        "maintenance_files",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        _now(),
    )
    # Out of line and uncompressed: substring() reads only the requested chunk.
    op.execute("ALTER TABLE maintenance_files ALTER COLUMN content SET STORAGE EXTERNAL")

    op.create_table(
        "diagnostics_uploads",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("token_hash", sa.String(length=64), nullable=False, unique=True),
        sa.Column("workflow_id", sa.String(length=200), nullable=False),
        sa.Column("station_id", sa.String(length=48), nullable=False),
        sa.Column("max_bytes", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("file_name", sa.String(), nullable=True),
        sa.Column("file_id", sa.BigInteger(), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=True),
        _now(),
    )
    op.create_index("ix_diagnostics_uploads_workflow", "diagnostics_uploads", ["workflow_id"])

    op.create_table(
        "firmware_images",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("vendor", sa.String(length=64), nullable=True),
        sa.Column("model", sa.String(length=64), nullable=True),
        sa.Column("file_name", sa.String(length=200), nullable=False),
        sa.Column("file_id", sa.BigInteger(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.String(), nullable=True),
        sa.Column("signing_certificate", sa.String(), nullable=True),
        sa.Column("download_token", sa.String(length=64), nullable=False, unique=True),
        sa.Column("notes", sa.String(), nullable=True),
        sa.Column("uploaded_by", sa.String(), nullable=False),
        _now(),
        sa.UniqueConstraint("vendor", "model", "version", name="uq_firmware_images_target"),
    )

    op.create_table(
        "station_desired_config",
        sa.Column("station_id", sa.String(length=48), primary_key=True),
        sa.Column("key", sa.String(length=200), primary_key=True),
        sa.Column("value", sa.String(), nullable=False),
        sa.Column("updated_by", sa.String(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
    )

    op.create_table(
        "maintenance_alerts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("station_id", sa.String(length=48), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("message", sa.String(), nullable=False),
        sa.Column("workflow_id", sa.String(length=200), nullable=True),
        sa.Column("detail", postgresql.JSONB(), nullable=False),
        _now(),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.String(), nullable=True),
    )
    op.create_index(
        "ix_maintenance_alerts_station_open", "maintenance_alerts", ["station_id", "resolved_at"]
    )

    op.create_table(
        "station_device_model",
        sa.Column("station_id", sa.String(length=48), primary_key=True),
        sa.Column("component_key", sa.String(length=200), primary_key=True),
        sa.Column("variable_key", sa.String(length=200), primary_key=True),
        sa.Column("component", postgresql.JSONB(), nullable=False),
        sa.Column("variable", postgresql.JSONB(), nullable=False),
        sa.Column("attributes", postgresql.JSONB(), nullable=False),
        sa.Column("characteristics", postgresql.JSONB(), nullable=True),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
    )


def downgrade() -> None:
    op.drop_table("station_device_model")
    op.drop_index("ix_maintenance_alerts_station_open", table_name="maintenance_alerts")
    op.drop_table("maintenance_alerts")
    op.drop_table("station_desired_config")
    op.drop_table("firmware_images")
    op.drop_index("ix_diagnostics_uploads_workflow", table_name="diagnostics_uploads")
    op.drop_table("diagnostics_uploads")
    op.drop_table("maintenance_files")
    op.drop_index("ix_maintenance_jobs_kind", table_name="maintenance_jobs")
    op.drop_index("ix_maintenance_jobs_station_state", table_name="maintenance_jobs")
    op.drop_table("maintenance_jobs")
