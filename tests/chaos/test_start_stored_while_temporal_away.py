"""A start the gateway answered while Temporal was away is not lost to the authorization timeout.

Found by the chaos suite: a charger authorized, the gateway lost Temporal, the charger's Start
was answered from the fallback decision and stored in the outbox; the session's authorization
timer fired first, the session expired, and the delivered energy was never billed. The session
now waits (bounded) for a start that is stored but not delivered yet.
"""

from __future__ import annotations

import asyncio

from temporalio.client import Client

from ampflow.seed import DEMO_STATION, DEMO_TAG
from chaos.tcp_proxy import TcpProxy
from chargers.script import scripted
from domain.session import SessionState
from gateway.server import Gateway
from tests.conftest import DEMO_PASSWORD
from tests.helpers import session_result

AUTHORIZATION_TIMEOUT_S = 3


async def test_a_start_stored_during_an_outage_reaches_its_session_before_it_expires(
    seeded, worker, settings, temporal_client, temporal_address, database_url
):
    settings.authorization_timeout_s = AUTHORIZATION_TIMEOUT_S
    settings.charger_answer_deadline_s = 1.0
    host, port = temporal_address.rsplit(":", 1)
    proxy = await TcpProxy(host, int(port)).start()
    client = await Client.connect(proxy.address, data_converter=temporal_client.data_converter)
    gateway = Gateway(settings, client, database_url, settings.task_queue)
    await gateway.start(host="127.0.0.1", port=0)
    try:
        url = f"ws://127.0.0.1:{gateway.port}/ocpp"
        async with scripted(url, DEMO_STATION, DEMO_PASSWORD) as charger:
            assert (await charger.authorize(DEMO_TAG))["status"] == "Accepted"
            proxy.cut()  # the gateway loses Temporal; the worker keeps running
            started = await charger.start_transaction(DEMO_TAG)
            assert started["idTagInfo"]["status"] == "Accepted"  # the fallback decision
            await asyncio.sleep(AUTHORIZATION_TIMEOUT_S + 3)  # past the authorization timeout
            proxy.restore()
            await charger.meter(1_200)
            await charger.stop_transaction()
        view = await session_result(temporal_client, DEMO_STATION, started["transactionId"], 90)
    finally:
        await gateway.stop()
        await proxy.stop()
    assert view.state == SessionState.COMPLETED and view.energy_wh == 1_200
