"""Tables of live monitoring, alerts, analytics and reports (migration 0006_monitoring).

- `connector_status_history` / `station_link_history`: every connector status and every
  connect/disconnect, appended in batches by the gateway's live listener; utilization and
  uptime are computed from them.
- `live_meters`: the last meter reading of each running session (fleet power, stuck sessions).
- `alerts` (one open alert per cause key: a unique partial index) and `alert_events` (every
  transition; also the webhook outbox).
- `maintenance_windows` (time excluded from uptime), `reports` (generated monthly reports).
  Sites are locations (`store/tables.py` `Location`, migration 0010_locations).

The alert transitions below are plain SQL (psycopg `%(name)s` parameters) shared by the gateway
(async psycopg), the worker and the API (SQLAlchemy `exec_driver_sql`): each one writes the
alert, its event row and a `pg_notify` on the live channel in one statement.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Index, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from store.columns import timestamp_field

LIVE_CHANNEL = "ampflow_live"  # NOTIFY channel of the live view (gateway → API)


class ConnectorStatusHistory(SQLModel, table=True):
    """Every connector status change (connector = EVSE id in 2.0.1, as in `connectors`)."""

    __tablename__ = "connector_status_history"
    __table_args__ = (Index("ix_connector_status_history_at", "station_id", "connector_id", "at"),)

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True))
    station_id: str = Field(max_length=48)
    connector_id: int
    status: str = Field(max_length=32)
    error_code: str | None = Field(default=None, max_length=50)
    at: datetime = timestamp_field(nullable=False)  # the charger's timestamp of the change
    received_at: datetime = timestamp_field(nullable=False, server_default=text("now()"))


class StationLinkHistory(SQLModel, table=True):
    """Every connect (online) and disconnect (offline) of a station's socket."""

    __tablename__ = "station_link_history"
    __table_args__ = (Index("ix_station_link_history_at", "station_id", "at"),)

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True))
    station_id: str = Field(max_length=48)
    online: bool
    close_code: int | None = None
    at: datetime = timestamp_field(nullable=False)


class LiveMeter(SQLModel, table=True):
    """The last meter reading of a running session (removed when the session stops)."""

    __tablename__ = "live_meters"

    session_id: str = Field(primary_key=True, max_length=120)
    station_id: str = Field(max_length=48)
    connector_id: int | None = None
    energy_wh: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    power_w: float | None = None
    soc_percent: float | None = None
    at: datetime = timestamp_field(nullable=False)  # the reading's timestamp (charger clock)
    received_at: datetime = timestamp_field(nullable=False, server_default=text("now()"))


class Alert(SQLModel, table=True):
    """An operator alert; at most one not-resolved alert per `key` (the cause)."""

    __tablename__ = "alerts"
    __table_args__ = (
        Index(
            "uq_alerts_open_key",
            "key",
            unique=True,
            postgresql_where=text("state <> 'resolved'"),
        ),
        Index("ix_alerts_state_opened", "state", "opened_at"),
        Index("ix_alerts_station", "station_id", "opened_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=200)  # e.g. connector_faulted:DEMO-1:2
    cause: str = Field(max_length=32)
    severity: str = Field(max_length=16)
    station_id: str | None = Field(default=None, max_length=48)
    connector_id: int | None = None
    session_id: str | None = Field(default=None, max_length=120)
    message: str
    detail: dict = Field(
        default_factory=dict,
        sa_column=Column(JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    )
    state: str = Field(default="open", max_length=16)  # open | acknowledged | resolved
    opened_at: datetime = timestamp_field(nullable=False, server_default=text("now()"))
    updated_at: datetime = timestamp_field(nullable=False, server_default=text("now()"))
    acknowledged_at: datetime | None = timestamp_field(nullable=True)
    acknowledged_by: str | None = None
    resolved_at: datetime | None = timestamp_field(nullable=True)
    resolved_by: str | None = None  # an operator, or "system" when the cause cleared
    resolution_note: str | None = None


class AlertEvent(SQLModel, table=True):
    """One transition of an alert (raised, acknowledged, resolved); the webhook outbox."""

    __tablename__ = "alert_events"
    __table_args__ = (
        Index("ix_alert_events_alert", "alert_id", "id"),
        Index(
            "ix_alert_events_undelivered",
            "id",
            postgresql_where=text("delivered_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True))
    alert_id: int = Field(foreign_key="alerts.id")
    event: str = Field(max_length=16)
    actor: str = "system"
    payload: dict = Field(default_factory=dict, sa_column=Column(JSONB, nullable=False))
    at: datetime = timestamp_field(nullable=False, server_default=text("now()"))
    delivered_at: datetime | None = timestamp_field(nullable=True)
    attempts: int = 0
    last_error: str | None = None


class MaintenanceWindow(SQLModel, table=True):
    """Planned time excluded from availability (all stations, one station or one connector)."""

    __tablename__ = "maintenance_windows"
    __table_args__ = (Index("ix_maintenance_windows_time", "starts_at", "ends_at"),)

    id: int | None = Field(default=None, primary_key=True)
    station_id: str | None = Field(default=None, max_length=48)  # None: every station
    connector_id: int | None = None  # None: every connector of the station
    starts_at: datetime = timestamp_field(nullable=False)
    ends_at: datetime = timestamp_field(nullable=False)
    reason: str = ""
    created_by: str = "system"
    created_at: datetime = timestamp_field(nullable=False, server_default=text("now()"))


class Report(SQLModel, table=True):
    """A generated report (HTML with embedded charts); one per kind and period."""

    __tablename__ = "reports"
    __table_args__ = (UniqueConstraint("kind", "period_start", name="uq_reports_kind_period"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)  # monthly
    label: str = Field(max_length=32)  # e.g. 2026-01
    period_start: datetime = timestamp_field(nullable=False)
    period_end: datetime = timestamp_field(nullable=False)
    title: str
    content_type: str = "text/html; charset=utf-8"
    content: str
    size: int = 0
    workflow_id: str | None = None
    created_by: str = "system"
    created_at: datetime = timestamp_field(nullable=False, server_default=text("now()"))


# ---- alert transitions (shared SQL; psycopg parameters) ------------------------------------

_NOTIFY = (
    f"pg_notify('{LIVE_CHANNEL}', json_build_object("
    "'type', 'alert', 'event', e.event, 'id', a.id, 'key', a.key, 'cause', a.cause, "
    "'severity', a.severity, 'state', a.state, 'station_id', a.station_id, "
    "'connector_id', a.connector_id, 'session_id', a.session_id, "
    "'message', left(a.message, 200), 'at', e.at)::text)"
)


def _with_event(change: str, event: str) -> str:
    """`change` (a CTE body returning alert rows) + its event row + the live notification."""
    return (
        f"WITH a AS ({change}), "
        "e AS (INSERT INTO alert_events (alert_id, event, actor, payload) "
        f"SELECT a.id, '{event}', %(actor)s, to_jsonb(a) FROM a RETURNING alert_id, event, at) "
        f"SELECT a.id, a.key, {_NOTIFY} FROM a JOIN e ON e.alert_id = a.id"
    )


RAISE_ALERT = _with_event(
    "INSERT INTO alerts (key, cause, severity, station_id, connector_id, session_id, message, "
    "detail) VALUES (%(key)s, %(cause)s, %(severity)s, %(station_id)s, %(connector_id)s, "
    "%(session_id)s, %(message)s, %(detail)s::jsonb) "
    "ON CONFLICT (key) WHERE state <> 'resolved' DO NOTHING RETURNING *",
    "raised",
)
"""Open an alert unless one is open for the key; returns (id, key, _) when it was raised."""

RESOLVE_ALERTS = _with_event(
    "UPDATE alerts SET state = 'resolved', resolved_at = now(), resolved_by = %(actor)s, "
    "resolution_note = %(note)s, updated_at = now() "
    "WHERE key = ANY(%(keys)s) AND state <> 'resolved' RETURNING *",
    "resolved",
)
"""Resolve the open alerts of these keys (the cause cleared); returns one row per alert."""

RESOLVE_ALERT_BY_ID = _with_event(
    "UPDATE alerts SET state = 'resolved', resolved_at = now(), resolved_by = %(actor)s, "
    "resolution_note = %(note)s, updated_at = now() "
    "WHERE id = %(id)s AND state <> 'resolved' RETURNING *",
    "resolved",
)

ACKNOWLEDGE_ALERT = _with_event(
    "UPDATE alerts SET state = 'acknowledged', acknowledged_at = now(), "
    "acknowledged_by = %(actor)s, resolution_note = COALESCE(%(note)s, resolution_note), "
    "updated_at = now() WHERE id = %(id)s AND state = 'open' RETURNING *",
    "acknowledged",
)
