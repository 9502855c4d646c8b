"""A 72-hour session of 10-second samples, accelerated: exact energy and cost, every sample
stored once, and the workflow continues-as-new on the way without losing anything."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction

from sqlalchemy import func
from sqlmodel import select
from temporalio.client import WorkflowExecutionStatus

from ampflow.seed import DEMO_STATION, DEMO_TAG, DEMO_TARIFF
from chargers.script import iso, scripted
from domain.money import round_half_up
from domain.session import SessionState
from gateway.server import Gateway
from store.tables import MeterSample, Payment
from tests.conftest import DEMO_PASSWORD
from tests.helpers import eventually, session_result
from workflows import contract

HOURS = 72
SAMPLE_S = 10
PER_FRAME = 60  # readings per MeterValues frame (10 minutes of samples)
WH_PER_SAMPLE = 3


async def test_72_hour_session_is_exact(settings, seeded, temporal_client, database_url, worker):
    settings.session_history_limit = 40  # force continue-as-new several times
    settings.gateway_rate_limit_per_s = 10_000  # this charger replays 72 hours at once
    gw = Gateway(settings, temporal_client, database_url, settings.task_queue)
    await gw.start(host="127.0.0.1", port=0)
    samples = HOURS * 3600 // SAMPLE_S
    try:
        async with scripted(f"ws://127.0.0.1:{gw.port}/ocpp", DEMO_STATION, DEMO_PASSWORD) as cp:
            # Replayed from the past: a charger's timestamps are never ahead of the CSMS's clock
            # (a reading more than a day ahead is taken as received, see gateway/timestamps.py).
            cp.clock = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=HOURS + 1)
            await cp.start_transaction(DEMO_TAG)
            start_clock, energy = cp.clock, cp.meter_wh
            for frame in range(samples // PER_FRAME):
                readings = []
                for i in range(PER_FRAME):
                    n = frame * PER_FRAME + i + 1
                    at = start_clock + timedelta(seconds=n * SAMPLE_S)
                    readings.append(
                        {
                            "timestamp": iso(at),
                            "sampledValue": [
                                {
                                    "value": str(energy + n * WH_PER_SAMPLE),
                                    "measurand": "Energy.Active.Import.Register",
                                    "unit": "Wh",
                                }
                            ],
                        }
                    )
                await cp.call(
                    "MeterValues",
                    {"connectorId": 1, "transactionId": cp.transaction_id, "meterValue": readings},
                )
            cp.meter_wh = energy + samples * WH_PER_SAMPLE
            cp.clock = start_clock + timedelta(hours=HOURS)
            await cp.stop_transaction(minutes=0)
        view = await session_result(temporal_client, DEMO_STATION, cp.transaction_id, timeout=60)
    finally:
        await gw.stop()

    energy_wh = samples * WH_PER_SAMPLE
    t = DEMO_TARIFF
    net = (
        round_half_up(Fraction(energy_wh * t["energy_price_per_kwh"], 1000))
        + HOURS * t["time_price_per_hour"]
        + t["session_fee"]
    )
    total = net + round_half_up(Fraction(net * t["vat_rate_bp"], 10_000))
    assert view.state == SessionState.COMPLETED
    assert (view.energy_wh, view.total) == (energy_wh, total)

    session_id = contract.session_workflow_id(DEMO_STATION, cp.transaction_id)
    with seeded.session() as db:
        stored = db.exec(
            select(func.count())
            .select_from(MeterSample)
            .where(MeterSample.session_id == session_id)
        ).one()
        payments = db.exec(
            select(Payment).where(Payment.session_id == session_id, Payment.kind == "charge")
        ).all()
    assert stored == samples
    assert [p.amount for p in payments] == [total]

    async def all_runs():
        runs = [w async for w in temporal_client.list_workflows(f'WorkflowId = "{session_id}"')]
        return runs if runs and all(w.close_time for w in runs) else None

    runs = await eventually(all_runs)
    continued = [w for w in runs if w.status == WorkflowExecutionStatus.CONTINUED_AS_NEW]
    assert len(runs) >= 2 and len(continued) == len(runs) - 1
