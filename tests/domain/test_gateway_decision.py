"""`decide_at_gateway`: the gateway answers only what the workflow's rule settles from the store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.authorization import GatewayFacts, TokenFacts, decide_at_gateway
from domain.session import AuthorizationStatus

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
KNOWN = TokenFacts(known=True, status="Accepted")


def _facts(**changes) -> GatewayFacts:
    return GatewayFacts(token=KNOWN, driver_id=7).model_copy(update=changes)


def test_a_ledger_driver_without_limits_is_accepted_at_the_gateway():
    assert decide_at_gateway(_facts(), NOW, hold_at_answer=True) == AuthorizationStatus.ACCEPTED


def test_refusals_of_known_tokens_are_the_workflow_rule():
    blocked = _facts(token=TokenFacts(known=True, status="Blocked"))
    expired = _facts(token=TokenFacts(known=True, expires_at=NOW - timedelta(seconds=1)))
    assert decide_at_gateway(blocked, NOW, hold_at_answer=True) == AuthorizationStatus.BLOCKED
    assert decide_at_gateway(expired, NOW, hold_at_answer=True) == AuthorizationStatus.EXPIRED


def test_what_only_the_workflow_knows_is_left_to_it():
    unknown = _facts(token=TokenFacts(known=False), driver_id=None)
    for facts in (
        unknown,  # counted by the per-station brute-force limit
        _facts(station_locked=True),
        _facts(has_policy=True),  # concurrency limits
    ):
        assert decide_at_gateway(facts, NOW, hold_at_answer=False) is None


def test_a_hold_that_may_be_declined_waits_for_the_workflow_only_when_it_is_the_answer():
    for facts in (_facts(card_on_file=True), _facts(credit_limit=0), _facts(driver_id=None)):
        assert decide_at_gateway(facts, NOW, hold_at_answer=True) is None
        # 2.0.1 Authorize places no hold: the decision is the token's alone
        assert decide_at_gateway(facts, NOW, hold_at_answer=False) == AuthorizationStatus.ACCEPTED


def test_a_free_vend_station_accepts_anyone_but_not_while_locked():
    free = _facts(token=TokenFacts(known=False), station_free_vend=True)
    assert decide_at_gateway(free, NOW, hold_at_answer=True) == AuthorizationStatus.ACCEPTED
    locked = free.model_copy(update={"station_locked": True})
    assert decide_at_gateway(locked, NOW, hold_at_answer=True) is None
