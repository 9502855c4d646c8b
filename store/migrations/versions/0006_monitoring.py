"""monitoring: status and link history, live meters, alerts, maintenance windows, sites,
reports; indexes for the analytics queries

Revision ID: 0006_monitoring
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006_monitoring"
down_revision = "0002"
branch_labels = None
depends_on = None


def _ts(name: str, *, default_now: bool = False, nullable: bool = False) -> sa.Column:
    default = sa.text("now()") if default_now else None
    return sa.Column(name, sa.DateTime(timezone=True), server_default=default, nullable=nullable)


def _jsonb(name: str) -> sa.Column:
    return sa.Column(
        name, postgresql.JSONB(), server_default=sa.text("'{}'::jsonb"), nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "connector_status_history",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("station_id", sa.String(length=48), nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("error_code", sa.String(length=50), nullable=True),
        _ts("at"),
        _ts("received_at", default_now=True),
    )
    op.create_index(
        "ix_connector_status_history_at",
        "connector_status_history",
        ["station_id", "connector_id", "at"],
    )
    op.create_table(
        "station_link_history",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("station_id", sa.String(length=48), nullable=False),
        sa.Column("online", sa.Boolean(), nullable=False),
        sa.Column("close_code", sa.Integer(), nullable=True),
        _ts("at"),
    )
    op.create_index("ix_station_link_history_at", "station_link_history", ["station_id", "at"])
    op.create_table(
        "live_meters",
        sa.Column("session_id", sa.String(length=120), primary_key=True),
        sa.Column("station_id", sa.String(length=48), nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=True),
        sa.Column("energy_wh", sa.BigInteger(), nullable=True),
        sa.Column("power_w", sa.Float(), nullable=True),
        sa.Column("soc_percent", sa.Float(), nullable=True),
        _ts("at"),
        _ts("received_at", default_now=True),
    )

    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("cause", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("station_id", sa.String(length=48), nullable=True),
        sa.Column("connector_id", sa.Integer(), nullable=True),
        sa.Column("session_id", sa.String(length=120), nullable=True),
        sa.Column("message", sa.String(), nullable=False),
        _jsonb("detail"),
        sa.Column("state", sa.String(length=16), server_default="open", nullable=False),
        _ts("opened_at", default_now=True),
        _ts("updated_at", default_now=True),
        _ts("acknowledged_at", nullable=True),
        sa.Column("acknowledged_by", sa.String(), nullable=True),
        _ts("resolved_at", nullable=True),
        sa.Column("resolved_by", sa.String(), nullable=True),
        sa.Column("resolution_note", sa.String(), nullable=True),
    )
    # De-duplication: one alert per cause key until it is resolved.
    op.create_index(
        "uq_alerts_open_key",
        "alerts",
        ["key"],
        unique=True,
        postgresql_where=sa.text("state <> 'resolved'"),
    )
    op.create_index("ix_alerts_state_opened", "alerts", ["state", "opened_at"])
    op.create_index("ix_alerts_station", "alerts", ["station_id", "opened_at"])
    op.create_table(
        "alert_events",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("alert_id", sa.Integer(), sa.ForeignKey("alerts.id"), nullable=False),
        sa.Column("event", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("payload", postgresql.JSONB(), nullable=False),
        _ts("at", default_now=True),
        _ts("delivered_at", nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.String(), nullable=True),
    )
    op.create_index("ix_alert_events_alert", "alert_events", ["alert_id", "id"])
    op.create_index(
        "ix_alert_events_undelivered",
        "alert_events",
        ["id"],
        postgresql_where=sa.text("delivered_at IS NULL"),
    )

    op.create_table(
        "maintenance_windows",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("station_id", sa.String(length=48), nullable=True),
        sa.Column("connector_id", sa.Integer(), nullable=True),
        _ts("starts_at"),
        _ts("ends_at"),
        sa.Column("reason", sa.String(), nullable=False, server_default=""),
        sa.Column("created_by", sa.String(), nullable=False),
        _ts("created_at", default_now=True),
        sa.CheckConstraint("ends_at > starts_at", name="ck_maintenance_windows_order"),
    )
    op.create_index("ix_maintenance_windows_time", "maintenance_windows", ["starts_at", "ends_at"])
    op.create_table(
        "station_sites",
        sa.Column("station_id", sa.String(length=48), primary_key=True),
        sa.Column("site_id", sa.String(length=64), nullable=False),
    )
    op.create_index("ix_station_sites_site_id", "station_sites", ["site_id"])
    op.create_table(
        "reports",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("label", sa.String(length=32), nullable=False),
        _ts("period_start"),
        _ts("period_end"),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("content_type", sa.String(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("workflow_id", sa.String(), nullable=True),
        sa.Column("created_by", sa.String(), nullable=False),
        _ts("created_at", default_now=True),
        sa.UniqueConstraint("kind", "period_start", name="uq_reports_kind_period"),
    )

    # Analytics over the whole fleet by start time (the station index serves per-station scopes).
    op.create_index("ix_sessions_started_at", "sessions", ["started_at"])
    # The alert sweep's running / failed sessions without scanning every session.
    op.create_index(
        "ix_sessions_watch_states",
        "sessions",
        ["state"],
        postgresql_where=sa.text("state IN ('Pending', 'Charging', 'PaymentFailed')"),
    )
    # Authorization answers (failure rates, repeated refusals) by time, from the message log.
    op.create_index(
        "ix_ocpp_messages_auth_answers",
        "ocpp_messages",
        ["at"],
        postgresql_where=sa.text(
            "direction = 'out' AND action IN ('Authorize', 'StartTransaction', 'TransactionEvent')"
        ),
    )


def downgrade() -> None:
    op.drop_index("ix_ocpp_messages_auth_answers", table_name="ocpp_messages")
    op.drop_index("ix_sessions_watch_states", table_name="sessions")
    op.drop_index("ix_sessions_started_at", table_name="sessions")
    op.drop_table("reports")
    op.drop_index("ix_station_sites_site_id", table_name="station_sites")
    op.drop_table("station_sites")
    op.drop_index("ix_maintenance_windows_time", table_name="maintenance_windows")
    op.drop_table("maintenance_windows")
    op.drop_index("ix_alert_events_undelivered", table_name="alert_events")
    op.drop_index("ix_alert_events_alert", table_name="alert_events")
    op.drop_table("alert_events")
    op.drop_index("ix_alerts_station", table_name="alerts")
    op.drop_index("ix_alerts_state_opened", table_name="alerts")
    op.drop_index("uq_alerts_open_key", table_name="alerts")
    op.drop_table("alerts")
    op.drop_table("live_meters")
    op.drop_index("ix_station_link_history_at", table_name="station_link_history")
    op.drop_table("station_link_history")
    op.drop_index("ix_connector_status_history_at", table_name="connector_status_history")
    op.drop_table("connector_status_history")
