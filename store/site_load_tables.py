"""Site load management tables (0013_site_load): a site's grid connection, station limits;
the profiles chargers accepted (0014_charging_profiles)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel


class SiteLoadLimit(SQLModel, table=True):
    """The grid connection of a location (site); a row here means the site is managed."""

    __tablename__ = "site_load_limits"

    location_id: str = Field(primary_key=True, foreign_key="locations.id", max_length=64)
    limit_a: float | None = None  # per phase
    limit_w: float | None = None  # total
    voltage_v: float = 230.0
    schedule: list = Field(
        default_factory=list,
        sa_column=Column(JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    )
    group_priorities: dict = Field(
        default_factory=dict,
        sa_column=Column(JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    )
    updated_by: str | None = None
    updated_at: datetime | None = Field(
        default=None,
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=text("now()")),
    )


class StationLoadLimit(SQLModel, table=True):
    """A station's own limit, optionally temporary (`until`)."""

    __tablename__ = "station_load_limits"

    station_id: str = Field(primary_key=True, foreign_key="stations.id", max_length=48)
    limit_a: float | None = None
    limit_w: float | None = None
    until: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    reason: str | None = None
    updated_by: str | None = None
    updated_at: datetime | None = Field(
        default=None,
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=text("now()")),
    )


class InstalledChargingProfile(SQLModel, table=True):
    """A charging profile a charger accepted from us (any sender: the site's workflow or an
    operator), until it is replaced or cleared; what an EV's schedule is checked against."""

    __tablename__ = "charging_profiles"

    station_id: str = Field(primary_key=True, foreign_key="stations.id", max_length=48)
    profile_id: int = Field(primary_key=True)
    evse_id: int = 0  # 0: the whole station
    purpose: str = Field(max_length=40)  # as sent: TxProfile, TxDefaultProfile, ...
    stack_level: int = 0
    transaction_id: str | None = Field(default=None, max_length=64)
    profile: dict = Field(default_factory=dict, sa_column=Column(JSONB, nullable=False))
    set_at: datetime | None = Field(
        default=None,
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=text("now()")),
    )
