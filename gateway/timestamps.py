"""OCPP timestamps: parse what chargers send, format what we send."""

from __future__ import annotations

from datetime import UTC, datetime

from gateway.protocol import OcppError


def parse(value: str) -> datetime:
    """An RFC 3339 timestamp as an aware datetime (naive ones are taken as UTC)."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as err:
        raise OcppError("PropertyConstraintViolation", f"bad timestamp {value!r}") from err
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def now_iso() -> str:
    """The current UTC time in the form chargers expect, e.g. 2026-01-01T12:00:00.000Z."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
