"""The running cost reaches a 2.0.1 charger (CostUpdated), and plug-in-first sessions are
authorized after the fact."""

from __future__ import annotations

from ampflow.seed import DEMO_STATION, DEMO_TAG
from domain.session import SessionState
from tests.helpers import charger_session_result, eventually
from tests.v201.support import booted_station


async def test_running_cost_is_pushed_to_the_charger(
    seeded, worker, settings, gateway_url, temporal_client
):
    settings.cost_update_interval_s = 1
    async with booted_station(gateway_url) as station:
        tx = station.transaction(1, DEMO_TAG)
        await station.event(tx.started())
        await station.event(tx.updated(wh=3000))

        def pushed() -> list[dict]:
            return [r for action, r in station.model.received if action == "CostUpdated"]

        costs = await eventually(pushed, timeout=20)
        await station.event(tx.ended())
    assert costs[-1]["transaction_id"] == tx.transaction_id
    assert costs[-1]["total_cost"] > 0
    view = await charger_session_result(temporal_client, seeded, DEMO_STATION, tx.transaction_id)
    assert view.state == SessionState.COMPLETED
    assert round(costs[-1]["total_cost"] * 100) <= view.total


async def test_plug_in_first_is_charged_after_the_token_arrives(
    seeded, worker, gateway_url, temporal_client
):
    async with booted_station(gateway_url) as station:
        tx = station.transaction(1, None)  # cable in, nobody identified yet
        answer = await station.event(tx.started("CablePluggedIn", with_token=False))
        assert answer.id_token_info is None
        await station.event(
            tx.updated(id_token={"idToken": DEMO_TAG, "type": "ISO14443"}, trigger="Authorized")
        )
        await station.event(tx.updated(wh=2500))
        await station.event(tx.ended())
    view = await charger_session_result(temporal_client, seeded, DEMO_STATION, tx.transaction_id)
    assert view.state == SessionState.COMPLETED and view.energy_wh == 2500
