"""A charger moves to another gateway while the old one still holds a half-open socket.

The old socket's late close must not mark the station offline: only the gateway that owns the
station's route may (ADR-005 §3). Before, the late `Disconnected` started the session's offline
guard and the live session was closed with partial energy while the car kept charging.
"""

from __future__ import annotations

import asyncio

from ampflow.seed import DEMO_STATION, DEMO_TAG
from chargers.script import scripted
from domain.session import SessionState, SessionView
from gateway.server import Gateway
from tests.conftest import DEMO_PASSWORD
from tests.helpers import session_result
from workflows import contract

OFFLINE_CLOSE_S = 3


async def test_a_late_close_on_the_old_gateway_does_not_take_the_session_offline(
    seeded, worker, settings, temporal_client, database_url
):
    settings.session_offline_close_s = OFFLINE_CLOSE_S
    old = Gateway(settings, temporal_client, database_url, settings.task_queue)
    new = Gateway(settings, temporal_client, database_url, settings.task_queue)
    await old.start(host="127.0.0.1", port=0)
    await new.start(host="127.0.0.1", port=0)
    try:
        async with scripted(f"ws://127.0.0.1:{old.port}/ocpp", DEMO_STATION, DEMO_PASSWORD) as a:
            started = await a.start_transaction(DEMO_TAG)
            await a.meter(1_000)
            async with scripted(
                f"ws://127.0.0.1:{new.port}/ocpp", DEMO_STATION, DEMO_PASSWORD
            ) as b:
                b.transaction_id, b.id_tag = started["transactionId"], DEMO_TAG
                b.meter_wh, b.clock = a.meter_wh, a.clock
                await a.charger.stop()  # the half-open socket finally closes on `old`
                await asyncio.sleep(OFFLINE_CLOSE_S + 3)  # past the offline guard
                await b.meter(500)
                handle = temporal_client.get_workflow_handle(
                    contract.session_workflow_id(DEMO_STATION, started["transactionId"])
                )
                live = await handle.query(contract.QUERY_STATE, result_type=SessionView)
                assert live.online and live.state == SessionState.CHARGING, live
                await b.stop_transaction()
        view = await session_result(temporal_client, DEMO_STATION, started["transactionId"])
    finally:
        await old.stop()
        await new.stop()
    assert view.state == SessionState.COMPLETED and view.flags == []
    assert view.energy_wh == 1_500
