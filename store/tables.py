"""SQLModel tables. Money in integer minor units with a currency; energy in Wh.

Table objects never leave the store/activities/api layers; Temporal payloads are `domain` models.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import BigInteger, Column, Index, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from store.columns import timestamp_field


def utcnow() -> datetime:
    return datetime.now(UTC)


class Station(SQLModel, table=True):
    """A registered charging station; `id` is its OCPP identity (the URL path segment)."""

    __tablename__ = "stations"

    id: str = Field(primary_key=True, max_length=48)
    password_hash: str | None = None
    security_profile: int = 1
    ocpp_versions: str = "ocpp1.6,ocpp2.0.1"
    connector_count: int = 1
    tariff_id: int | None = Field(default=None, foreign_key="tariffs.id")
    vendor: str | None = None
    model: str | None = None
    serial_number: str | None = None
    firmware_version: str | None = None
    iccid: str | None = None
    registration_status: str = "Accepted"
    last_boot_at: datetime | None = timestamp_field(nullable=True)
    last_seen_at: datetime | None = timestamp_field(nullable=True)
    connected: bool = False
    free_vend: bool = False  # anyone may charge here, unauthorized and free of charge
    gateway_queue: str | None = None  # task queue of the gateway process holding the socket
    connected_version: str | None = None  # OCPP subprotocol of the live connection
    # a new Basic-auth password sent to the station, answer not known yet (0012; station_auth)
    pending_password_hash: str | None = None
    pending_next_boot: bool = False  # answer its next BootNotification Pending (0012)
    # the site the station stands at (0010_locations); None: not placed yet
    location_id: str | None = Field(
        default=None, foreign_key="locations.id", max_length=64, index=True
    )
    created_at: datetime = timestamp_field(nullable=False, server_default=text("now()"))


class Location(SQLModel, table=True):
    """A site (OCPI `Location`): the address drivers see and the grouping analytics and reports
    use; its stations point to it (`stations.location_id`). Fields as `domain/locations.py`."""

    __tablename__ = "locations"

    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=255)
    address: str | None = Field(default=None, max_length=45)
    city: str | None = Field(default=None, max_length=45)
    postal_code: str | None = Field(default=None, max_length=10)
    state: str | None = Field(default=None, max_length=20)
    country: str | None = Field(default=None, max_length=3)  # ISO 3166-1 alpha-3
    latitude: str | None = Field(default=None, max_length=12)  # decimal degrees, as OCPI
    longitude: str | None = Field(default=None, max_length=12)
    time_zone: str | None = Field(default=None, max_length=64)
    parking_type: str | None = Field(default=None, max_length=32)
    opening_times: dict | None = Field(default=None, sa_column=Column(JSONB, nullable=True))
    created_at: datetime = timestamp_field(nullable=False, server_default=text("now()"))
    updated_at: datetime = timestamp_field(nullable=False, server_default=text("now()"))


class ConnectorSpec(SQLModel, table=True):
    """What a connector is (OCPI `Connector`): standard, format, power type and limits."""

    __tablename__ = "connector_specs"

    station_id: str = Field(primary_key=True, foreign_key="stations.id", max_length=48)
    connector_id: int = Field(primary_key=True)
    standard: str = Field(max_length=32)
    format: str = Field(max_length=8)
    power_type: str = Field(max_length=20)
    max_voltage: int
    max_amperage: int
    max_electric_power: int | None = None  # W
    phase: int | None = None  # site phase (1-3) of a single-phase connector (migration 0014)


class Connector(SQLModel, table=True):
    """A connector's last known status (connector 0 is the station itself in OCPP 1.6)."""

    __tablename__ = "connectors"

    station_id: str = Field(primary_key=True, foreign_key="stations.id", max_length=48)
    connector_id: int = Field(primary_key=True)
    status: str = "Unknown"
    error_code: str | None = None
    updated_at: datetime | None = timestamp_field(nullable=True)
    tariff_id: int | None = Field(default=None, foreign_key="tariffs.id")  # overrides station's


class Driver(SQLModel, table=True):
    __tablename__ = "drivers"

    id: int | None = Field(default=None, primary_key=True)
    name: str
    email: str = Field(unique=True, index=True)
    created_at: datetime = timestamp_field(nullable=False, server_default=text("now()"))


class IdToken(SQLModel, table=True):
    """A credential (RFID card, app, contract id). `token` is the OCPP idTag / idToken value."""

    __tablename__ = "id_tokens"

    id: int | None = Field(default=None, primary_key=True)
    token: str = Field(unique=True, index=True, max_length=36)
    token_type: str = "ISO14443"
    driver_id: int | None = Field(default=None, foreign_key="drivers.id", index=True)
    status: str = "Accepted"  # Accepted | Blocked
    group_id: str | None = None
    expires_at: datetime | None = timestamp_field(nullable=True)
    created_at: datetime = timestamp_field(nullable=False, server_default=text("now()"))


class Tariff(SQLModel, table=True):
    __tablename__ = "tariffs"

    id: int | None = Field(default=None, primary_key=True)
    name: str
    currency: str = Field(default="EUR", max_length=3)
    energy_price_per_kwh: int = 0
    time_price_per_hour: int = 0
    session_fee: int = 0
    vat_rate_bp: int = 0
    prices_include_vat: bool = False
    is_default: bool = False
    # Billing extensions (0003_billing); see domain/tariff.py for their meaning.
    idle_price_per_hour: int = 0
    idle_grace_minutes: int = 0
    idle_fee_cap: int | None = None
    min_price: int | None = None
    max_price: int | None = None
    time_basis: str = "session"
    energy_step_wh: int = 1
    time_step_s: int = 1
    time_zone: str = "UTC"
    elements: list = Field(
        default_factory=list,
        sa_column=Column(JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    )
    hold_amount: int | None = None
    created_at: datetime = timestamp_field(nullable=False, server_default=text("now()"))


class ChargingSession(SQLModel, table=True):
    """One charging session; `id` is its Temporal workflow id."""

    __tablename__ = "sessions"
    __table_args__ = (
        Index("ix_sessions_station_started", "station_id", "started_at"),
        Index("ix_sessions_driver", "driver_id"),
    )

    id: str = Field(primary_key=True, max_length=120)
    station_id: str = Field(max_length=48)
    connector_id: int | None = None
    transaction_id: str
    id_token: str | None = None
    driver_id: int | None = None
    state: str
    tariff: dict = Field(default_factory=dict, sa_column=Column(JSONB, nullable=False))
    started_at: datetime | None = timestamp_field(nullable=True)
    stopped_at: datetime | None = timestamp_field(nullable=True)
    meter_start_wh: int | None = Field(default=None, sa_column=Column(BigInteger))
    meter_stop_wh: int | None = Field(default=None, sa_column=Column(BigInteger))
    energy_wh: int | None = Field(default=None, sa_column=Column(BigInteger))
    duration_s: int | None = None
    stop_reason: str | None = None
    review_reason: str | None = None
    cost: dict | None = Field(default=None, sa_column=Column(JSONB, nullable=True))
    total_amount: int | None = None
    currency: str | None = None
    record_seq: int | None = None  # the workflow's newest write applied (SessionRecord.seq)
    created_at: datetime = timestamp_field(nullable=False, server_default=text("now()"))
    updated_at: datetime = timestamp_field(nullable=False, server_default=text("now()"))


class ChargerTransaction(SQLModel, table=True):
    """A 2.0.1 charger's own transactionId -> our session (ADR-005), per station."""

    __tablename__ = "charger_transactions"

    station_id: str = Field(primary_key=True, max_length=48)
    transaction_id: str = Field(primary_key=True, max_length=64)
    session_id: str = Field(max_length=120)
    created_at: datetime | None = timestamp_field(nullable=True, server_default=text("now()"))


class StationOutboxRow(SQLModel, table=True):
    """What a charger reported for a session workflow, stored before it was answered (ADR-005)."""

    __tablename__ = "station_outbox"

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True))
    station_id: str = Field(max_length=48)
    session_id: str = Field(max_length=120)
    kind: str = Field(max_length=16)  # start | stop | status | link | station_event
    message_id: str | None = Field(default=None, max_length=64)
    payload: dict = Field(default_factory=dict, sa_column=Column(JSONB, nullable=False))
    created_at: datetime | None = timestamp_field(nullable=True, server_default=text("now()"))
    delivered_at: datetime | None = timestamp_field(nullable=True)
    lease_owner: str | None = Field(default=None, max_length=160)
    lease_until: datetime | None = timestamp_field(nullable=True)
    attempts: int = 0
    last_error: str | None = None


class ChargerAuthorization(SQLModel, table=True):
    """A 1.6 Authorize's session, joined by the Start with the same idTag (ADR-005)."""

    __tablename__ = "charger_authorizations"

    station_id: str = Field(primary_key=True, max_length=48)
    id_token: str = Field(primary_key=True, max_length=64)
    session_id: str = Field(max_length=120)
    expires_at: datetime = timestamp_field(nullable=False)


class SessionClaim(SQLModel, table=True):
    """A Pending (remote-start) session joined by a charger's start: only one may join it."""

    __tablename__ = "session_claims"

    session_id: str = Field(primary_key=True, max_length=120)
    claimed_at: datetime | None = timestamp_field(nullable=True, server_default=text("now()"))


class MeterSample(SQLModel, table=True):
    """One raw sampled value as sent by the charger; duplicates are dropped on insert."""

    __tablename__ = "meter_samples"
    __table_args__ = (
        UniqueConstraint(
            "station_id",
            "connector_id",
            "transaction_id",
            "timestamp",
            "measurand",
            "phase",
            "location",
            name="uq_meter_samples_reading",
        ),
        Index("ix_meter_samples_session", "session_id", "timestamp"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True))
    session_id: str | None = Field(default=None, max_length=120)
    station_id: str = Field(max_length=48)
    connector_id: int = 0
    transaction_id: str = ""
    timestamp: datetime = timestamp_field(nullable=False)
    measurand: str = "Energy.Active.Import.Register"
    phase: str = ""
    location: str = ""
    context: str | None = None
    unit: str | None = None
    value: float
    signed_data: str | None = None


class Payment(SQLModel, table=True):
    """A payment-provider entry for a session; one per (session, kind) — never billed twice."""

    __tablename__ = "payments"
    __table_args__ = (UniqueConstraint("session_id", "kind", name="uq_payments_session_kind"),)

    id: int | None = Field(default=None, primary_key=True)
    session_id: str = Field(max_length=120, index=True)
    kind: str = "charge"
    driver_id: int | None = None
    provider: str
    amount: int
    currency: str = Field(max_length=3)
    status: str
    external_id: str | None = None
    failure_reason: str | None = None
    created_at: datetime = timestamp_field(nullable=False, server_default=text("now()"))
    # Billing extensions (0003_billing): kinds hold | charge | rest.
    amount_captured: int = 0
    amount_refunded: int = 0
    payment_method_id: str | None = None
    card_brand: str | None = None
    card_last4: str | None = None
    wallet: str | None = None
    details: dict = Field(
        default_factory=dict,
        sa_column=Column(JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    )


class Receipt(SQLModel, table=True):
    """A session's receipt; numbers are gap-free (allocated from `receipt_counters`)."""

    __tablename__ = "receipts"

    id: int | None = Field(default=None, primary_key=True)
    session_id: str = Field(unique=True, max_length=120)
    number: int = Field(unique=True)
    total: int
    currency: str = Field(max_length=3)
    html: str
    issued_at: datetime = timestamp_field(nullable=False, server_default=text("now()"))
    data: dict | None = Field(default=None, sa_column=Column(JSONB, nullable=True))  # 0003
    public_token: str | None = Field(default=None, unique=True, max_length=64)  # 0003
    emailed_to: str | None = None  # 0003


class ReceiptCounter(SQLModel, table=True):
    __tablename__ = "receipt_counters"

    name: str = Field(primary_key=True)
    last_number: int = 0


class OcppMessage(SQLModel, table=True):
    """Every OCPP frame in and out, appended in batches by the gateway."""

    __tablename__ = "ocpp_messages"
    __table_args__ = (Index("ix_ocpp_messages_station", "station_id", "id"),)

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True))
    station_id: str = Field(max_length=48)
    direction: str  # "in" | "out"
    message_type: int | None = None
    unique_id: str | None = None
    action: str | None = None
    payload: str
    at: datetime = timestamp_field(nullable=False)


class StationEvent(SQLModel, table=True):
    """Things an operator should know: refused handshakes, unknown transactions, disconnects."""

    __tablename__ = "station_events"
    __table_args__ = (Index("ix_station_events_station", "station_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    station_id: str = Field(max_length=48)
    kind: str
    detail: dict = Field(default_factory=dict, sa_column=Column(JSONB, nullable=False))
    at: datetime = timestamp_field(nullable=False, server_default=text("now()"))


class StationCommandLog(SQLModel, table=True):
    """Every command sent to a station: who asked, what, and how it ended."""

    __tablename__ = "station_commands"
    __table_args__ = (Index("ix_station_commands_station", "station_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    workflow_id: str = Field(unique=True, max_length=160)
    station_id: str = Field(max_length=48)
    name: str
    params: dict = Field(default_factory=dict, sa_column=Column(JSONB, nullable=False))
    requested_by: str
    outcome: str
    status: str | None = None
    response: dict | None = Field(default=None, sa_column=Column(JSONB, nullable=True))
    error: str | None = None
    created_at: datetime = timestamp_field(nullable=False, server_default=text("now()"))
