"""`ampflow simulate --stay`: a charger that stays connected and answers the CSMS until stopped."""

from __future__ import annotations

import asyncio
import contextlib

from ampflow.seed import DEMO_STATION, DEMO_TAG
from chargers import ChargerConfig, read
from chargers.stay import stay
from tests.conftest import DEMO_PASSWORD
from tests.helpers import eventually
from tests.virtual_chargers.fixtures import command


async def test_stay_answers_remote_operations_until_stopped(
    seeded, worker, live_api, gateway_url, tmp_path
):
    journal = tmp_path / "DEMO-1.jsonl"
    config = ChargerConfig(
        DEMO_STATION,
        DEMO_PASSWORD,
        gateway_url,
        version="2.0.1",
        journal_file=journal,
        state_file=tmp_path / "DEMO-1.state.json",
    )
    said: list[str] = []
    running = asyncio.create_task(stay(config, announce=said.append, handle_signals=False))
    await eventually(lambda: said)
    assert "boot: Accepted" in said[0]

    started = await live_api.post(
        "/sessions", json={"station_id": DEMO_STATION, "id_token": DEMO_TAG}
    )
    assert started.status_code == 202
    session_id = started.json()["session_id"]
    await eventually(lambda: any(e["ev"] == "tx_start" for e in read(journal)), timeout=30)

    async def charging():
        return (await live_api.get(f"/sessions/{session_id}")).json()["state"] == "Charging"

    await eventually(charging, timeout=30)
    assert (await live_api.post(f"/sessions/{session_id}/stop")).status_code == 202
    await eventually(lambda: any(e["ev"] == "tx_stop" for e in read(journal)), timeout=30)
    reset = await command(live_api, DEMO_STATION, "reset", type="Immediate")
    assert reset["status"] == "Accepted"
    await eventually(lambda: len([e for e in read(journal) if e["ev"] == "boot"]) == 2, timeout=30)

    running.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running
    events = read(journal)
    assert events[-1]["ev"] == "power_off"
    assert not [e for e in events if e["ev"] == "bug"]
