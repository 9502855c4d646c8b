"""What the store knows about a credential beyond its row: limits, live use, its group."""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import Session, select

from store.access_tables import IdTokenPolicy
from store.tables import ChargingSession, IdToken

ACTIVE_STATES = ("Pending", "Charging")  # started (or remote-started), not yet stopped


def token_limits(db: Session, token: IdToken) -> dict:
    """`active_sessions` and `max_concurrent_sessions` for `domain.authorization.TokenFacts`."""
    policy = db.get(IdTokenPolicy, token.id) if token.id is not None else None
    limit = policy.max_concurrent_sessions if policy else None
    active = 0
    if limit is not None:
        active = db.exec(
            select(func.count())
            .select_from(ChargingSession)
            .where(
                ChargingSession.id_token == token.token,
                ChargingSession.state.in_(ACTIVE_STATES),  # type: ignore[attr-defined]
            )
        ).one()
    return {"active_sessions": int(active), "max_concurrent_sessions": limit}


def set_max_concurrent(db: Session, token: IdToken, limit: int | None) -> None:
    """Store (or clear, with None) the credential's concurrency limit."""
    assert token.id is not None
    policy = db.get(IdTokenPolicy, token.id)
    if limit is None:
        if policy is not None:
            db.delete(policy)
        return
    policy = policy or IdTokenPolicy(token_id=token.id)
    policy.max_concurrent_sessions = limit
    db.add(policy)


def max_concurrent(db: Session, token_id: int) -> int | None:
    policy = db.get(IdTokenPolicy, token_id)
    return policy.max_concurrent_sessions if policy else None
