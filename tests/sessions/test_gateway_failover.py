"""Two gateways against one Temporal and one database: the gateway holding a charger dies in
the middle of a session, the charger reconnects to the other one, and the session completes
with nothing lost and nothing billed twice."""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import select

from ampflow.seed import DEMO_STATION, DEMO_TAG
from chargers.script import scripted
from domain.session import SessionState
from gateway.server import Gateway
from store.tables import MeterSample, Payment
from tests.conftest import DEMO_PASSWORD
from tests.helpers import eventually, session_result
from workflows import contract


async def test_session_moves_to_the_other_gateway(
    seeded, worker, settings, temporal_client, database_url, api
):
    first = Gateway(settings, temporal_client, database_url, settings.task_queue)
    second = Gateway(settings, temporal_client, database_url, settings.task_queue)
    await first.start(host="127.0.0.1", port=0)
    await second.start(host="127.0.0.1", port=0)
    try:
        async with scripted(f"ws://127.0.0.1:{first.port}/ocpp", DEMO_STATION, DEMO_PASSWORD) as cp:
            await cp.start_transaction(DEMO_TAG)
            await cp.meter(1200, minutes=10)
            await first.stop()  # the gateway dies with the charger connected
        state = (cp.transaction_id, cp.meter_wh, cp.clock)
        async with scripted(
            f"ws://127.0.0.1:{second.port}/ocpp", DEMO_STATION, DEMO_PASSWORD
        ) as cp2:
            cp2.transaction_id, cp2.meter_wh, cp2.clock = state
            cp2.id_tag = DEMO_TAG
            await cp2.meter(800, minutes=10)
            # Commands now reach the station through the second gateway.
            await eventually(lambda: _connected_via(api, second))
            reply = await api.post(
                f"/stations/{DEMO_STATION}/commands",
                json={"name": "raw", "params": {"action": "ClearCache", "payload": {}}},
            )
            assert reply.json()["outcome"] in ("ok", "rejected")  # it reached the charger
            await cp2.stop_transaction()
        view = await session_result(temporal_client, DEMO_STATION, cp.transaction_id)
    finally:
        await second.stop()

    assert view.state == SessionState.COMPLETED and view.energy_wh == 2000
    session_id = contract.session_workflow_id(DEMO_STATION, cp.transaction_id)
    with seeded.session() as db:
        samples = db.exec(
            select(func.count())
            .select_from(MeterSample)
            .where(MeterSample.session_id == session_id)
        ).one()
        charges = db.exec(
            select(Payment).where(Payment.session_id == session_id, Payment.kind == "charge")
        ).all()
    assert samples == 2
    assert [c.amount for c in charges] == [view.total]


async def _connected_via(api, gateway: Gateway) -> bool:
    station = (await api.get(f"/stations/{DEMO_STATION}")).json()
    return station["connected"] and gateway.services.connections.get(DEMO_STATION) is not None
