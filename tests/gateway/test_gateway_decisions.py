"""Authorize decided at the gateway where the store settles it (ADR-005 §6).

No worker runs here: an answer the gateway gives itself comes at once and is labelled
`gateway`; what only the workflow can decide waits for it and, past the deadline, is answered
from the fallback decision.
"""

from __future__ import annotations

from sqlalchemy import text

from ampflow.seed import DEMO_STATION, DEMO_TAG
from chargers.script import scripted
from gateway import metrics
from tests.conftest import DEMO_PASSWORD

TIMEOUT_S = 15


def _count(path: str) -> float:
    return metrics.DECISIONS.labels("Authorize", path)._value.get()


def _sql(db, statement: str, **params) -> None:
    with db.session() as session:
        session.exec(text(statement), params=params)  # type: ignore[call-overload]


async def test_known_tokens_are_decided_at_the_gateway_without_a_workflow(
    seeded, settings, gateway, gateway_url
):
    settings.charger_answer_deadline_s = 1.0
    gateway_before, fallback_before = _count("gateway"), _count("fallback")
    async with scripted(
        gateway_url, DEMO_STATION, DEMO_PASSWORD, message_timeout_s=TIMEOUT_S
    ) as charger:
        assert (await charger.authorize(DEMO_TAG))["status"] == "Accepted"
        _sql(seeded, "UPDATE id_tokens SET status = 'Blocked' WHERE token = :t", t=DEMO_TAG)
        assert (await charger.authorize(DEMO_TAG))["status"] == "Blocked"
        # unknown: counted by the brute-force limit in the workflow, so it is the workflow's
        assert (await charger.authorize("NOT-A-CARD"))["status"] == "Invalid"
    assert _count("gateway") == gateway_before + 2
    assert _count("fallback") == fallback_before + 1


async def test_a_hold_a_card_provider_may_decline_is_left_to_the_workflow(
    seeded, settings, gateway, gateway_url
):
    settings.charger_answer_deadline_s = 1.0
    _sql(
        seeded,
        "INSERT INTO driver_accounts (driver_id, currency, default_payment_method) "
        "SELECT driver_id, 'EUR', 'pm_card_visa' FROM id_tokens WHERE token = :t",
        t=DEMO_TAG,
    )
    gateway_before, fallback_before = _count("gateway"), _count("fallback")
    async with scripted(
        gateway_url, DEMO_STATION, DEMO_PASSWORD, message_timeout_s=TIMEOUT_S
    ) as charger:
        # 1.6: the hold is part of the answer, so the workflow answers (here: the fallback)
        assert (await charger.authorize(DEMO_TAG))["status"] == "Accepted"
    async with scripted(
        gateway_url, DEMO_STATION, DEMO_PASSWORD, version="2.0.1", message_timeout_s=TIMEOUT_S
    ) as station:
        # 2.0.1 Authorize places no hold: the token alone decides
        assert (await station.authorize(DEMO_TAG))["status"] == "Accepted"
    assert _count("fallback") == fallback_before + 1
    assert _count("gateway") == gateway_before + 1
