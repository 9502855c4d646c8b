"""Commands reach a station through the gateway that holds its socket (one or two gateways)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from ampflow.seed import DEMO_STATION
from chargers.rpc import OcppFault
from chargers.script import Script16, scripted
from gateway.server import Gateway
from tests.conftest import DEMO_PASSWORD
from tests.helpers import eventually


@contextlib.asynccontextmanager
async def connected_charger(url: str) -> AsyncIterator[Script16]:
    """A virtual charger that accepts Reset (without rebooting), is slow on ClearCache and
    knows nothing of GetConfiguration (NotImplemented)."""
    async with scripted(url, DEMO_STATION, DEMO_PASSWORD) as cp:
        cp.last_reset = None

        def reset(request: dict) -> dict:
            cp.last_reset = request["type"]
            return {"status": "Accepted"}

        async def slow_clear_cache(request: dict) -> dict:
            await asyncio.sleep(3)
            return {"status": "Accepted"}

        def unknown(request: dict) -> dict:
            raise OcppFault("NotImplemented", "no GetConfiguration here")

        cp.charger.answer_with("Reset", reset)
        cp.charger.answer_with("ClearCache", slow_clear_cache)
        cp.charger.answer_with("GetConfiguration", unknown)
        yield cp


async def test_commands_reach_the_station_and_are_recorded(seeded, worker, gateway_url, api):
    async with connected_charger(gateway_url) as charger:
        reset = await api.post(
            f"/stations/{DEMO_STATION}/commands", json={"name": "reset", "params": {"type": "Hard"}}
        )
        assert reset.status_code == 200, reset.text
        assert reset.json()["outcome"] == "ok" and reset.json()["status"] == "Accepted"
        assert charger.last_reset == "Hard"

        unlock = await api.post(
            f"/stations/{DEMO_STATION}/commands",
            json={"name": "unlock_connector", "params": {"connector_id": 2}},
        )
        assert unlock.json()["status"] == "Unlocked"

        # The charger has no handler for GetConfiguration: it answers a CALLERROR.
        rejected = await api.post(
            f"/stations/{DEMO_STATION}/commands", json={"name": "get_configuration"}
        )
        assert rejected.status_code == 502 and rejected.json()["outcome"] == "rejected"

        slow = await api.post(
            f"/stations/{DEMO_STATION}/commands", json={"name": "clear_cache", "timeout_s": 0.5}
        )
        assert slow.status_code == 504 and slow.json()["outcome"] == "timeout"

        bad = await api.post(
            f"/stations/{DEMO_STATION}/commands",
            json={"name": "raw", "params": {"action": "Reset", "payload": {"type": "Sideways"}}},
        )
        assert bad.status_code == 422 and bad.json()["outcome"] == "not_supported"

    history = await api.get(f"/stations/{DEMO_STATION}/commands")
    outcomes = [c["outcome"] for c in history.json()]
    assert outcomes == ["not_supported", "timeout", "rejected", "ok", "ok"]
    assert all(c["requested_by"] == "admin" for c in history.json())


async def test_command_to_an_offline_station_is_refused(seeded, worker, gateway, api):
    response = await api.post(f"/stations/{DEMO_STATION}/commands", json={"name": "reset"})
    assert response.status_code == 409
    assert response.json()["outcome"] == "offline"
    unknown = await api.post("/stations/NOPE/commands", json={"name": "reset"})
    assert unknown.status_code == 404


async def test_command_reaches_station_on_the_other_gateway(
    seeded, worker, gateway, settings, temporal_client, database_url, api
):
    second = Gateway(settings, temporal_client, database_url, settings.task_queue)
    await second.start(host="127.0.0.1", port=0)
    try:
        assert second.command_queue != gateway.command_queue
        async with connected_charger(f"ws://127.0.0.1:{second.port}/ocpp") as charger:
            response = await api.post(
                f"/stations/{DEMO_STATION}/commands",
                json={"name": "reset", "params": {"type": "Soft"}},
            )
            assert response.status_code == 200, response.text
            assert charger.last_reset == "Soft"
            # Moving to the first gateway re-routes commands there.
            async with connected_charger(f"ws://127.0.0.1:{gateway.port}/ocpp") as moved:
                await eventually(lambda: DEMO_STATION in gateway.services.connections)
                response = await api.post(
                    f"/stations/{DEMO_STATION}/commands",
                    json={"name": "reset", "params": {"type": "Hard"}},
                )
                assert response.status_code == 200, response.text
                assert moved.last_reset == "Hard"
    finally:
        await second.stop()
