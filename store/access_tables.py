"""Tables of access control (migration 0004): logins, operators, API keys, login sessions and
refresh tokens, password resets, brute-force counters, the audit log, credential limits and
local authorization lists.

Every secret is stored as a hash: passwords with Argon2, random tokens and keys with SHA-256
(they carry 256 bits of entropy, so a fast hash is enough and allows an indexed lookup).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from store.columns import timestamp_field


class DriverLogin(SQLModel, table=True):
    """A driver's app login; `app_token_id` is their internal Central idToken."""

    __tablename__ = "driver_logins"

    driver_id: int = Field(primary_key=True, foreign_key="drivers.id")
    password_hash: str
    app_token_id: int | None = Field(default=None, foreign_key="id_tokens.id")
    created_at: datetime = timestamp_field(nullable=False, server_default=text("now()"))
    updated_at: datetime = timestamp_field(nullable=False, server_default=text("now()"))


class Operator(SQLModel, table=True):
    """A person operating the network, with one role."""

    __tablename__ = "operators"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(unique=True, index=True, max_length=320)
    name: str = Field(max_length=200)
    role: str = Field(max_length=20)
    password_hash: str
    active: bool = True
    created_at: datetime = timestamp_field(nullable=False, server_default=text("now()"))


class ApiKey(SQLModel, table=True):
    """An integration's key; only its SHA-256 and a display prefix are kept."""

    __tablename__ = "api_keys"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    role: str = Field(max_length=20)
    prefix: str = Field(max_length=16)
    key_hash: str = Field(unique=True, max_length=64)
    created_by: str = Field(max_length=80)
    created_at: datetime = timestamp_field(nullable=False, server_default=text("now()"))
    revoked_at: datetime | None = timestamp_field(nullable=True)


class AuthSession(SQLModel, table=True):
    """One sign-in (a refresh-token family); access tokens name it in their `sid` claim."""

    __tablename__ = "auth_sessions"
    __table_args__ = (Index("ix_auth_sessions_subject", "subject_kind", "subject_id"),)

    id: str = Field(primary_key=True, max_length=32)
    subject_kind: str = Field(max_length=16)  # driver | operator
    subject_id: int
    role: str = Field(max_length=20)
    created_at: datetime = timestamp_field(nullable=False, server_default=text("now()"))
    expires_at: datetime = timestamp_field(nullable=False)
    revoked_at: datetime | None = timestamp_field(nullable=True)


class RefreshToken(SQLModel, table=True):
    """A single-use refresh token; a reused one revokes its whole session."""

    __tablename__ = "refresh_tokens"

    id: int | None = Field(default=None, primary_key=True)
    session_id: str = Field(
        sa_column=Column(
            String(32),
            ForeignKey("auth_sessions.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        )
    )
    token_hash: str = Field(unique=True, max_length=64)
    expires_at: datetime = timestamp_field(nullable=False)
    used_at: datetime | None = timestamp_field(nullable=True)
    created_at: datetime = timestamp_field(nullable=False, server_default=text("now()"))


class PasswordReset(SQLModel, table=True):
    """A single-use password reset token sent by email."""

    __tablename__ = "password_resets"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(unique=True, max_length=64)
    driver_id: int = Field(foreign_key="drivers.id", index=True)
    expires_at: datetime = timestamp_field(nullable=False)
    used_at: datetime | None = timestamp_field(nullable=True)
    created_at: datetime = timestamp_field(nullable=False, server_default=text("now()"))


class ThrottleCounter(SQLModel, table=True):
    """Recent failures for one key (an account, an IP, a station) and its lockout."""

    __tablename__ = "auth_throttle"

    key: str = Field(primary_key=True, max_length=200)
    failures: int = 0
    window_start: datetime | None = timestamp_field(nullable=True)
    locked_until: datetime | None = timestamp_field(nullable=True)


class AuditEntry(SQLModel, table=True):
    """Who did what to what; append-only (a trigger refuses UPDATE and DELETE)."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_target", "target", "id"),
        Index("ix_audit_log_actor", "actor", "id"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True))
    at: datetime = timestamp_field(nullable=False, server_default=text("now()"))
    actor: str = Field(max_length=80)
    action: str = Field(max_length=80)
    target: str = Field(max_length=200)
    detail: dict = Field(default_factory=dict, sa_column=Column(JSONB, nullable=False))


class IdTokenPolicy(SQLModel, table=True):
    """Per-credential limits beyond `id_tokens` (absent row: no limit)."""

    __tablename__ = "id_token_policies"

    token_id: int = Field(
        sa_column=Column(Integer, ForeignKey("id_tokens.id", ondelete="CASCADE"), primary_key=True)
    )
    max_concurrent_sessions: int | None = None


class LocalList(SQLModel, table=True):
    """A station's local authorization list: wanted or not, and what it last accepted."""

    __tablename__ = "local_lists"

    station_id: str = Field(primary_key=True, foreign_key="stations.id", max_length=48)
    enabled: bool = True
    version: int = 0  # the version the station last accepted (0: none)
    snapshot: dict = Field(default_factory=dict, sa_column=Column(JSONB, nullable=False))
    last_outcome: str | None = None
    synced_at: datetime | None = timestamp_field(nullable=True)
    updated_at: datetime = timestamp_field(nullable=False, server_default=text("now()"))


class LocalListVersion(SQLModel, table=True):
    """Every list update sent (or tried) to a station, with the full list it leads to."""

    __tablename__ = "local_list_versions"
    __table_args__ = (Index("ix_local_list_versions_station", "station_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    station_id: str = Field(max_length=48)
    version: int
    update_type: str = Field(max_length=16)
    entries: list = Field(default_factory=list, sa_column=Column(JSONB, nullable=False))
    snapshot: dict = Field(default_factory=dict, sa_column=Column(JSONB, nullable=False))
    outcome: str = "pending"  # pending | accepted | offline | failed
    status: str | None = None
    error: str | None = None
    created_at: datetime = timestamp_field(nullable=False, server_default=text("now()"))
    finished_at: datetime | None = timestamp_field(nullable=True)


class PendingRegistration(SQLModel, table=True):
    """A driver registration waiting for its e-mail code (migration 0008_api_security): no
    account exists until the address is proven, so nobody can pre-claim an address."""

    __tablename__ = "pending_registrations"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(unique=True, max_length=64)
    email: str = Field(max_length=320, index=True)
    name: str = Field(max_length=200)
    password_hash: str
    expires_at: datetime = timestamp_field(nullable=False)
    used_at: datetime | None = timestamp_field(nullable=True)
    created_at: datetime = timestamp_field(nullable=False, server_default=text("now()"))


class DevMail(SQLModel, table=True):
    """Outgoing mail kept locally when no SMTP server is configured (`GET /dev/mailbox`)."""

    __tablename__ = "dev_mailbox"

    id: int | None = Field(default=None, primary_key=True)
    to_address: str = Field(max_length=320)
    subject: str = Field(max_length=200)
    body: str
    created_at: datetime = timestamp_field(nullable=False, server_default=text("now()"))
