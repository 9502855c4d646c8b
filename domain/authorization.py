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
    has_driver: bool = True  # a card issued to nobody: nobody can be billed for it


def decide(facts: TokenFacts, now: datetime) -> AuthorizationStatus:
    """Accepted only for a known, unblocked, unexpired token of a driver, within its
    concurrency limit. A token issued to no driver is NoCredit (1.6: Blocked) — nobody would
    pay — everywhere: online answers of both versions, the fallback and local lists (free-vend
    stations accept anyone before this rule is asked)."""
    if not facts.known:
        return AuthorizationStatus.INVALID
    if facts.status == "Blocked":
        return AuthorizationStatus.BLOCKED
    if facts.expires_at is not None and facts.expires_at <= now:
        return AuthorizationStatus.EXPIRED
    if not facts.has_driver:
        return AuthorizationStatus.NO_CREDIT
    if (
        facts.max_concurrent_sessions is not None
        and facts.active_sessions >= facts.max_concurrent_sessions
    ):
        return AuthorizationStatus.CONCURRENT_TX
    return AuthorizationStatus.ACCEPTED


class GatewayFacts(BaseModel):
    """What the gateway reads from the store to answer an Authorize itself (ADR-005 §2)."""

    token: TokenFacts
    station_free_vend: bool = False
    station_locked: bool = False  # too many unknown idTags at this station lately
    has_policy: bool = False  # per-credential limits (concurrency) the workflow counts
    driver_id: int | None = None
    card_on_file: bool = False  # the hold goes to the card provider, which may decline it
    credit_limit: int | None = None  # the ledger may decline a hold past it


def decide_at_gateway(
    facts: GatewayFacts, now: datetime, *, hold_at_answer: bool
) -> AuthorizationStatus | None:
    """The answer the gateway may give from the store alone, or None when only the session
    workflow can give it.

    The rule is `decide`, the one the workflow's activity applies. None for what only the
    workflow knows or does: an unknown token (counted by the per-station brute-force limit), a
    station locked by that limit, a credential with concurrency limits, and — when the hold is
    part of the answer (`hold_at_answer`, OCPP 1.6 Authorize) — an accepted token whose hold a
    card provider or a credit limit may decline. A free-vend station accepts without a hold.
    """
    if facts.station_locked:
        return None
    if facts.station_free_vend:
        return AuthorizationStatus.ACCEPTED
    if not facts.token.known or facts.has_policy:
        return None
    status = decide(facts.token, now)
    if status != AuthorizationStatus.ACCEPTED or not hold_at_answer:
        return status
    if facts.driver_id is None or facts.card_on_file or facts.credit_limit is not None:
        return None
    return status
