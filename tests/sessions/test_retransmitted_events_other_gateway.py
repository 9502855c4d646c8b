"""A 2.0.1 charger retransmits its transaction events to another gateway (its first gateway died
before the answers reached it): each counts once.

What makes a transaction one session lives in PostgreSQL (`charger_transactions`: the first
mapping of a transactionId wins, on any gateway; ADR-005), so the second gateway, which has none
of the first one's in-memory answers, joins the same session: one session, its energy counted
once, one charge.
"""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import select

from ampflow.seed import DEMO_STATION, DEMO_TAG
from chargers.script import scripted
from domain.session import SessionState
from gateway.server import Gateway
from store.tables import ChargingSession, MeterSample, Payment
from tests.conftest import DEMO_PASSWORD
from tests.helpers import charger_session_result


async def test_events_retransmitted_to_another_gateway_count_once(
    seeded, worker, settings, temporal_client, database_url
):
    first = Gateway(settings, temporal_client, database_url, settings.task_queue)
    second = Gateway(settings, temporal_client, database_url, settings.task_queue)
    await first.start(host="127.0.0.1", port=0)
    await second.start(host="127.0.0.1", port=0)
    try:
        url = f"ws://127.0.0.1:{first.port}/ocpp"
        async with scripted(url, DEMO_STATION, DEMO_PASSWORD, version="2.0.1") as station:
            tx = station.transaction(1, DEMO_TAG)
            started = tx.started()
            await station.event(started, unique_id="started-1")
            updated = tx.updated(1500)
            await station.event(updated, unique_id="updated-1")
            await first.stop()  # gone before the charger saw the answers (as it believes)
        url = f"ws://127.0.0.1:{second.port}/ocpp"
        async with scripted(
            url, DEMO_STATION, DEMO_PASSWORD, version="2.0.1", script=station
        ) as again:
            await again.event(started, unique_id="started-1")  # retransmitted as they were
            await again.event(updated, unique_id="updated-1")
            await again.event(tx.updated(500))
            ended = tx.ended()
            await again.event(ended)
            await again.event(ended)
        view = await charger_session_result(
            temporal_client, seeded, DEMO_STATION, tx.transaction_id
        )
    finally:
        await second.stop()

    assert view.state == SessionState.COMPLETED and view.energy_wh == 2000
    with seeded.session() as db:
        sessions = db.exec(select(ChargingSession)).all()
        samples = db.exec(
            select(func.count())
            .select_from(MeterSample)
            .where(MeterSample.session_id == view.session_id)
        ).one()
        charges = db.exec(
            select(Payment).where(Payment.session_id == view.session_id, Payment.kind == "charge")
        ).all()
    assert [s.id for s in sessions] == [view.session_id]
    assert [c.amount for c in charges] == [view.total]
    assert samples == 1 + 2 * 2 + 1  # Started, two Updated (energy and power), Ended: no repeats
