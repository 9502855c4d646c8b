"""The live view end to end: charger → gateway → NOTIFY → API LISTEN → SSE client; and /fleet.

The stream is read from a real uvicorn server. The latency from the MeterValues frame to the
event is measured and printed, never asserted; the test asserts content and order.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass

import httpx

from ampflow.seed import DEMO_STATION, DEMO_TAG
from chargers.script import iso, scripted
from tests.conftest import ADMIN_KEY, DEMO_PASSWORD
from tests.helpers import eventually
from workflows import contract


@dataclass
class Arrived:
    event: str
    data: dict
    at: float  # time.monotonic() when the client read it


async def _read_stream(response: httpx.Response, into: list[Arrived]) -> None:
    kind, data = None, []
    async for line in response.aiter_lines():
        if line.startswith("event:"):
            kind = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
        elif line == "" and data:
            into.append(Arrived(kind or "message", json.loads("\n".join(data)), time.monotonic()))
            kind, data = None, []


def _first(events: list[Arrived], kind: str, **match) -> Arrived | None:
    for item in events:
        if item.event == kind and all(item.data.get(k) == v for k, v in match.items()):
            return item
    return None


@contextlib.asynccontextmanager
async def live_stream(base_url: str, **params):
    """Open GET /live as an SSE client; yields the list the reader task fills."""
    arrived: list[Arrived] = []
    headers = {"Accept": "text/event-stream", "X-API-Key": ADMIN_KEY}
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        async with client.stream("GET", "/live", headers=headers, params=params) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            reader = asyncio.create_task(_read_stream(response, arrived))
            try:
                await eventually(lambda: _first(arrived, "ready"))
                yield arrived
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader


async def test_session_power_reaches_the_stream(seeded, worker, gateway_url, api_server):
    async with live_stream(api_server) as arrived:
        async with scripted(gateway_url, DEMO_STATION, DEMO_PASSWORD) as charger:
            await charger.status("Preparing")
            await charger.start_transaction(DEMO_TAG)
            session_id = contract.session_workflow_id(DEMO_STATION, charger.transaction_id)
            await charger.status("Charging")
            charger.meter_wh += 1500
            sent = time.monotonic()
            await charger.call(
                "MeterValues",
                {
                    "connectorId": 1,
                    "transactionId": charger.transaction_id,
                    "meterValue": [
                        {
                            "timestamp": iso(charger.clock),
                            "sampledValue": [
                                {
                                    "value": str(charger.meter_wh),
                                    "measurand": "Energy.Active.Import.Register",
                                    "unit": "Wh",
                                },
                                {
                                    "value": "7.4",
                                    "measurand": "Power.Active.Import",
                                    "unit": "kW",
                                },
                            ],
                        }
                    ],
                },
            )
            meter = await eventually(lambda: _first(arrived, "meter", session_id=session_id))
            print(f"\nMeterValues → SSE event latency: {1000 * (meter.at - sent):.1f} ms")
            assert meter.at > sent
            assert meter.data["station_id"] == DEMO_STATION
            assert meter.data["connector_id"] == 1
            assert meter.data["energy_wh"] == 11_500
            assert meter.data["power_w"] == 7400.0

            # No power sampled: derived from the last two energy readings (1 kWh in a minute).
            await charger.meter(1000, minutes=1)
            derived = await eventually(
                lambda: _first(arrived, "meter", session_id=session_id, energy_wh=12_500)
            )
            assert derived.data["power_w"] == 60_000.0

            async with httpx.AsyncClient(base_url=api_server) as http:
                fleet = (await http.get("/fleet", headers={"X-API-Key": ADMIN_KEY})).json()
                snapshot = await http.get("/live", headers={"X-API-Key": ADMIN_KEY})
            assert fleet["stations_online"] == 1 and fleet["active_sessions"] == 1
            assert fleet["power_w"] == 60_000.0
            assert fleet["connectors_by_status"] == {"Charging": 1}
            [live] = snapshot.json()["sessions"]
            assert live["session_id"] == session_id and live["energy_wh"] == 12_500

            await charger.stop_transaction()
            await charger.status("Available")
            await eventually(lambda: _first(arrived, "session", event="stopped"))
            await eventually(lambda: _first(arrived, "connector", status="Available"))

    kinds = [(a.event, a.data.get("event") or a.data.get("status")) for a in arrived]
    assert kinds.index(("station", "connected")) < kinds.index(("connector", "Preparing"))
    assert kinds.index(("session", "started")) < kinds.index(("connector", "Charging"))
    assert kinds.index(("session", "stopped")) < kinds.index(("connector", "Available"))
    assert arrived.index(meter) < arrived.index(derived)


async def test_stream_filters_by_station_and_type(seeded, worker, gateway_url, api_server):
    async with live_stream(api_server, station_id="OTHER", types="meter") as other:
        async with live_stream(api_server, station_id=DEMO_STATION, types="connector") as mine:
            async with scripted(gateway_url, DEMO_STATION, DEMO_PASSWORD) as charger:
                await charger.status("Faulted")
                await eventually(lambda: _first(mine, "connector", status="Faulted"))
    assert {a.event for a in mine} == {"ready", "connector"}
    assert [a.event for a in other] == ["ready"]


async def test_snapshot_without_an_event_stream_accept(seeded, api):
    response = await api.get("/live")
    assert response.status_code == 200
    body = response.json()
    assert body["sessions"] == []
    assert body["fleet"]["stations"] == 1 and body["fleet"]["stations_offline"] == 1
