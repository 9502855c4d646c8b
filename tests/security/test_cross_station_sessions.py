"""A registered station can never touch another station's session, whatever ids it sends.

Station `DEMO` attacks `DEMO-1` (a station id that extends its own): with the old
`session-{station}-{transactionId}` ids, a 2.0.1 transactionId `1-3` from `DEMO` named `DEMO-1`'s
session 3. Each test checks the victim's bill and samples from what the victim's charger sent.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlmodel import select

from ampflow.seed import DEMO_STATION, DEMO_TAG
from chargers.script import scripted
from domain.session import SessionState, SessionView
from store.db import Database
from store.tables import ChargingSession, MeterSample
from tests.conftest import DEMO_PASSWORD
from tests.helpers import eventually, session_result
from tests.stations import demo_201

ATTACKER = "DEMO"  # DEMO-1 minus its suffix
ATTACKER_PASSWORD = "attacker-pass-0123"
TOKEN = {"idToken": DEMO_TAG, "type": "ISO14443"}


async def _register_attacker(api) -> None:
    body = {"id": ATTACKER, "password": ATTACKER_PASSWORD, "connector_count": 2}
    assert (await api.post("/stations", json=body)).status_code in (200, 201)


def _samples(db: Database, session_id: str) -> list[MeterSample]:
    with db.session() as s:
        return list(s.exec(select(MeterSample).where(MeterSample.session_id == session_id)).all())


def _running_session_at(db: Database, station_id: str) -> str | None:
    with db.session() as s:
        query = select(ChargingSession.id).where(
            ChargingSession.station_id == station_id, ChargingSession.state == "Charging"
        )
        return s.exec(query).first()


def _session(db: Database, session_id: str) -> ChargingSession | None:
    with db.session() as s:
        return s.get(ChargingSession, session_id)


async def _attack_201(url: str, transaction_id: str) -> None:
    """`DEMO` starts, meters 900 kWh and ends a transaction with the given id."""
    async with scripted(url, ATTACKER, ATTACKER_PASSWORD, version="2.0.1") as attacker:
        assert attacker.charger.boot_status == "Accepted"
        later = attacker.clock + timedelta(minutes=30)
        tx = attacker.transaction(1, DEMO_TAG, at=later, transaction_id=transaction_id)
        await attacker.event(tx.started())
        await attacker.event(tx.updated(900_000))
        await attacker.event(tx.ended(reason="EVDisconnected"))


async def test_a_201_transaction_id_cannot_reach_another_stations_running_session(
    seeded, worker, gateway_url, temporal_client, api
):
    await _register_attacker(api)
    async with demo_201(gateway_url) as victim:
        tx = victim.transaction(1, DEMO_TAG, transaction_id="7")
        assert (await victim.event(tx.started()))["idTokenInfo"]["status"] == "Accepted"
        await victim.event(tx.updated(1_000))
        victim_id = await eventually(lambda: _running_session_at(seeded, DEMO_STATION))
        # `DEMO` + `1-{key}` spells the victim's session id under the old scheme.
        suffix = victim_id.removeprefix(f"session-{ATTACKER}-")
        await _attack_201(gateway_url, suffix)
        running = await temporal_client.get_workflow_handle(victim_id).describe()
        assert running.status.name == "RUNNING"  # the attacker's Ended did not end it
        await victim.event(tx.updated(2_000))
        await victim.event(tx.ended())
    handle = temporal_client.get_workflow_handle(victim_id, result_type=SessionView)
    view = await asyncio.wait_for(handle.result(), 30)
    assert view.session_id == victim_id
    assert view.state == SessionState.COMPLETED and view.stop_reason == "Local"
    assert view.energy_wh == 3_000  # what the victim's charger metered, nothing of the attack
    assert {s.station_id for s in _samples(seeded, victim_id)} == {DEMO_STATION}


async def test_a_201_station_cannot_pre_create_another_stations_next_sessions(
    seeded, worker, gateway_url, temporal_client, api
):
    """The attacker opens the next few session ids of `DEMO-1` before its driver taps a card."""
    await _register_attacker(api)
    with seeded.session() as s:
        from sqlalchemy import text

        last = s.exec(text("SELECT last_value FROM session_number_seq")).scalar_one()  # type: ignore
    for guess in range(last, last + 4):
        async with scripted(gateway_url, ATTACKER, ATTACKER_PASSWORD, version="2.0.1") as attacker:
            tx = attacker.transaction(1, DEMO_TAG, transaction_id=f"1-{guess}")
            await attacker.event(tx.started())
            await attacker.event(tx.updated(500_000))
    async with scripted(gateway_url, DEMO_STATION, DEMO_PASSWORD) as charger:
        assert (await charger.authorize(DEMO_TAG))["status"] == "Accepted"
        started = await charger.start_transaction(DEMO_TAG)
        assert started["idTagInfo"]["status"] == "Accepted"
        await charger.meter(1_500)
        await charger.stop_transaction()
    view = await session_result(temporal_client, DEMO_STATION, started["transactionId"])
    assert view.state == SessionState.COMPLETED
    assert view.energy_wh == 1_500  # the driver pays for their own energy only
    session_id = view.session_id
    assert {s.station_id for s in _samples(seeded, session_id)} == {DEMO_STATION}
    row = _session(seeded, session_id)
    assert row is not None and row.station_id == DEMO_STATION


async def test_a_16_station_cannot_meter_or_stop_another_stations_transaction(
    seeded, worker, gateway_url, temporal_client, api
):
    await _register_attacker(api)
    async with scripted(gateway_url, DEMO_STATION, DEMO_PASSWORD) as victim:
        started = await victim.start_transaction(DEMO_TAG)
        await victim.meter(1_000)
        victim_tx = started["transactionId"]
        async with scripted(gateway_url, ATTACKER, ATTACKER_PASSWORD) as attacker:
            attacker.transaction_id = victim_tx  # the victim's number, sent as its own
            attacker.id_tag = DEMO_TAG
            attacker.meter_wh = 10_000
            await attacker.meter(800_000)
            await attacker.stop_transaction("EVDisconnected")
        session_id = f"session-{DEMO_STATION}-{victim_tx}"
        running = await temporal_client.get_workflow_handle(session_id).describe()
        assert running.status.name == "RUNNING"
        await victim.meter(500)
        await victim.stop_transaction()
    view = await session_result(temporal_client, DEMO_STATION, victim_tx)
    assert view.state == SessionState.COMPLETED and view.stop_reason == "Local"
    assert view.energy_wh == 1_500
    assert {s.station_id for s in _samples(seeded, session_id)} == {DEMO_STATION}
    await eventually(lambda: _session(seeded, session_id).total_amount is not None)
