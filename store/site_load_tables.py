"""Site load management tables (0013_site_load): a site's grid connection, station limits."""

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
