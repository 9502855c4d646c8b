"""Killing the worker in the middle of a session and starting it again loses nothing: the session
completes and is billed exactly once.

A real OCPP 1.6 charger (the `ocpp` library) is driven step by step against a real gateway; the
session worker is built and shut down by the tests themselves (no `worker` fixture), so each test
decides exactly which part of the session happens while no worker runs:

* the worker is down while the meter values and the stop arrive (the gateway still answers
  them: readings go to the store, the stop is a Temporal signal);
* the worker is shut down right after the stop was delivered, while it settles the session;
* the worker dies in the middle of the settlement activity, after the ledger has recorded the
  charge but before the result was reported, so the settlement is retried by the next worker.

"Billed exactly once" means: one `charge` payment of the rated total, the authorize-time hold
captured (not left open), one ledger entry for the session, one receipt.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from fractions import Fraction

from sqlmodel import select
from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus

from activities.payments.ledger import LedgerProvider
from ampflow.seed import DEMO_STATION, DEMO_TAG, DEMO_TARIFF
from chargers.script import Script16, scripted
from domain.money import round_half_up
from domain.session import SessionState
from store.billing_tables import LedgerEntry
from store.tables import ChargingSession, Payment, Receipt
from tests.conftest import DEMO_PASSWORD
from tests.helpers import eventually, session_result
from workers.session_worker import build_worker
from workflows import contract

METER_START_WH = 10_000
WH_PER_MINUTE = 1000
METER_VALUES = 3


def hand_rated_total(energy_wh: int, duration_s: int) -> int:
    t = DEMO_TARIFF
    energy = round_half_up(Fraction(energy_wh * t["energy_price_per_kwh"], 1000))
    time = round_half_up(Fraction(duration_s * t["time_price_per_hour"], 3600))
    net = energy + time + t["session_fee"]
    return net + round_half_up(Fraction(net * t["vat_rate_bp"], 10_000))


# 3 kWh: 105; 4 minutes: 8; session 50 -> net 163, VAT 32.6 -> 33, total 196.
EXPECTED_ENERGY_WH = METER_VALUES * WH_PER_MINUTE
EXPECTED_DURATION_S = (METER_VALUES + 1) * 60
EXPECTED_TOTAL = 196


@dataclass
class Charger:
    """One OCPP 1.6 charger driven a step at a time (simulated clock, one minute per reading)."""

    cp: Script16
    transaction_id: int | None = None

    async def boot_authorize_start(self) -> None:
        assert self.cp.charger.boot_status == "Accepted"
        assert (await self.cp.authorize(DEMO_TAG))["status"] == "Accepted"
        self.cp.meter_wh = METER_START_WH
        start = await self.cp.start_transaction(DEMO_TAG)
        assert start["idTagInfo"]["status"] == "Accepted"
        self.transaction_id = start["transactionId"]

    async def meter_values(self, count: int) -> None:
        for _ in range(count):
            await self.cp.meter(WH_PER_MINUTE, minutes=1)  # answered, or it raises

    async def stop(self) -> None:
        await self.cp.stop_transaction("Local", minutes=1)  # the gateway acknowledged the stop

    @property
    def session_id(self) -> str:
        return contract.session_workflow_id(DEMO_STATION, self.transaction_id)


@asynccontextmanager
async def connected_charger(gateway_url: str) -> AsyncIterator[Charger]:
    async with scripted(gateway_url, DEMO_STATION, DEMO_PASSWORD) as cp:
        yield Charger(cp)


def session_worker(temporal_client: Client, db, settings):
    return build_worker(temporal_client, db, settings.task_queue, settings=settings)


def payments_of(db, session_id: str) -> dict[str, Payment]:
    with db.session() as session:
        rows = session.exec(select(Payment).where(Payment.session_id == session_id)).all()
    kinds = [row.kind for row in rows]
    assert len(kinds) == len(set(kinds)), kinds  # never two rows of one kind
    return {row.kind: row for row in rows}


async def assert_completed_and_billed_once(db, temporal_client: Client, charger: Charger) -> None:
    view = await session_result(temporal_client, DEMO_STATION, charger.transaction_id, timeout=60)
    assert view.state == SessionState.COMPLETED
    assert view.total == EXPECTED_TOTAL
    with db.session() as session:
        row = session.get(ChargingSession, charger.session_id)
        ledger = session.exec(
            select(LedgerEntry).where(LedgerEntry.session_id == charger.session_id)
        ).all()
        receipts = session.exec(select(Receipt)).all()
    assert row.state == SessionState.COMPLETED.value
    assert row.energy_wh == EXPECTED_ENERGY_WH
    assert row.duration_s == EXPECTED_DURATION_S
    assert row.total_amount == hand_rated_total(row.energy_wh, row.duration_s) == EXPECTED_TOTAL

    payments = payments_of(db, charger.session_id)
    charge = payments["charge"]
    assert (charge.amount, charge.status, charge.provider) == (
        EXPECTED_TOTAL,
        "succeeded",
        "ledger",
    )
    if "hold" in payments:  # the authorize-time reservation is used, not left open
        assert payments["hold"].status == "captured"
    assert [(e.kind, e.amount) for e in ledger] == [("session", EXPECTED_TOTAL)]
    assert [(r.session_id, r.number, r.total) for r in receipts] == [
        (charger.session_id, 1, EXPECTED_TOTAL)
    ]


async def test_worker_down_during_meter_values_and_stop(
    seeded, gateway_url, temporal_client, settings
):
    async with connected_charger(gateway_url) as charger:
        async with session_worker(temporal_client, seeded, settings):
            await charger.boot_authorize_start()
        # No worker runs from here on: the gateway still answers readings and the stop.
        await charger.meter_values(METER_VALUES)
        await charger.stop()

        handle = temporal_client.get_workflow_handle(charger.session_id)
        description = await handle.describe()
        assert description.status == WorkflowExecutionStatus.RUNNING
        with seeded.session() as session:
            row = session.get(ChargingSession, charger.session_id)
            assert row.state == SessionState.CHARGING.value  # nothing settled without a worker
            assert row.total_amount is None
        assert "charge" not in payments_of(seeded, charger.session_id)

        async with session_worker(temporal_client, seeded, settings):
            await assert_completed_and_billed_once(seeded, temporal_client, charger)


async def test_worker_shut_down_right_after_the_stop(
    seeded, gateway_url, temporal_client, settings
):
    async with connected_charger(gateway_url) as charger:
        async with session_worker(temporal_client, seeded, settings):
            await charger.boot_authorize_start()
            await charger.meter_values(METER_VALUES)
            await charger.stop()
            # Leave at once: the worker is shut down while it settles the session.

        async with session_worker(temporal_client, seeded, settings):
            await assert_completed_and_billed_once(seeded, temporal_client, charger)


async def test_worker_dies_in_the_middle_of_the_settlement(
    seeded, gateway_url, temporal_client, settings, monkeypatch
):
    settled_once = threading.Event()
    calls = []
    real_settle = LedgerProvider.settle

    def settle_then_die(self, db, request, hold):
        """Record the charge and commit it, then 'die' with the worker before reporting."""
        calls.append(request.session_id)
        outcome = real_settle(self, db, request, hold)
        db.commit()  # the money is taken ...
        settled_once.set()
        activity.wait_for_worker_shutdown_sync(30)
        # ... and the process goes away before the activity's result reaches Temporal.
        raise RuntimeError(f"worker died after settling ({outcome.status})")

    monkeypatch.setattr(LedgerProvider, "settle", settle_then_die)
    async with connected_charger(gateway_url) as charger:
        async with session_worker(temporal_client, seeded, settings):
            await charger.boot_authorize_start()
            await charger.meter_values(METER_VALUES)
            await charger.stop()
            await eventually(settled_once.is_set, timeout=30)
        monkeypatch.undo()  # the next worker runs the real ledger
        assert calls == [charger.session_id]

        # The charge is recorded; the workflow does not know yet and issued no receipt.
        handle = temporal_client.get_workflow_handle(charger.session_id)
        assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
        assert payments_of(seeded, charger.session_id)["charge"].amount == EXPECTED_TOTAL
        with seeded.session() as session:
            assert session.exec(select(Receipt)).all() == []

        async with session_worker(temporal_client, seeded, settings):
            await assert_completed_and_billed_once(seeded, temporal_client, charger)
        assert calls == [charger.session_id]  # the retry ran on the new worker's real ledger
