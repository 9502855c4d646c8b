"""Brute-force counters in PostgreSQL, shared by every API and worker process.

Keys name what is limited: `login:account:<sha256 of email>`, `login:ip:<address>`,
`authorize:station:<id>`. The counting rule is `domain.access.after_failure`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlmodel import Session

from domain.access import ThrottlePolicy, ThrottleState, admit, after_failure, seconds_locked

_LOCK_ROW = text(
    "INSERT INTO auth_throttle (key, failures) VALUES (:key, 0) "
    "ON CONFLICT (key) DO UPDATE SET key = EXCLUDED.key "  # takes the row lock, never misses
    "RETURNING failures, window_start, locked_until"
)
_SAVE = text(
    "UPDATE auth_throttle SET failures = :failures, window_start = :window_start, "
    "locked_until = :locked_until WHERE key = :key"
)


@dataclass(frozen=True, slots=True)
class Admission:
    """Whether an attempt may be evaluated; `wait_s` while refused."""

    admitted: bool
    wait_s: float = 0.0
    locked_now: bool = False  # this attempt reached the limit (and set the lock)


def _lock(db: Session, key: str) -> ThrottleState:
    """The key's state, its row locked until the caller's transaction ends."""
    row = db.exec(_LOCK_ROW, params={"key": key}).one()  # type: ignore[call-overload]
    return ThrottleState(
        failures=row.failures, window_start=row.window_start, locked_until=row.locked_until
    )


def _save(db: Session, key: str, state: ThrottleState) -> None:
    db.exec(_SAVE, params={"key": key, **state.model_dump()})  # type: ignore[call-overload]


def locked_for(db: Session, key: str, now: datetime) -> float:
    """Seconds the key stays locked (0: it may try)."""
    row = db.exec(  # type: ignore[call-overload]
        text("SELECT failures, window_start, locked_until FROM auth_throttle WHERE key = :key"),
        params={"key": key},
    ).first()
    if row is None:
        return 0.0
    return seconds_locked(ThrottleState.model_validate(row, from_attributes=True), now)


def reserve(db: Session, key: str, policy: ThrottlePolicy, now: datetime) -> Admission:
    """Count an attempt before evaluating it (row-locked: parallel attempts are counted one
    after another, in every process). Commit before the slow check so others see the count."""
    state = _lock(db, key)
    after, admitted = admit(state, policy, now)
    if not admitted:
        return Admission(False, seconds_locked(state, now))
    _save(db, key, after)
    return Admission(True, locked_now=seconds_locked(after, now) > 0)


def release(db: Session, key: str, admission: Admission) -> None:
    """Take back the count of an attempt that succeeded (and the lock it set, if any)."""
    state = _lock(db, key)
    failures = max(state.failures - 1, 0)
    locked = None if admission.locked_now else state.locked_until
    _save(db, key, state.model_copy(update={"failures": failures, "locked_until": locked}))


def record_failure(db: Session, key: str, policy: ThrottlePolicy, now: datetime) -> float:
    """Count a failure for `key` (row-locked, safe across processes); returns seconds locked."""
    state = after_failure(_lock(db, key), policy, now)
    _save(db, key, state)
    return seconds_locked(state, now)


def clear(db: Session, key: str) -> None:
    """Forget the failures of `key` (after a success)."""
    db.exec(text("DELETE FROM auth_throttle WHERE key = :key"), params={"key": key})  # type: ignore


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
