"""`domain.authorization.decide`: which credentials may charge.

Unknown -> Invalid, blocked -> Blocked, expired (an expiry equal to "now" is already expired)
-> Expired, over the concurrency limit -> ConcurrentTx, otherwise Accepted.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from domain.authorization import TokenFacts, decide
from domain.session import AuthorizationStatus

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def test_unknown_token_is_invalid():
    assert decide(TokenFacts(known=False), NOW) == AuthorizationStatus.INVALID


def test_unknown_token_is_invalid_whatever_else_is_said():
    facts = TokenFacts(known=False, status="Accepted", expires_at=NOW + timedelta(days=1))
    assert decide(facts, NOW) == AuthorizationStatus.INVALID


def test_known_accepted_token_is_accepted():
    assert decide(TokenFacts(known=True, status="Accepted"), NOW) == AuthorizationStatus.ACCEPTED


def test_known_token_without_status_is_accepted():
    assert decide(TokenFacts(known=True), NOW) == AuthorizationStatus.ACCEPTED


def test_blocked_token_is_blocked():
    assert decide(TokenFacts(known=True, status="Blocked"), NOW) == AuthorizationStatus.BLOCKED


def test_blocked_wins_over_expired():
    facts = TokenFacts(known=True, status="Blocked", expires_at=NOW - timedelta(days=1))
    assert decide(facts, NOW) == AuthorizationStatus.BLOCKED


@pytest.mark.parametrize(
    ("expires_at", "expected"),
    [
        (NOW - timedelta(days=365), AuthorizationStatus.EXPIRED),
        (NOW - timedelta(microseconds=1), AuthorizationStatus.EXPIRED),
        (NOW, AuthorizationStatus.EXPIRED),  # the boundary: expiring now is expired
        (NOW + timedelta(microseconds=1), AuthorizationStatus.ACCEPTED),
        (NOW + timedelta(days=1), AuthorizationStatus.ACCEPTED),
        (None, AuthorizationStatus.ACCEPTED),  # no expiry
    ],
)
def test_expiry(expires_at, expected):
    facts = TokenFacts(known=True, status="Accepted", expires_at=expires_at)
    assert decide(facts, NOW) == expected


def test_expiry_is_compared_as_an_instant_not_as_wall_clock():
    # 13:00 at UTC+1 is 12:00 UTC: the same instant as NOW, hence expired.
    same_instant = datetime(2026, 3, 1, 13, 0, 0, tzinfo=timezone(timedelta(hours=1)))
    facts = TokenFacts(known=True, status="Accepted", expires_at=same_instant)
    assert decide(facts, NOW) == AuthorizationStatus.EXPIRED
    # 12:30 at UTC+1 is 11:30 UTC: in the past although its wall clock reads later than 12:00.
    earlier = datetime(2026, 3, 1, 12, 30, 0, tzinfo=timezone(timedelta(hours=1)))
    facts = TokenFacts(known=True, status="Accepted", expires_at=earlier)
    assert decide(facts, NOW) == AuthorizationStatus.EXPIRED


@pytest.mark.parametrize(
    ("active", "limit", "expected"),
    [
        (0, 1, AuthorizationStatus.ACCEPTED),
        (1, 1, AuthorizationStatus.CONCURRENT_TX),
        (2, 1, AuthorizationStatus.CONCURRENT_TX),
        (1, 2, AuthorizationStatus.ACCEPTED),
        (2, 2, AuthorizationStatus.CONCURRENT_TX),
        (0, 0, AuthorizationStatus.CONCURRENT_TX),  # a limit of zero allows nothing
        (5, None, AuthorizationStatus.ACCEPTED),  # no limit
    ],
)
def test_concurrent_sessions(active, limit, expected):
    facts = TokenFacts(
        known=True, status="Accepted", active_sessions=active, max_concurrent_sessions=limit
    )
    assert decide(facts, NOW) == expected


def test_expired_wins_over_concurrency():
    facts = TokenFacts(
        known=True,
        status="Accepted",
        expires_at=NOW,
        active_sessions=3,
        max_concurrent_sessions=1,
    )
    assert decide(facts, NOW) == AuthorizationStatus.EXPIRED


def test_status_values_are_the_ocpp_spelling():
    assert [s.value for s in AuthorizationStatus] == [
        "Accepted",
        "Blocked",
        "Expired",
        "Invalid",
        "ConcurrentTx",
        "NoCredit",  # 2.0.1 only; the 1.6 adapter answers Blocked
    ]
