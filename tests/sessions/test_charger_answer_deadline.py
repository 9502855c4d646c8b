"""The charger's answer never waits without bound (ADR-005 §2).

With no worker to run the session workflows, Authorize and the transaction start are answered
within the deadline from the fallback decision (the token as the store knows it); once a worker
is back, the sessions the gateway started catch up and are billed.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from temporalio.service import RPCError, RPCStatusCode

from ampflow.seed import DEMO_STATION, DEMO_TAG
from chargers.script import scripted
from domain.session import SessionState
from gateway import metrics
from gateway.server import Gateway
from tests.conftest import DEMO_PASSWORD
from tests.helpers import charger_session_result, session_result
from tests.records import payments_for
from tests.stations import demo_201
from workers.session_worker import build_worker
from workflows import contract

CHARGER_CALL_TIMEOUT_S = 15  # shorter than a real charger's 30 s: the answer must beat it
OTHER_STATION, OTHER_PASSWORD = "LANE-2", "lane-two-password-0123"


def _fallbacks(action: str) -> float:
    return metrics.DECISIONS.labels(action, "fallback")._value.get()


def _without_workflow(action: str) -> float:
    """Answers given without the workflow: decided at the gateway, or the fallback."""
    return _fallbacks(action) + metrics.DECISIONS.labels(action, "gateway")._value.get()


async def test_16_authorize_and_start_are_answered_while_no_worker_runs(
    seeded, settings, gateway, gateway_url, temporal_client
):
    settings.charger_answer_deadline_s = 1.0
    before = _without_workflow("Authorize")
    async with scripted(
        gateway_url, DEMO_STATION, DEMO_PASSWORD, message_timeout_s=CHARGER_CALL_TIMEOUT_S
    ) as charger:
        assert (await charger.authorize(DEMO_TAG))["status"] == "Accepted"
        assert (await charger.authorize("NOT-A-CARD"))["status"] == "Invalid"
        started = await charger.start_transaction(DEMO_TAG)
        assert started["idTagInfo"]["status"] == "Accepted" and started["transactionId"] > 0
        await charger.meter(2_000)
        await charger.stop_transaction()
    assert _without_workflow("Authorize") >= before + 2
    async with build_worker(temporal_client, seeded, settings.task_queue, settings=settings):
        view = await session_result(temporal_client, DEMO_STATION, started["transactionId"], 60)
    assert view.state == SessionState.COMPLETED and view.energy_wh == 2_000
    assert [p.amount for p in payments_for(seeded, view.session_id)] == [view.total]


async def test_201_authorize_and_start_are_answered_while_no_worker_runs(
    seeded, settings, gateway, gateway_url, temporal_client
):
    settings.charger_answer_deadline_s = 1.0
    async with demo_201(gateway_url, message_timeout_s=CHARGER_CALL_TIMEOUT_S) as station:
        assert (await station.authorize(DEMO_TAG))["status"] == "Accepted"
        tx = station.transaction(1, DEMO_TAG)
        started = await station.event(tx.started())
        assert started["idTokenInfo"]["status"] == "Accepted"
        await station.event(tx.updated(3_000))
        await station.event(tx.ended())
    async with build_worker(temporal_client, seeded, settings.task_queue, settings=settings):
        view = await charger_session_result(
            temporal_client, seeded, DEMO_STATION, tx.transaction_id, 60
        )
    assert view.state == SessionState.COMPLETED and view.energy_wh == 3_000
    assert [p.amount for p in payments_for(seeded, view.session_id)] == [view.total]


async def test_a_session_the_fallback_let_start_but_the_workflow_refuses_is_stopped(
    seeded, settings, gateway, gateway_url, temporal_client, api
):
    """The card is blocked after the fallback accepted it: the session stops the charger."""
    settings.charger_answer_deadline_s = 1.0
    async with scripted(
        gateway_url, DEMO_STATION, DEMO_PASSWORD, message_timeout_s=CHARGER_CALL_TIMEOUT_S
    ) as charger:
        started = await charger.start_transaction(DEMO_TAG)
        assert started["idTagInfo"]["status"] == "Accepted"
        blocked = await api.patch(f"/tokens/{DEMO_TAG}", json={"status": "Blocked"})
        assert blocked.status_code == 200, blocked.text
        async with build_worker(temporal_client, seeded, settings.task_queue, settings=settings):
            for _ in range(200):
                if "RemoteStopTransaction" in charger.actions_received():
                    break
                await asyncio.sleep(0.1)
            assert "RemoteStopTransaction" in charger.actions_received()
            view = await session_result(temporal_client, DEMO_STATION, started["transactionId"], 60)
    assert view.stop_reason == "Remote"


async def test_a_start_the_fallback_refused_stays_refused_when_the_workflow_would_accept(
    seeded, settings, gateway, gateway_url, temporal_client, api
):
    """The charger was told Blocked and stopped; the card is valid again by the time the session
    runs: the session agrees with what the charger was told and bills nothing (found by the
    30-minute chaos run: a start refused while PostgreSQL was down was billed later)."""
    settings.charger_answer_deadline_s = 1.0
    assert (await api.patch(f"/tokens/{DEMO_TAG}", json={"status": "Blocked"})).status_code == 200
    async with scripted(
        gateway_url, DEMO_STATION, DEMO_PASSWORD, message_timeout_s=CHARGER_CALL_TIMEOUT_S
    ) as charger:
        started = await charger.start_transaction(DEMO_TAG)
        assert started["idTagInfo"]["status"] == "Blocked"
        await charger.meter(30)  # what flowed before the charger stopped
        await charger.stop_transaction(reason="DeAuthorized")
    unblocked = await api.patch(f"/tokens/{DEMO_TAG}", json={"status": "Accepted"})
    assert unblocked.status_code == 200, unblocked.text
    async with build_worker(temporal_client, seeded, settings.task_queue, settings=settings):
        view = await session_result(temporal_client, DEMO_STATION, started["transactionId"], 60)
    assert view.state == SessionState.REJECTED, view
    assert [p.amount for p in payments_for(seeded, view.session_id) if p.amount] == []


def _busy(action: str) -> float:
    return metrics.DECISIONS.labels(action, "busy")._value.get()


async def test_16_starts_are_answered_at_once_while_temporal_is_behind(
    seeded, settings, gateway, gateway_url, temporal_client
):
    """Enough starts already wait on Temporal (the limit set to 0 here): the next one is answered
    from the fallback decision at once, not after the deadline. No worker runs and the deadline
    is far beyond the charger's own call timeout, so a start that waited would time out."""
    settings.charger_answer_deadline_s = 120.0
    settings.charger_starts_waiting_max = 0
    before = _busy("StartTransaction")
    async with scripted(
        gateway_url, DEMO_STATION, DEMO_PASSWORD, message_timeout_s=CHARGER_CALL_TIMEOUT_S
    ) as charger:
        started = await charger.start_transaction(DEMO_TAG)
        assert started["idTagInfo"]["status"] == "Accepted" and started["transactionId"] > 0
        await charger.meter(2_500)
        await charger.stop_transaction()
    assert _busy("StartTransaction") == before + 1
    async with build_worker(temporal_client, seeded, settings.task_queue, settings=settings):
        view = await session_result(temporal_client, DEMO_STATION, started["transactionId"], 60)
    assert view.state == SessionState.COMPLETED and view.energy_wh == 2_500
    assert [p.amount for p in payments_for(seeded, view.session_id)] == [view.total]


async def test_201_starts_are_answered_at_once_while_temporal_is_behind(
    seeded, settings, gateway, gateway_url, temporal_client
):
    settings.charger_answer_deadline_s = 120.0
    settings.charger_starts_waiting_max = 0
    before = _busy("TransactionEvent")
    async with demo_201(gateway_url, message_timeout_s=CHARGER_CALL_TIMEOUT_S) as station:
        tx = station.transaction(1, DEMO_TAG)
        started = await station.event(tx.started())
        assert started["idTokenInfo"]["status"] == "Accepted"
        await station.event(tx.updated(3_500))
        await station.event(tx.ended())
    assert _busy("TransactionEvent") == before + 1
    async with build_worker(temporal_client, seeded, settings.task_queue, settings=settings):
        view = await charger_session_result(
            temporal_client, seeded, DEMO_STATION, tx.transaction_id, 60
        )
    assert view.state == SessionState.COMPLETED and view.energy_wh == 3_500
    assert [p.amount for p in payments_for(seeded, view.session_id)] == [view.total]


async def test_a_start_refused_while_temporal_is_behind_stays_refused(
    seeded, settings, gateway, gateway_url, temporal_client, api
):
    """The busy answer travels with the start: a Blocked card told Blocked bills nothing."""
    settings.charger_answer_deadline_s = 120.0
    settings.charger_starts_waiting_max = 0
    assert (await api.patch(f"/tokens/{DEMO_TAG}", json={"status": "Blocked"})).status_code == 200
    async with scripted(
        gateway_url, DEMO_STATION, DEMO_PASSWORD, message_timeout_s=CHARGER_CALL_TIMEOUT_S
    ) as charger:
        started = await charger.start_transaction(DEMO_TAG)
        assert started["idTagInfo"]["status"] == "Blocked"
        await charger.stop_transaction(reason="DeAuthorized")
    assert (await api.patch(f"/tokens/{DEMO_TAG}", json={"status": "Accepted"})).status_code == 200
    async with build_worker(temporal_client, seeded, settings.task_queue, settings=settings):
        view = await session_result(temporal_client, DEMO_STATION, started["transactionId"], 60)
    assert view.state == SessionState.REJECTED, view
    assert [p.amount for p in payments_for(seeded, view.session_id) if p.amount] == []


async def test_a_status_after_a_busy_start_reaches_its_session(
    seeded, settings, gateway, gateway_url, temporal_client
):
    """A start answered while Temporal is behind has no `sessions` row until its workflow runs:
    the connector's next status is still stored for that session, after its start."""
    settings.charger_answer_deadline_s = 120.0
    settings.charger_starts_waiting_max = 0
    async with scripted(
        gateway_url, DEMO_STATION, DEMO_PASSWORD, message_timeout_s=CHARGER_CALL_TIMEOUT_S
    ) as charger:
        started = await charger.start_transaction(DEMO_TAG)
        await charger.status("SuspendedEV")
        await charger.status("Available", connector_id=2)  # another connector: not this session
    session_id = contract.session_workflow_id(DEMO_STATION, started["transactionId"])
    with seeded.session() as s:
        rows = s.exec(  # type: ignore[call-overload]
            text(
                "SELECT kind, payload->>'status' FROM station_outbox "
                "WHERE session_id = :s ORDER BY id"
            ),
            params={"s": session_id},
        ).all()
    assert [tuple(row) for row in rows] == [("start", None), ("status", "SuspendedEV")], rows


async def _workflow_exists(client, workflow_id: str) -> bool:
    try:
        await client.get_workflow_handle(workflow_id).describe()
        return True
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            raise
        return False


async def test_the_outbox_hands_temporal_no_more_starts_than_its_slots(
    seeded, settings, database_url, temporal_client, api
):
    """Two stations' starts wait in the outbox; with one start slot and no worker to answer the
    first update, the second start is not sent to Temporal (in a burst, Temporal works through
    the starts in turn rather than timing out on all of them and answering every redelivery
    again). Once a worker runs, both sessions are completed and billed."""
    settings.charger_answer_deadline_s = 120.0
    settings.charger_starts_waiting_max = 0
    settings.outbox_starts_in_flight_max = 1
    body = {"id": OTHER_STATION, "password": OTHER_PASSWORD, "connector_count": 1}
    assert (await api.post("/stations", json=body)).status_code in (200, 201)
    gateway = Gateway(settings, temporal_client, database_url, settings.task_queue)
    await gateway.start(host="127.0.0.1", port=0)
    url = f"ws://127.0.0.1:{gateway.port}/ocpp"
    try:
        sessions = []
        for station, password in ((DEMO_STATION, DEMO_PASSWORD), (OTHER_STATION, OTHER_PASSWORD)):
            async with scripted(
                url, station, password, message_timeout_s=CHARGER_CALL_TIMEOUT_S
            ) as charger:
                started = await charger.start_transaction(DEMO_TAG)
                assert started["idTagInfo"]["status"] == "Accepted"
                await charger.meter(1_000)
                await charger.stop_transaction()
            sessions.append((station, started["transactionId"]))
        ids = [contract.session_workflow_id(station, tx) for station, tx in sessions]
        for _ in range(50):  # the first start reaches Temporal (its update waits for a worker)
            if await _workflow_exists(temporal_client, ids[0]):
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(2)  # the second would have followed at once with a free slot
        assert [await _workflow_exists(temporal_client, i) for i in ids] == [True, False]
        async with build_worker(temporal_client, seeded, settings.task_queue, settings=settings):
            views = [await session_result(temporal_client, s, tx, 60) for s, tx in sessions]
    finally:
        await gateway.stop()
    for view in views:
        assert view.state == SessionState.COMPLETED and view.energy_wh == 1_000, view
        assert [p.amount for p in payments_for(seeded, view.session_id)] == [view.total]
