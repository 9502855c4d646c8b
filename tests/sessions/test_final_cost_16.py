"""A 1.6 charger that implements the OCA California Pricing messages is told the final price
after its StopTransaction (DataTransfer `FinalCost`): the amount the settlement bills, with
the idle time it reported in StatusNotification priced in."""

from __future__ import annotations

import json

from sqlalchemy import text

from ampflow.seed import DEMO_STATION, DEMO_TAG
from chargers.script import scripted
from domain.session import SessionState
from tests.conftest import DEMO_PASSWORD
from tests.helpers import eventually, session_result


def _final_costs(charger) -> list[dict]:
    return [
        json.loads(p["data"])
        for action, p in charger.received
        if action == "DataTransfer" and p.get("messageId") == "FinalCost"
    ]


async def test_final_cost_reaches_the_charger_and_matches_the_bill(
    seeded, worker, settings, gateway_url, temporal_client
):
    settings.final_cost_16 = True
    with seeded.session() as session:
        session.exec(  # type: ignore[call-overload]
            text("UPDATE tariffs SET idle_price_per_hour = 600, idle_grace_minutes = 0")
        )
        session.commit()
    async with scripted(gateway_url, DEMO_STATION, DEMO_PASSWORD) as charger:
        await charger.start_transaction(DEMO_TAG)
        await charger.meter(4_321, minutes=20)
        await charger.status("SuspendedEV")
        await charger.status("Charging", minutes=9)
        await charger.meter(999, minutes=5)
        await charger.stop_transaction()
        [final] = await eventually(lambda: _final_costs(charger), timeout=20)
    view = await session_result(temporal_client, DEMO_STATION, charger.transaction_id, 60)
    assert view.state == SessionState.COMPLETED
    assert final["transactionId"] == int(charger.transaction_id)
    assert round(final["cost"] * 100) == view.total > 0


async def test_no_final_cost_unless_switched_on(seeded, worker, gateway_url, temporal_client):
    async with scripted(gateway_url, DEMO_STATION, DEMO_PASSWORD) as charger:
        await charger.start_transaction(DEMO_TAG)
        await charger.meter(1_000)
        await charger.stop_transaction()
        await session_result(temporal_client, DEMO_STATION, charger.transaction_id, 60)
    assert _final_costs(charger) == []
