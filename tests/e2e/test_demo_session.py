"""`ampflow simulate`'s session: a virtual OCPP 1.6J charger through gateway, Temporal and store."""

from __future__ import annotations

import asyncio
import sys
from fractions import Fraction

from sqlmodel import select

from ampflow.seed import DEMO_STATION, DEMO_TAG, DEMO_TARIFF
from chargers import ChargerConfig
from chargers.demo import run_demo_session
from domain.money import round_half_up
from domain.session import SessionState
from store.tables import MeterSample
from tests.conftest import DEMO_PASSWORD
from tests.helpers import eventually, session_result
from workflows import contract


def hand_rated_total(energy_wh: int, duration_s: int) -> int:
    t = DEMO_TARIFF
    energy = round_half_up(Fraction(energy_wh * t["energy_price_per_kwh"], 1000))
    time = round_half_up(Fraction(duration_s * t["time_price_per_hour"], 3600))
    net = energy + time + t["session_fee"]
    return net + round_half_up(Fraction(net * t["vat_rate_bp"], 10_000))


def demo_config(gateway_url: str, **extra) -> ChargerConfig:
    return ChargerConfig(DEMO_STATION, DEMO_PASSWORD, gateway_url, max_power_w=150_000, **extra)


async def test_demo_session_is_rated_paid_and_receipted(
    seeded, worker, gateway_url, temporal_client, api
):
    sim = await run_demo_session(demo_config(gateway_url), DEMO_TAG, meter_values=6, interval_s=0.3)
    assert (sim.boot_status, sim.authorize_status, sim.start_status) == (
        "Accepted",
        "Accepted",
        "Accepted",
    )
    assert sim.refused is None
    view = await session_result(temporal_client, DEMO_STATION, sim.transaction_id)
    assert view.state == SessionState.COMPLETED

    session_id = contract.session_workflow_id(DEMO_STATION, sim.transaction_id)
    response = await api.get(f"/sessions/{session_id}")
    assert response.status_code == 200
    body = response.json()
    energy = sim.meter_stop_wh - sim.meter_start_wh  # what the charger's meter integrated
    assert energy > 0
    assert body["energy_wh"] == energy
    measured = (sim.stopped_at - sim.started_at).total_seconds()
    assert abs(body["duration_s"] - measured) <= 1
    assert body["total_amount"] == hand_rated_total(energy, body["duration_s"])
    assert body["payment"] == {
        "provider": "ledger",
        "status": "succeeded",
        "amount": body["total_amount"],
        "currency": "EUR",
        "failure_reason": None,
    }
    assert body["receipt"]["number"] == 1
    assert [line["component"] for line in body["cost"]["lines"]] == ["energy", "time", "session"]

    receipt = await api.get(f"/sessions/{session_id}/receipt")
    assert receipt.status_code == 200
    assert "Charging receipt no. 1" in receipt.text
    assert f"{body['total_amount'] // 100}.{body['total_amount'] % 100:02d} EUR" in receipt.text

    # Each reading (energy + power) is stored exactly once.
    with seeded.session() as db:
        rows = db.exec(select(MeterSample).where(MeterSample.session_id == session_id)).all()
    assert len(rows) == 12
    assert max(r.value for r in rows if r.measurand.startswith("Energy")) <= sim.meter_stop_wh

    # Every frame in and out is in the message log (written in background batches).
    async def logged_actions():
        page = await api.get(f"/stations/{DEMO_STATION}/messages", params={"limit": 1000})
        return [m["action"] for m in page.json() if m["direction"] == "in"]

    actions = await eventually(
        lambda: _when(logged_actions(), lambda actions: "StopTransaction" in actions)
    )
    assert actions.count("MeterValues") == 6
    assert actions[0] == "BootNotification"
    assert actions.index("Authorize") < actions.index("StartTransaction")


async def _when(coro, predicate):
    value = await coro
    return value if predicate(value) else None


async def test_session_is_findable_by_station_in_temporal(
    seeded, worker, gateway_url, temporal_client
):
    sim = await run_demo_session(demo_config(gateway_url), DEMO_TAG, meter_values=1)
    await session_result(temporal_client, DEMO_STATION, sim.transaction_id)
    session_id = contract.session_workflow_id(DEMO_STATION, sim.transaction_id)
    found = [
        wf.id
        async for wf in temporal_client.list_workflows(
            f'StationId = "{DEMO_STATION}" AND WorkflowId = "{session_id}"'
        )
    ]
    assert found == [session_id]


async def test_refused_card_and_refused_station_are_reported(seeded, worker, gateway_url):
    refused_card = await run_demo_session(demo_config(gateway_url), "NOT-A-CARD", meter_values=1)
    assert refused_card.refused == "authorize" and refused_card.transaction_id is None
    wrong_password = ChargerConfig(DEMO_STATION, "wrong-password", gateway_url)
    refused_station = await run_demo_session(wrong_password, DEMO_TAG, boot_timeout_s=10)
    assert refused_station.refused == "boot"
    assert refused_station.boot_status == "Refused"


async def _simulate(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ampflow.cli",
        "simulate",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode or 0, out.decode(), err.decode()


async def test_simulate_command_prints_the_session_or_fails(seeded, worker, gateway_url):
    code, out, _ = await _simulate(
        "--url", gateway_url, "--password", DEMO_PASSWORD, "--meter-values", "2"
    )
    assert code == 0, out
    assert "boot: Accepted  authorize: Accepted  start: Accepted" in out
    assert f"session id: session-{DEMO_STATION}-" in out and "curl -H" in out
    code, out, err = await _simulate(
        "--url",
        gateway_url,
        "--password",
        DEMO_PASSWORD,
        "--id-tag",
        "UNKNOWN",
        "--version",
        "2.0.1",
    )
    assert code == 1 and "refused at authorize" in err
