"""Deciding whether a credential may charge: a pure function over what the store knows."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from domain.session import AuthorizationStatus


class TokenFacts(BaseModel):
    """What the store knows about a presented id token (None fields: unknown token)."""

    known: bool
    status: str | None = None  # "Accepted" | "Blocked"
    expires_at: datetime | None = None
    active_sessions: int = 0
    max_concurrent_sessions: int | None = None


def decide(facts: TokenFacts, now: datetime) -> AuthorizationStatus:
    """Accepted only for a known, unblocked, unexpired token within its concurrency limit."""
    if not facts.known:
        return AuthorizationStatus.INVALID
    if facts.status == "Blocked":
        return AuthorizationStatus.BLOCKED
    if facts.expires_at is not None and facts.expires_at <= now:
        return AuthorizationStatus.EXPIRED
    if (
        facts.max_concurrent_sessions is not None
        and facts.active_sessions >= facts.max_concurrent_sessions
    ):
        return AuthorizationStatus.CONCURRENT_TX
    return AuthorizationStatus.ACCEPTED
