"""A real OCPP 2.0.1 station runs sessions through gateway, Temporal and the store."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from ampflow.seed import DEMO_STATION, DEMO_TAG
from chargers.script import run_session
from domain.session import SessionState
from gateway import events
from gateway.server import Gateway
from store.tables import Connector, MeterSample, Station
from tests.conftest import DEMO_PASSWORD
from tests.e2e.test_demo_session import hand_rated_total
from tests.helpers import charger_session_id, charger_session_result, eventually, session_result
from tests.records import EventLog, payments_for, receipts_for, sessions, station_events
from tests.stations import demo_201

V201 = {"version": "2.0.1"}
# What the station tells at boot (the test checks the CSMS keeps it).
IDENTITY = {
    "model": "Simulator-2",
    "serial": "SIM-201",
    "firmware_version": "sim-2.0",
    "iccid": "8931000000000000001",
}


async def test_a_201_session_is_rated_paid_and_receipted(
    seeded, worker, gateway_url, temporal_client, api
):
    sim = await run_session(
        gateway_url,
        DEMO_STATION,
        DEMO_PASSWORD,
        DEMO_TAG,
        meter_values=6,
        wh_per_interval=1234,
        **V201,
        **IDENTITY,
    )
    assert (sim.boot_status, sim.authorize_status, sim.start_status) == (
        "Accepted",
        "Accepted",
        "Accepted",
    )
    view = await charger_session_result(temporal_client, seeded, DEMO_STATION, sim.transaction_id)
    assert view.state == SessionState.COMPLETED and view.stop_reason == "Local"

    session_id = charger_session_id(seeded, DEMO_STATION, sim.transaction_id)
    body = (await api.get(f"/sessions/{session_id}")).json()
    energy, duration = 6 * 1234, int((sim.stopped_at - sim.started_at).total_seconds())
    assert (body["energy_wh"], body["duration_s"]) == (energy, 7 * 60)
    assert body["meter_start_wh"] == 10_000 and body["connector_id"] == 1
    assert body["total_amount"] == hand_rated_total(energy, duration)
    assert body["payment"]["status"] == "succeeded"
    assert body["payment"]["amount"] == body["total_amount"]
    assert body["receipt"]["number"] == 1

    with seeded.session() as db:
        station = db.get(Station, DEMO_STATION)
        rows = db.exec(select(MeterSample).where(MeterSample.session_id == session_id)).all()
        connector = db.get(Connector, (DEMO_STATION, 1))
    assert (station.vendor, station.model, station.serial_number) == (
        "Ampflow",
        "Simulator-2",
        "SIM-201",
    )
    assert (station.firmware_version, station.iccid) == ("sim-2.0", "8931000000000000001")
    assert station.connected_version == "ocpp2.0.1"
    assert connector.status == "Available"  # stored per EVSE id
    # Begin + 6 × (energy, power) + End, each once; numbers with their unitOfMeasure.
    assert len(rows) == 14
    assert max(r.value for r in rows if r.measurand.startswith("Energy")) == 10_000 + energy
    assert {r.unit for r in rows} == {"Wh", "W"}


async def test_unknown_token_is_invalid_and_never_billed(
    seeded, worker, gateway_url, temporal_client, api
):
    refused = await run_session(gateway_url, DEMO_STATION, DEMO_PASSWORD, "NOT-A-CARD", **V201)
    assert refused.authorize_status == "Invalid" and refused.transaction_id is None

    # A station that starts anyway (e.g. offline-authorized) is told Invalid and stops (E05).
    sim = await run_session(
        gateway_url, DEMO_STATION, DEMO_PASSWORD, "NOT-A-CARD", skip_authorize=True, **V201
    )
    assert sim.start_status == "Invalid"
    view = await charger_session_result(temporal_client, seeded, DEMO_STATION, sim.transaction_id)
    assert view.state == SessionState.REJECTED
    session_id = charger_session_id(seeded, DEMO_STATION, sim.transaction_id)
    assert payments_for(seeded, session_id) == []
    assert receipts_for(seeded, session_id) == []
    assert [s.state for s in sessions(seeded)] == ["Rejected"]


async def test_offline_queued_events_end_in_exactly_one_billed_session(
    seeded, worker, gateway_url, temporal_client
):
    """E12: a whole transaction happened offline; the queue arrives after the reconnect, and the
    station re-sends events it never saw answered (the Started, the Ended)."""
    async with demo_201(gateway_url) as station:
        await station.status(1, "Available")
    # Offline for a while: three hours ago a driver charged 3 × 1000 Wh.
    past = station.clock - timedelta(hours=3)
    tx = station.transaction(1, DEMO_TAG, at=past)
    started = tx.started(offline=True)
    queue = [started, started]  # sent, connection lost before the answer: queued again
    queue += [tx.updated(1000, offline=True) for _ in range(3)]
    ended = tx.ended(offline=True)
    queue += [ended, ended]

    async with demo_201(gateway_url, station) as station:
        answers = [await station.event(event) for event in queue]
    assert answers[0]["idTokenInfo"]["status"] == "Accepted"
    assert answers[1]["idTokenInfo"] == answers[0]["idTokenInfo"]

    view = await charger_session_result(temporal_client, seeded, DEMO_STATION, tx.transaction_id)
    assert view.state == SessionState.COMPLETED
    assert [s.id for s in sessions(seeded)] == [view.session_id]
    row = sessions(seeded)[0]
    assert row.started_at == past and row.energy_wh == 3000 and row.duration_s == 4 * 60
    assert row.total_amount == hand_rated_total(3000, 4 * 60)
    assert len(payments_for(seeded, view.session_id)) == 1
    assert len(receipts_for(seeded, view.session_id)) == 1
    assert station_events(seeded, "UnknownTransactionStopped") == []


async def test_a_retransmitted_transaction_event_counts_once(
    seeded, worker, gateway, gateway_url, temporal_client
):
    """Same seqNo, same message id (a retransmission after a lost answer): one effect."""
    log = EventLog()
    gateway.services.events.subscribe(log)
    async with demo_201(gateway_url) as station:
        tx = station.transaction(1, DEMO_TAG)
        await station.event(tx.started())
        first = tx.updated(1000)
        await station.event(first, unique_id="retry-me")
        await station.event(first, unique_id="retry-me")
        await station.event(tx.updated(1000))
        ended = tx.ended()
        await station.event(ended)
        await station.event(ended)  # after the session may already have settled

    view = await charger_session_result(temporal_client, seeded, DEMO_STATION, tx.transaction_id)
    assert view.state == SessionState.COMPLETED and view.energy_wh == 2000
    assert len(payments_for(seeded, view.session_id)) == 1
    assert [e.kind for e in log.of(events.SessionEvent)] == ["started", "stopped"]
    assert [e.energy_wh for e in log.of(events.MeterReading)] == [11_000, 12_000]
    with seeded.session() as db:
        rows = db.exec(select(MeterSample).where(MeterSample.session_id == view.session_id)).all()
    assert len(rows) == 1 + 2 * 2 + 1
    assert station_events(seeded, "UnknownTransactionStopped") == []


async def test_an_updated_whose_started_never_came_opens_the_session_and_bills_it(
    seeded, worker, gateway_url, temporal_client
):
    """The charger lost its Started (or sent it to another CSMS before moving here): the first
    Updated we see opens the session from its time, EVSE, token and register, so the energy
    charged from then on is billed, not lost."""
    async with demo_201(gateway_url) as station:
        tx = station.transaction(1, None)
        tx.seq_no = 7  # the Started was never seen by this CSMS
        opening = tx.updated(0, "Authorized", id_token={"idToken": DEMO_TAG, "type": "ISO14443"})
        opening["evse"] = {"id": 1, "connectorId": 1}
        opening["meterValue"] = [
            {
                "timestamp": opening["timestamp"],
                "sampledValue": [{"value": tx.meter_wh, "context": "Transaction.Begin"}],
            }
        ]
        answer = await station.event(opening)
        assert answer["idTokenInfo"]["status"] == "Accepted"
        await station.event(tx.updated(500))
        await station.event(tx.updated(700))
        await station.event(tx.ended())

    view = await charger_session_result(temporal_client, seeded, DEMO_STATION, tx.transaction_id)
    assert view.state == SessionState.COMPLETED and view.energy_wh == 1200
    assert [s.id for s in sessions(seeded)] == [view.session_id]
    assert len(payments_for(seeded, view.session_id)) == 1
    opened = station_events(seeded, "TransactionOpenedByUpdate")
    assert [(e.detail["transactionId"], e.detail["seqNo"]) for e in opened] == [
        (tx.transaction_id, 7)
    ]


async def test_an_ended_of_an_unknown_transaction_is_acknowledged_and_recorded(
    seeded, worker, gateway_url
):
    async with demo_201(gateway_url) as station:
        tx = station.transaction(1, None)
        tx.seq_no = 9  # nothing of this transaction reached this CSMS before its end
        assert await station.event(tx.ended()) == {}
    stopped = station_events(seeded, "UnknownTransactionStopped")
    assert [(e.detail["transactionId"], e.detail["seqNo"]) for e in stopped] == [
        (tx.transaction_id, 9)
    ]
    assert sessions(seeded) == []


async def test_remote_start_from_the_api_joins_the_stations_transaction(
    seeded, worker, gateway_url, api, temporal_client
):
    """The API's session asks for RequestStartTransaction; the station's TransactionEvent
    (remoteStartId = the session number) joins that session instead of opening another."""
    async with demo_201(gateway_url) as station:
        started = await api.post(
            "/sessions", json={"station_id": DEMO_STATION, "connector_id": 2, "id_token": DEMO_TAG}
        )
        assert started.status_code == 202, started.text
        session_id, number = started.json()["session_id"], started.json()["transaction_id"]
        tx = await eventually(lambda: station.active_on(2))
        assert tx.remote_start_id == int(number)
        await eventually(lambda: station.meter_wh.get(2) is not None)  # Started answered
        await station.event(tx.updated(2500))
        await station.event(tx.ended())

    view = await session_result(temporal_client, DEMO_STATION, number)
    assert view.session_id == session_id
    assert view.state == SessionState.COMPLETED and view.energy_wh == 2500
    assert [s.id for s in sessions(seeded)] == [session_id]
    assert len(payments_for(seeded, session_id)) == 1
    [request] = [p for action, p in station.received if action == "RequestStartTransaction"]
    assert request["idToken"] == {"idToken": DEMO_TAG, "type": "Central"}


async def test_after_a_gateway_restart_a_finished_transaction_is_not_reopened(
    seeded, worker, gateway_url, settings, temporal_client, database_url
):
    """The answer cache is gone with the old gateway; the session's id may not be reused."""
    async with demo_201(gateway_url) as station:
        tx = station.transaction(1, DEMO_TAG)
        started, updated, ended = tx.started(), tx.updated(1000), tx.ended()
        for event in (started, updated, ended):
            await station.event(event)
    view = await charger_session_result(temporal_client, seeded, DEMO_STATION, tx.transaction_id)
    assert view.state == SessionState.COMPLETED
    handle = temporal_client.get_workflow_handle(view.session_id)
    first_run = (await handle.describe()).run_id

    fresh = Gateway(settings, temporal_client, database_url, settings.task_queue)
    await fresh.start(host="127.0.0.1", port=0)
    try:
        async with demo_201(f"ws://127.0.0.1:{fresh.port}/ocpp", station) as station:
            again = await station.event(started)
            assert again["idTokenInfo"]["status"] == "Accepted"  # a fresh decision
            await station.event(updated)
            await station.event(ended)
    finally:
        await fresh.stop()
    assert (await handle.describe()).run_id == first_run  # no second run of the session
    assert [s.id for s in sessions(seeded)] == [view.session_id]
    assert len(payments_for(seeded, view.session_id)) == 1
    assert station_events(seeded, "UnknownTransactionStopped") == []
    assert [e.detail["seqNo"] for e in station_events(seeded, "RepeatedStartIgnored")] == [0]


async def test_tokens_presented_during_a_transaction_are_answered(
    seeded, worker, gateway_url, temporal_client
):
    """Every event carrying an idToken gets idTokenInfo: the session's own decision for its
    token (E06 StopAuthorized), a fresh one for another token; neither ends the session."""
    async with demo_201(gateway_url) as station:
        tx = station.transaction(1, DEMO_TAG)
        await station.event(tx.started())
        stranger = {"idToken": "STRANGER", "type": "ISO14443"}
        other = await station.event(tx.updated(300, "StopAuthorized", id_token=stranger))
        assert other["idTokenInfo"]["status"] == "Invalid"
        own = {"idToken": DEMO_TAG, "type": "ISO14443"}
        ended = await station.event(tx.ended(id_token=own))
        assert ended["idTokenInfo"]["status"] == "Accepted"
    view = await charger_session_result(temporal_client, seeded, DEMO_STATION, tx.transaction_id)
    assert view.state == SessionState.COMPLETED and view.energy_wh == 300


async def test_a_reused_transaction_id_gets_a_session_of_its_own(
    seeded, worker, gateway_url, temporal_client
):
    """A station that spoke 1.6 before now counts its 2.0.1 transactions from 1 again: the id
    of a finished session is not a retransmission, so the new transaction is not lost."""
    old = await run_session(gateway_url, DEMO_STATION, DEMO_PASSWORD, DEMO_TAG, meter_values=1)
    old_view = await session_result(temporal_client, DEMO_STATION, old.transaction_id)
    async with demo_201(gateway_url) as station:
        later = station.clock + timedelta(hours=1)
        tx = station.transaction(1, DEMO_TAG, at=later, transaction_id=str(old.transaction_id))
        started = await station.event(tx.started())
        assert started["idTokenInfo"]["status"] == "Accepted"
        await station.event(tx.updated(700))
        await station.event(tx.ended())
    view = await charger_session_result(temporal_client, seeded, DEMO_STATION, tx.transaction_id)
    assert view.session_id != old_view.session_id  # our numbers, never the charger's (ADR-005)
    assert view.state == SessionState.COMPLETED and view.energy_wh == 700
    assert sorted(s.id for s in sessions(seeded)) == sorted([old_view.session_id, view.session_id])
    assert [s.energy_wh for s in sessions(seeded) if s.id == old_view.session_id] == [1500]
    # The station resets and counts from the same id again: a third, separate session.
    async with demo_201(gateway_url) as station:
        again = station.clock + timedelta(hours=2)
        tx2 = station.transaction(1, DEMO_TAG, at=again, transaction_id=str(old.transaction_id))
        await station.event(tx2.started())
        await station.event(tx2.updated(200))
        await station.event(tx2.ended())
    [reused] = station_events(seeded, "TransactionIdReused")
    assert reused.detail["previous"] == view.session_id
    third = await charger_session_result(temporal_client, seeded, DEMO_STATION, tx2.transaction_id)
    assert third.session_id not in (view.session_id, old_view.session_id)
    assert third.energy_wh == 200 and view.energy_wh == 700
    assert station_events(seeded, "RepeatedStartIgnored") == []
