"""Unknown stations into the operator inbox; flood limits; silent stations dropped; replacement."""

from __future__ import annotations

import asyncio

import orjson
import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from ampflow.seed import DEMO_STATION
from chargers import basic_auth_header
from gateway.server import Gateway
from tests.conftest import DEMO_PASSWORD
from tests.helpers import eventually


@pytest.fixture
async def make_gateway(settings, temporal_client, database_url, db):
    started: list[Gateway] = []

    async def make(**overrides) -> Gateway:
        for key, value in overrides.items():
            setattr(settings, key, value)
        gw = Gateway(settings, temporal_client, database_url, settings.task_queue)
        await gw.start(host="127.0.0.1", port=0)
        started.append(gw)
        return gw

    yield make
    for gw in started:
        await gw.stop()


async def open_socket(gw: Gateway, station: str, password: str):
    return await websockets.connect(
        f"ws://127.0.0.1:{gw.port}/ocpp/{station}",
        subprotocols=["ocpp1.6"],
        additional_headers=basic_auth_header(station, password),
    )


async def rpc(ws, unique_id: str, action: str, payload: dict) -> list:
    await ws.send(orjson.dumps([2, unique_id, action, payload]).decode())
    while True:
        answer = orjson.loads(await ws.recv())
        if answer[1] == unique_id:
            return answer


BOOT = {"chargePointVendor": "New", "chargePointModel": "Box"}


async def test_unknown_station_waits_in_the_inbox_until_approved(make_gateway, seeded, api):
    gw = await make_gateway(gateway_admit_unknown_stations=True)
    ws = await open_socket(gw, "NEW-7", "first-contact-pw")
    boot = await rpc(ws, "b1", "BootNotification", BOOT)
    assert boot[2]["status"] == "Pending"
    refused = await rpc(ws, "a1", "Authorize", {"idTag": "DEMO-TAG"})
    assert refused[:3] == [4, "a1", "SecurityError"]

    inbox = await api.get("/stations", params={"registration": "Pending"})
    assert [s["id"] for s in inbox.json()] == ["NEW-7"]
    assert (await api.post("/stations/NEW-7/approve")).status_code == 200

    boot = await rpc(ws, "b2", "BootNotification", BOOT)
    assert boot[2]["status"] == "Accepted"
    assert (await rpc(ws, "h1", "Heartbeat", {}))[0] == 3
    await ws.close()
    # The password given at first contact is the station's password from now on.
    with pytest.raises(InvalidStatus) as wrong:
        await open_socket(gw, "NEW-7", "another-password")
    assert wrong.value.response.status_code == 401


async def test_rejected_station_is_refused(make_gateway, seeded, api):
    gw = await make_gateway(gateway_admit_unknown_stations=True)
    ws = await open_socket(gw, "ROGUE-1", "whatever-password-1")
    await ws.close()
    assert (await api.post("/stations/ROGUE-1/reject")).status_code == 200
    with pytest.raises(InvalidStatus) as refused:
        await open_socket(gw, "ROGUE-1", "whatever-password-1")
    assert refused.value.response.status_code == 403


async def test_unknown_station_is_refused_by_default(make_gateway, seeded):
    gw = await make_gateway()
    with pytest.raises(InvalidStatus) as refused:
        await open_socket(gw, "NEW-8", "first-contact-pw")
    assert refused.value.response.status_code == 404


async def test_flood_is_limited_then_closed(make_gateway, seeded):
    gw = await make_gateway(gateway_rate_limit_per_s=1.0, gateway_rate_burst=5)
    ws = await open_socket(gw, DEMO_STATION, DEMO_PASSWORD)
    for i in range(8):
        await ws.send(orjson.dumps([2, f"h{i}", "Heartbeat", {}]).decode())
    answers = [orjson.loads(await ws.recv()) for _ in range(8)]
    limited = [a for a in answers if a[0] == 4]
    assert len(limited) >= 2 and all(a[2] == "GenericError" for a in limited)
    with pytest.raises(ConnectionClosed) as closed:
        for i in range(50):
            await ws.send(orjson.dumps([2, f"f{i}", "Heartbeat", {}]).decode())
            await asyncio.sleep(0)
        while True:
            await ws.recv()
    assert closed.value.rcvd.code == 1008


async def test_silent_station_is_dropped_and_marked_offline(make_gateway, seeded, api):
    gw = await make_gateway(gateway_idle_timeout_s=1.0)
    ws = await open_socket(gw, DEMO_STATION, DEMO_PASSWORD)
    await rpc(ws, "b1", "BootNotification", BOOT)
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(ws.recv(), 10)
    assert closed.value.rcvd.code == 1001
    await eventually(lambda: _connected(api, False))


async def _connected(api, expected: bool) -> bool:
    station = (await api.get(f"/stations/{DEMO_STATION}")).json()
    return station["connected"] is expected


async def test_second_connection_replaces_the_first(make_gateway, seeded):
    gw = await make_gateway()
    first = await open_socket(gw, DEMO_STATION, DEMO_PASSWORD)
    second = await open_socket(gw, DEMO_STATION, DEMO_PASSWORD)
    assert (await rpc(second, "h", "Heartbeat", {}))[0] == 3  # the second one speaks ...
    with pytest.raises(ConnectionClosed):  # ... and the first is closed
        await asyncio.wait_for(first.recv(), 5)
    assert gw.services.connections[DEMO_STATION].ws is not None
    await second.close()
