"""OCPP timestamps: parse what chargers send, format what we send.

A charger's clock can be anything (unset after a power loss, skewed, hostile). A timestamp that
cannot be a real reading — before 2000, more than a day ahead, or not representable in UTC at all
(`9999-12-31T23:59:59-12:00`) — is clamped to the time it was received and logged, so nothing
unrepresentable is stored and a retrying charger is not refused forever.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

from gateway import metrics
from gateway.protocol import OcppError

log = logging.getLogger(__name__)

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
MAX_AHEAD = timedelta(days=1)


def parse(value: str) -> datetime:
    """An RFC 3339 timestamp as an aware UTC datetime (naive ones are taken as UTC)."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as err:
        raise OcppError("PropertyConstraintViolation", f"bad timestamp {value!r}") from err
    now = datetime.now(UTC)
    try:
        at = (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
    except (OverflowError, ValueError):
        at = None
    if at is None or not EARLIEST <= at <= now + MAX_AHEAD:
        log.warning("timestamp %r is out of range; taken as the time received", value[:40])
        metrics.clamped("timestamp")
        return now
    return at


_second: list = [-1, ""]  # the last whole second formatted, and its text up to the seconds


def now_iso() -> str:
    """The current UTC time in the form chargers expect, e.g. 2026-01-01T12:00:00.000Z (the
    text up to the seconds is formatted once per second: Heartbeat answers are frequent)."""
    now = time.time()
    second = int(now)
    if second != _second[0]:
        _second[0], _second[1] = second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
    return f"{_second[1]}.{int((now - second) * 1000):03d}Z"
