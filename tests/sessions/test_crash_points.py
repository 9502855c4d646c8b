"""Kill the worker and the gateway at several points of a session: the charger reconnects to a
fresh gateway, and every session still completes with no sample lost, billed exactly once."""

from __future__ import annotations

import contextlib

import pytest
from sqlalchemy import func
from sqlmodel import select

from ampflow.seed import DEMO_STATION, DEMO_TAG
from chargers.script import scripted
from domain.session import SessionState
from gateway.server import Gateway
from store.tables import MeterSample, Payment, Receipt
from tests.conftest import DEMO_PASSWORD
from tests.helpers import session_result
from workers.session_worker import build_worker
from workflows import contract

STEPS = ["authorize", "start", "meter-1", "meter-2", "stop"]


class Stack:
    """A gateway and a worker that a test can kill and bring back."""

    def __init__(self, settings, client, database_url, db):
        self.settings, self.client, self.database_url, self.db = settings, client, database_url, db
        self.gateway: Gateway | None = None
        self.worker = None
        self._worker_cm = None

    async def up(self) -> str:
        self.gateway = Gateway(
            self.settings, self.client, self.database_url, self.settings.task_queue
        )
        await self.gateway.start(host="127.0.0.1", port=0)
        self.worker = build_worker(self.client, self.db, self.settings.task_queue)
        self._worker_cm = self.worker
        await self._worker_cm.__aenter__()
        return f"ws://127.0.0.1:{self.gateway.port}/ocpp"

    async def down(self) -> None:
        if self._worker_cm is not None:
            await self._worker_cm.__aexit__(None, None, None)
            self._worker_cm = None
        if self.gateway is not None:
            await self.gateway.stop()
            self.gateway = None


@pytest.mark.parametrize("kill_after", STEPS)
async def test_session_survives_a_crash(
    kill_after, settings, seeded, temporal_client, database_url
):
    stack = Stack(settings, temporal_client, database_url, seeded)
    url = await stack.up()
    state = {"tx": None, "wh": 10_000, "clock": None}
    try:
        for step in STEPS:
            async with scripted(url, DEMO_STATION, DEMO_PASSWORD) as cp:
                cp.transaction_id, cp.id_tag = state["tx"], DEMO_TAG
                cp.meter_wh, cp.clock = state["wh"], state["clock"] or cp.clock
                if step == "authorize":
                    assert (await cp.authorize(DEMO_TAG))["status"] == "Accepted"
                elif step == "start":
                    await cp.start_transaction(DEMO_TAG)
                elif step.startswith("meter"):
                    await cp.meter(1000, minutes=10)
                else:
                    await cp.stop_transaction()
                state.update(tx=cp.transaction_id, wh=cp.meter_wh, clock=cp.clock)
            if step == kill_after:
                await stack.down()
                url = await stack.up()
        view = await session_result(temporal_client, DEMO_STATION, state["tx"])
    finally:
        with contextlib.suppress(Exception):
            await stack.down()

    assert view.state == SessionState.COMPLETED and view.energy_wh == 2000
    session_id = contract.session_workflow_id(DEMO_STATION, state["tx"])
    with seeded.session() as db:
        samples = db.exec(
            select(func.count())
            .select_from(MeterSample)
            .where(MeterSample.session_id == session_id)
        ).one()
        payments = db.exec(
            select(Payment).where(Payment.session_id == session_id, Payment.kind == "charge")
        ).all()
        receipts = db.exec(select(Receipt).where(Receipt.session_id == session_id)).all()
    assert samples == 2
    assert len(payments) == 1 and payments[0].amount == view.total
    assert len(receipts) == 1
