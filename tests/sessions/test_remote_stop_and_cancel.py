"""Remote stops reach a charger that was briefly away, and a cancelled session ends cleanly.

- A remote stop sent while the charger is disconnected (a gateway restart, a cellular drop) is
  sent again within the grace period, through whichever gateway holds the station then; before,
  it was sent once and the session was closed while the car kept charging.
- Cancelling a `ChargingSession` (Temporal UI or CLI) stops the charger, settles what was
  delivered and records why; before, the hold stayed open and the row stayed `Charging`.
"""

from __future__ import annotations

import asyncio

from sqlmodel import select
from temporalio.client import WorkflowFailureError

from ampflow.seed import DEMO_STATION, DEMO_TAG
from chargers.script import scripted
from domain.session import SessionState
from store.billing_tables import LedgerEntry
from store.tables import ChargingSession
from tests.conftest import DEMO_PASSWORD
from tests.helpers import eventually, session_result
from workflows import contract


async def _received(charger, action: str) -> bool:
    for _ in range(300):
        if action in charger.actions_received():
            return True
        await asyncio.sleep(0.1)
    return False


async def test_a_remote_stop_is_sent_again_after_the_charger_reconnects(
    seeded, worker, settings, gateway_url, temporal_client, api
):
    settings.remote_stop_grace_s = 40  # re-sent every 10 s within it
    async with scripted(gateway_url, DEMO_STATION, DEMO_PASSWORD) as away:
        started = await away.start_transaction(DEMO_TAG)
        await away.meter(1_000)
        state = (started["transactionId"], away.meter_wh, away.clock)
    session_id = contract.session_workflow_id(DEMO_STATION, started["transactionId"])
    # The operator stops the session while the charger is away: the first attempt fails.
    assert (await api.post(f"/sessions/{session_id}/stop")).status_code == 202
    await asyncio.sleep(1)
    async with scripted(gateway_url, DEMO_STATION, DEMO_PASSWORD) as back:
        back.transaction_id, back.meter_wh, back.clock = state
        back.id_tag = DEMO_TAG
        assert await _received(back, "RemoteStopTransaction")  # sent again, and it stops
        view = await session_result(temporal_client, DEMO_STATION, started["transactionId"], 60)
    assert view.state == SessionState.COMPLETED and view.stop_reason == "Remote"
    assert "closed without a stop from the charger" not in view.flags


def _row(db, session_id: str) -> ChargingSession:
    with db.session() as s:
        return s.get(ChargingSession, session_id)


def _charged(db, session_id: str) -> list[int]:
    with db.session() as s:
        rows = s.exec(select(LedgerEntry).where(LedgerEntry.session_id == session_id)).all()
    return [r.amount for r in rows if r.amount > 0]


async def test_a_cancelled_session_stops_the_charger_and_settles(
    seeded, worker, gateway_url, temporal_client
):
    async with scripted(gateway_url, DEMO_STATION, DEMO_PASSWORD) as charger:
        charger.stop_after_remote_stop = False  # the charger obeys, but its stop comes late
        started = await charger.start_transaction(DEMO_TAG)
        await charger.meter(2_000)
        session_id = contract.session_workflow_id(DEMO_STATION, started["transactionId"])
        handle = temporal_client.get_workflow_handle(session_id)
        await eventually(lambda: _row(seeded, session_id).state == "Charging")
        await handle.cancel()
        assert await _received(charger, "RemoteStopTransaction")
        try:
            await asyncio.wait_for(handle.result(), 30)
            raise AssertionError("a cancelled session should end cancelled")
        except WorkflowFailureError:
            pass
    row = _row(seeded, session_id)
    assert row.state == SessionState.NEEDS_REVIEW and "cancelled" in (row.review_reason or "")
    assert row.energy_wh == 2_000 and row.total_amount
    assert _charged(seeded, session_id) == [row.total_amount]  # what was delivered, once


async def test_a_cancelled_session_that_never_started_is_released(
    seeded, worker, settings, gateway_url, temporal_client
):
    async with scripted(gateway_url, DEMO_STATION, DEMO_PASSWORD) as charger:
        assert (await charger.authorize(DEMO_TAG))["status"] == "Accepted"
    [session_id] = await eventually(lambda: _open_sessions(temporal_client, settings.task_queue))
    handle = temporal_client.get_workflow_handle(session_id)
    await handle.cancel()
    try:
        await asyncio.wait_for(handle.result(), 30)
    except WorkflowFailureError:
        pass
    row = _row(seeded, session_id)
    assert row is not None and row.state == SessionState.EXPIRED
    assert _charged(seeded, session_id) == []


async def _open_sessions(client, task_queue: str) -> list[str]:
    query = f'WorkflowType = "ChargingSession" AND TaskQueue = "{task_queue}"'
    return [w.id async for w in client.list_workflows(query) if w.status.name == "RUNNING"]
