"""Unknown stations (AMPFLOW_GATEWAY_ADMIT_UNKNOWN_STATIONS=true): answered Pending until an
operator approves them, in both versions; admitted at a bounded rate with bounded credentials."""

from __future__ import annotations

import orjson
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from chargers import basic_auth_header
from gateway.server import Gateway

BOOT_201 = {"reason": "PowerUp", "chargingStation": {"model": "Box", "vendorName": "New"}}
BOOT_16 = {"chargePointVendor": "New", "chargePointModel": "Box"}
PASSWORD = "first-contact-password"


@pytest.fixture
async def make_gateway(settings, temporal_client, database_url, db):
    started: list[Gateway] = []

    async def make(**overrides) -> Gateway:
        for key, value in {"gateway_admit_unknown_stations": True, **overrides}.items():
            setattr(settings, key, value)
        gw = Gateway(settings, temporal_client, database_url, settings.task_queue)
        await gw.start(host="127.0.0.1", port=0)
        started.append(gw)
        return gw

    yield make
    for gw in started:
        await gw.stop()


async def open_socket(gw: Gateway, station: str, password: str, version: str = "ocpp1.6"):
    return await websockets.connect(
        f"ws://127.0.0.1:{gw.port}/ocpp/{station}",
        subprotocols=[version],
        additional_headers=basic_auth_header(station, password),
        open_timeout=10,
    )


async def status_of(gw: Gateway, station: str, password: str) -> int:
    try:
        ws = await open_socket(gw, station, password)
    except InvalidStatus as refused:
        return refused.response.status_code
    await ws.close()
    return 101


async def rpc(ws, unique_id: str, action: str, payload: dict) -> list:
    await ws.send(orjson.dumps([2, unique_id, action, payload]).decode())
    while True:
        answer = orjson.loads(await ws.recv())
        if answer[1] == unique_id:
            return answer


@pytest.mark.parametrize(
    ("version", "boot"), [("ocpp2.0.1", BOOT_201), ("ocpp1.6", BOOT_16)], ids=["2.0.1", "1.6"]
)
async def test_waiting_station_is_answered_pending_until_approved(
    make_gateway, seeded, api, version, boot
):
    gw = await make_gateway()
    ws = await open_socket(gw, "NEW-201", PASSWORD, version)
    answer = await rpc(ws, "b1", "BootNotification", boot)
    assert answer[0] == 3 and answer[2]["status"] == "Pending"
    assert answer[2]["interval"] > 0
    assert (await api.post("/stations/NEW-201/approve")).status_code == 200
    answer = await rpc(ws, "b2", "BootNotification", boot)
    assert answer[2]["status"] == "Accepted"
    await ws.close()


@pytest.mark.parametrize("password", ["short-pw", "y" * 41, ""])
async def test_unknown_station_needs_a_station_password(make_gateway, seeded, api, password):
    gw = await make_gateway()
    assert await status_of(gw, "NEW-PW", password) == 401
    inbox = await api.get("/stations", params={"registration": "Pending"})
    assert inbox.json() == []


async def test_admission_is_rate_limited_per_address(make_gateway, seeded, api):
    gw = await make_gateway(gateway_admit_unknown_ip_max=2, gateway_admit_unknown_max=50)
    assert [await status_of(gw, f"NEW-{i}", PASSWORD) for i in range(3)] == [101, 101, 429]
    # The admitted ones still reconnect (they are known now).
    assert await status_of(gw, "NEW-0", PASSWORD) == 101
    inbox = await api.get("/stations", params={"registration": "Pending"})
    assert sorted(s["id"] for s in inbox.json()) == ["NEW-0", "NEW-1"]


async def test_admission_is_rate_limited_in_total(make_gateway, seeded, api):
    gw = await make_gateway(gateway_admit_unknown_ip_max=50, gateway_admit_unknown_max=2)
    assert [await status_of(gw, f"ALL-{i}", PASSWORD) for i in range(3)] == [101, 101, 429]
    # Another gateway (its own process counters) is bounded by the inbox in the store.
    other = await make_gateway()
    assert await status_of(other, "ALL-9", PASSWORD) == 429
