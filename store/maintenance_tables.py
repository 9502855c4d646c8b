"""Tables of remote maintenance: jobs, stored files, diagnostics uploads, firmware images,
desired configuration, operator alerts and the 2.0.1 device model (migration 0005).

Files (diagnostics uploads, firmware images) live in PostgreSQL as `bytea` with uncompressed
out-of-line storage (`STORAGE EXTERNAL`), so API replicas need no shared volume and downloads
stream in chunks (`substring` reads only the chunk). Upload tokens are stored as sha256 hashes.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Index, LargeBinary, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from store.columns import timestamp_field


class MaintenanceJob(SQLModel, table=True):
    """One maintenance workflow run (diagnostics, firmware update, rollout, self-healing).

    Keyed by workflow id and first run id: `healing-{station}` is reused by later runs.
    """

    __tablename__ = "maintenance_jobs"
    __table_args__ = (
        Index("ix_maintenance_jobs_station_state", "station_id", "state"),
        Index("ix_maintenance_jobs_kind", "kind", "started_at"),
    )

    workflow_id: str = Field(primary_key=True, max_length=200)
    run_id: str = Field(primary_key=True, max_length=64)  # the first run of the chain
    kind: str = Field(max_length=32)
    station_id: str | None = Field(default=None, max_length=48)
    state: str = Field(default="running", max_length=16)
    requested_by: str = "system"
    summary: str = ""
    reason: str | None = None
    detail: dict = Field(default_factory=dict, sa_column=Column(JSONB, nullable=False))
    started_at: datetime = timestamp_field(nullable=False, server_default=text("now()"))
    finished_at: datetime | None = timestamp_field(nullable=True)


class StoredFile(SQLModel, table=True):
    """File content (bytea, STORAGE EXTERNAL): a diagnostics upload or a firmware image."""

    __tablename__ = "maintenance_files"

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True))
    kind: str = Field(max_length=16)  # diagnostics | firmware
    size: int = Field(sa_column=Column(BigInteger, nullable=False))
    sha256: str = Field(max_length=64)
    content: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = timestamp_field(nullable=False, server_default=text("now()"))


class DiagnosticsUpload(SQLModel, table=True):
    """A one-time upload URL handed to a station, and what arrived on it."""

    __tablename__ = "diagnostics_uploads"
    __table_args__ = (Index("ix_diagnostics_uploads_workflow", "workflow_id"),)

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(unique=True, max_length=64)
    workflow_id: str = Field(max_length=200)
    station_id: str = Field(max_length=48)
    max_bytes: int = Field(sa_column=Column(BigInteger, nullable=False))
    expires_at: datetime = timestamp_field(nullable=False)
    state: str = Field(default="open", max_length=16)  # open | received
    file_name: str | None = None
    file_id: int | None = Field(
        default=None, sa_column=Column(BigInteger, nullable=True)
    )  # maintenance_files.id
    size: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    sha256: str | None = Field(default=None, max_length=64)
    received_at: datetime | None = timestamp_field(nullable=True)
    created_at: datetime = timestamp_field(nullable=False, server_default=text("now()"))


class FirmwareImage(SQLModel, table=True):
    """A firmware image in the repository; chargers fetch it at /firmware/files/{token}/{name}."""

    __tablename__ = "firmware_images"
    __table_args__ = (
        UniqueConstraint("vendor", "model", "version", name="uq_firmware_images_target"),
    )

    id: int | None = Field(default=None, primary_key=True)
    version: str = Field(max_length=64)
    vendor: str | None = Field(default=None, max_length=64)  # None: any vendor
    model: str | None = Field(default=None, max_length=64)  # None: any model
    file_name: str = Field(max_length=200)
    file_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    size: int = Field(sa_column=Column(BigInteger, nullable=False))
    sha256: str = Field(max_length=64)
    signature: str | None = None  # base64, forwarded to 2.0.1 chargers
    signing_certificate: str | None = None  # PEM
    download_token: str = Field(unique=True, max_length=64)
    notes: str | None = None
    uploaded_by: str = "system"
    created_at: datetime = timestamp_field(nullable=False, server_default=text("now()"))


class DesiredConfigurationValue(SQLModel, table=True):
    """One configuration key a station should have (re-applied after firmware updates)."""

    __tablename__ = "station_desired_config"

    station_id: str = Field(primary_key=True, max_length=48)
    key: str = Field(primary_key=True, max_length=200)
    value: str
    updated_by: str = "system"
    updated_at: datetime = timestamp_field(nullable=False, server_default=text("now()"))


class MaintenanceAlert(SQLModel, table=True):
    """Something an operator must look at (self-healing gave up, ...); resolved by hand."""

    __tablename__ = "maintenance_alerts"
    __table_args__ = (Index("ix_maintenance_alerts_station_open", "station_id", "resolved_at"),)

    id: int | None = Field(default=None, primary_key=True)
    station_id: str = Field(max_length=48)
    kind: str = Field(max_length=32)
    message: str
    workflow_id: str | None = Field(default=None, max_length=200)
    detail: dict = Field(default_factory=dict, sa_column=Column(JSONB, nullable=False))
    created_at: datetime = timestamp_field(nullable=False, server_default=text("now()"))
    resolved_at: datetime | None = timestamp_field(nullable=True)
    resolved_by: str | None = None


class DeviceModelVariable(SQLModel, table=True):
    """One variable of a station's device model (2.0.1 NotifyReport; 1.6 configuration keys)."""

    __tablename__ = "station_device_model"

    station_id: str = Field(primary_key=True, max_length=48)
    component_key: str = Field(primary_key=True, max_length=200)  # Name[instance]@evse.connector
    variable_key: str = Field(primary_key=True, max_length=200)  # Name[instance]
    component: dict = Field(default_factory=dict, sa_column=Column(JSONB, nullable=False))
    variable: dict = Field(default_factory=dict, sa_column=Column(JSONB, nullable=False))
    attributes: list = Field(default_factory=list, sa_column=Column(JSONB, nullable=False))
    characteristics: dict | None = Field(default=None, sa_column=Column(JSONB, nullable=True))
    request_id: int | None = None
    updated_at: datetime = timestamp_field(nullable=False, server_default=text("now()"))
