"""The running cost reaches a 2.0.1 charger (CostUpdated), and plug-in-first sessions are
authorized after the fact."""

from __future__ import annotations

import asyncio

from ampflow.seed import DEMO_STATION, DEMO_TAG
from domain.session import SessionState
from tests.helpers import charger_session_result, eventually
from tests.stations import demo_201


def pushed(station) -> list[dict]:
    """The CostUpdated requests the station received, in order."""
    return [request for action, request in station.received if action == "CostUpdated"]


async def test_running_cost_is_pushed_to_the_charger(
    seeded, worker, settings, gateway_url, temporal_client
):
    settings.cost_update_interval_s = 1
    async with demo_201(gateway_url) as station:
        tx = station.transaction(1, DEMO_TAG)
        await station.event(tx.started())
        await station.event(tx.updated(wh=3000))

        costs = await eventually(lambda: pushed(station), timeout=20)
        await station.event(tx.ended())
    assert costs[-1]["transactionId"] == tx.transaction_id
    assert costs[-1]["totalCost"] > 0
    view = await charger_session_result(temporal_client, seeded, DEMO_STATION, tx.transaction_id)
    assert view.state == SessionState.COMPLETED
    assert round(costs[-1]["totalCost"] * 100) <= view.total


async def test_an_unchanged_cost_is_not_pushed_again(
    seeded, worker, settings, gateway_url, temporal_client
):
    """A session whose charger stops reporting (e.g. its stop was lost) must not flood the
    charger with the same CostUpdated every interval: only a changed cost is pushed."""
    settings.cost_update_interval_s = 1
    async with demo_201(gateway_url) as station:
        tx = station.transaction(1, DEMO_TAG)
        await station.event(tx.started())
        await station.event(tx.updated(wh=3000))

        first = await eventually(
            lambda: [c for c in pushed(station) if c["totalCost"] > 0], timeout=20
        )
        await asyncio.sleep(4)  # four intervals without a reading
        assert [c["totalCost"] for c in pushed(station)].count(first[0]["totalCost"]) == 1
        await station.event(tx.updated(wh=2000))
        higher = first[0]["totalCost"]
        await eventually(lambda: pushed(station)[-1]["totalCost"] > higher, timeout=20)
        await station.event(tx.ended())
    view = await charger_session_result(temporal_client, seeded, DEMO_STATION, tx.transaction_id)
    assert view.state == SessionState.COMPLETED


async def test_plug_in_first_is_charged_after_the_token_arrives(
    seeded, worker, gateway_url, temporal_client
):
    async with demo_201(gateway_url) as station:
        tx = station.transaction(1, None)  # cable in, nobody identified yet
        answer = await station.event(tx.started("CablePluggedIn", with_token=False))
        assert answer.get("idTokenInfo") is None
        await station.event(
            tx.updated(id_token={"idToken": DEMO_TAG, "type": "ISO14443"}, trigger="Authorized")
        )
        await station.event(tx.updated(wh=2500))
        await station.event(tx.ended())
    view = await charger_session_result(temporal_client, seeded, DEMO_STATION, tx.transaction_id)
    assert view.state == SessionState.COMPLETED and view.energy_wh == 2500
