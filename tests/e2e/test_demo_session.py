"""A real OCPP 1.6J charger runs a whole session through gateway, Temporal and the store."""

from __future__ import annotations

from fractions import Fraction

from sqlmodel import select

from ampflow.seed import DEMO_STATION, DEMO_TAG, DEMO_TARIFF
from ampflow.simulator import run_session
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


async def test_demo_session_is_rated_paid_and_receipted(
    seeded, worker, gateway_url, temporal_client, api
):
    sim = await run_session(
        gateway_url, DEMO_STATION, DEMO_PASSWORD, DEMO_TAG, meter_values=6, wh_per_interval=1234
    )
    assert (sim.boot_status, sim.authorize_status, sim.start_status) == (
        "Accepted",
        "Accepted",
        "Accepted",
    )
    view = await session_result(temporal_client, DEMO_STATION, sim.transaction_id)
    assert view.state == SessionState.COMPLETED

    session_id = contract.session_workflow_id(DEMO_STATION, sim.transaction_id)
    response = await api.get(f"/sessions/{session_id}")
    assert response.status_code == 200
    body = response.json()
    energy = 6 * 1234
    duration = int((sim.stopped_at - sim.started_at).total_seconds())
    assert body["energy_wh"] == energy
    assert body["duration_s"] == duration == 7 * 60
    assert body["total_amount"] == hand_rated_total(energy, duration)
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
    assert max(r.value for r in rows if r.measurand.startswith("Energy")) == 10_000 + energy

    # Every frame in and out is in the message log (written in background batches).
    async def logged_actions():
        page = await api.get(f"/stations/{DEMO_STATION}/messages", params={"limit": 1000})
        return [m["action"] for m in page.json() if m["direction"] == "in"]

    actions = await eventually(
        lambda: _when(logged_actions(), lambda actions: "StopTransaction" in actions)
    )
    assert actions.count("MeterValues") == 6
    assert actions[:3] == ["BootNotification", "StatusNotification", "Authorize"]


async def _when(coro, predicate):
    value = await coro
    return value if predicate(value) else None


async def test_session_is_findable_by_station_in_temporal(
    seeded, worker, gateway_url, temporal_client
):
    sim = await run_session(gateway_url, DEMO_STATION, DEMO_PASSWORD, DEMO_TAG, meter_values=1)
    await session_result(temporal_client, DEMO_STATION, sim.transaction_id)
    session_id = contract.session_workflow_id(DEMO_STATION, sim.transaction_id)
    found = [
        wf.id
        async for wf in temporal_client.list_workflows(
            f'StationId = "{DEMO_STATION}" AND WorkflowId = "{session_id}"'
        )
    ]
    assert found == [session_id]
