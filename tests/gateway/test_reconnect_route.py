"""A station that reconnects while its previous socket is still being cleaned up keeps its route:
the old socket's 'disconnected' write may reach the store after the new socket's 'connected'
(two pooled connections, either may commit first), and commands would then find the station
offline although it is connected (seen in a tzi-OCTT TC_A_19 run: SetNetworkProfile answered
'not connected' right after a reconnect). Real gateway; the old write is held back until the new
socket is recorded."""

from __future__ import annotations

import asyncio

from sqlmodel import select

from ampflow.seed import DEMO_STATION
from gateway import events
from store.tables import Station
from tests.helpers import eventually
from tests.records import EventLog
from tests.stations import demo_201


async def test_a_late_disconnect_of_the_old_socket_leaves_the_new_route(seeded, gateway, db):
    gateway_url = f"ws://127.0.0.1:{gateway.port}/ocpp"
    log = EventLog()
    gateway.services.events.subscribe(log)
    reconnected, cleared = asyncio.Event(), asyncio.Event()
    original = gateway.store.set_disconnected

    async def late(*args, **kwargs):
        await reconnected.wait()  # the new socket's route is written first
        try:
            return await original(*args, **kwargs)
        finally:
            cleared.set()

    gateway.store.set_disconnected = late  # type: ignore[method-assign]

    def route() -> tuple[bool, str | None]:
        with db.session() as s:
            station = s.exec(select(Station).where(Station.id == DEMO_STATION)).one()
            return station.connected, station.gateway_queue

    async with demo_201(gateway_url) as first:
        pass
    async with demo_201(gateway_url, script=first) as second:
        assert route() == (True, gateway.command_queue)
        reconnected.set()
        await cleared.wait()
        await eventually(lambda: route() == (True, gateway.command_queue), timeout=5)
        assert (await second.charger.call("Heartbeat", {}))["currentTime"]
        # Listeners were not told it went offline after it came back.
        changes = [e for e in log.events if isinstance(e, events.Connected | events.Disconnected)]
        assert isinstance(changes[-1], events.Connected)
