"""Request and response models of the API (apart from tables and Temporal payloads)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, EmailStr, Field

from api.inputs import PositiveId, Price, UtcDateTime

STATION_ID_PATTERN = r"^[A-Za-z0-9._:\-*+@|]{1,48}$"


class StationCreate(BaseModel):
    id: str = Field(pattern=STATION_ID_PATTERN, description="The OCPP identity in the URL path")
    password: str | None = Field(
        default=None,
        min_length=16,
        max_length=40,
        pattern=r"^[\x21-\x7e]+$",
        description="HTTP Basic password, 16-40 printable characters (OCPP security profiles); "
        "leave it out to have one generated (returned once, in the answer)",
    )
    connector_count: int = Field(default=1, ge=1, le=32)
    ocpp_versions: list[str] = Field(default_factory=lambda: ["ocpp1.6", "ocpp2.0.1"])
    security_profile: int = Field(default=1, ge=1, le=3)
    tariff_id: PositiveId | None = None


class ConnectorPublic(BaseModel):
    connector_id: int
    status: str
    error_code: str | None = None
    updated_at: datetime | None = None


class StationPublic(BaseModel):
    id: str
    connector_count: int
    ocpp_versions: list[str]
    security_profile: int
    tariff_id: int | None
    vendor: str | None
    model: str | None
    serial_number: str | None
    firmware_version: str | None
    connected: bool
    registration_status: str
    last_boot_at: datetime | None
    last_seen_at: datetime | None
    location_id: str | None = None
    connectors: list[ConnectorPublic] = []


class StationCreated(StationPublic):
    """A registered station; `password` is the generated one, shown this once (else None)."""

    password: str | None = None


class DriverCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    email: EmailStr


class DriverPublic(BaseModel):
    id: int
    name: str
    email: str
    created_at: datetime


class TokenCreate(BaseModel):
    token: str = Field(
        min_length=1,
        max_length=20,
        pattern=r"^[\x21-\x7e]+$",
        description="The idTag (RFID UID or other credential), ≤ 20 characters",
    )
    token_type: str = "ISO14443"
    expires_at: UtcDateTime | None = None
    group_id: str | None = Field(default=None, max_length=20)


class TokenUpdate(BaseModel):
    status: str | None = Field(default=None, pattern="^(Accepted|Blocked)$")
    expires_at: UtcDateTime | None = None


class TokenPublic(BaseModel):
    id: int
    token: str
    token_type: str
    driver_id: int | None
    status: str
    group_id: str | None
    expires_at: datetime | None


class TariffCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    currency: str = Field(default="EUR", pattern="^[A-Z]{3}$")
    energy_price_per_kwh: Price = Field(default=0, description="minor units per kWh")
    time_price_per_hour: Price = Field(default=0, description="minor units per hour")
    session_fee: Price = Field(default=0, description="minor units per session")
    vat_rate_bp: int = Field(default=0, ge=0, le=10_000, description="VAT, basis points")
    prices_include_vat: bool = False
    is_default: bool = False


class TariffPublic(TariffCreate):
    id: int


class PaymentPublic(BaseModel):
    provider: str
    status: str
    amount: int
    currency: str
    failure_reason: str | None = None


class ReceiptPublic(BaseModel):
    number: int
    total: int
    currency: str
    issued_at: datetime
    url: str


class SessionPublic(BaseModel):
    id: str
    station_id: str
    connector_id: int | None
    transaction_id: str
    driver_id: int | None
    state: str
    started_at: datetime | None
    stopped_at: datetime | None
    energy_wh: int | None
    duration_s: int | None
    stop_reason: str | None
    review_reason: str | None
    total_amount: int | None
    currency: str | None


class SessionDetail(SessionPublic):
    meter_start_wh: int | None
    meter_stop_wh: int | None
    tariff: dict
    cost: dict | None
    payment: PaymentPublic | None
    receipt: ReceiptPublic | None
    live: dict | None = Field(default=None, description="live state while the session runs")


class MessagePublic(BaseModel):
    id: int
    direction: str
    message_type: int | None
    unique_id: str | None
    action: str | None
    payload: str
    at: datetime
