"""Brute-force counters in PostgreSQL, shared by every API and worker process.

Keys name what is limited: `login:account:<sha256 of email>`, `login:ip:<address>`,
`authorize:station:<id>`. The counting rule is `domain.access.after_failure`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import text
from sqlmodel import Session

from domain.access import ThrottlePolicy, ThrottleState, after_failure, seconds_locked
from store.access_tables import ThrottleCounter


def locked_for(db: Session, key: str, now: datetime) -> float:
    """Seconds the key stays locked (0: it may try)."""
    row = db.get(ThrottleCounter, key)
    if row is None:
        return 0.0
    return seconds_locked(ThrottleState.model_validate(row, from_attributes=True), now)


def record_failure(db: Session, key: str, policy: ThrottlePolicy, now: datetime) -> float:
    """Count a failure for `key` (row-locked, safe across processes); returns seconds locked."""
    db.exec(  # type: ignore[call-overload]
        text("INSERT INTO auth_throttle (key, failures) VALUES (:key, 0) ON CONFLICT DO NOTHING"),
        params={"key": key},
    )
    row = db.get(ThrottleCounter, key, with_for_update=True, populate_existing=True)
    assert row is not None
    state = after_failure(ThrottleState.model_validate(row, from_attributes=True), policy, now)
    row.failures, row.window_start, row.locked_until = (
        state.failures,
        state.window_start,
        state.locked_until,
    )
    db.add(row)
    db.flush()
    return seconds_locked(state, now)


def clear(db: Session, key: str) -> None:
    """Forget the failures of `key` (after a success)."""
    row = db.get(ThrottleCounter, key)
    if row is not None:
        db.delete(row)


# ---- OCPP Authorize, per station (called by the authorize_token activity) ------------------


def authorize_key(station_id: str) -> str:
    return f"authorize:station:{station_id}"


def authorize_allowed(db: Session, station_id: str, now: datetime) -> bool:
    """False while the station is locked out after too many refused idTags."""
    return locked_for(db, authorize_key(station_id), now) == 0


def note_authorize(
    db: Session, station_id: str, accepted: bool, policy: ThrottlePolicy, now: datetime
) -> None:
    """Count a refused (unknown) idTag at the station; accepted ones count nothing."""
    if not accepted:
        record_failure(db, authorize_key(station_id), policy, now)
