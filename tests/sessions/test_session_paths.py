"""Every way a 1.6 session starts, runs and ends, against real gateway, Temporal and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlmodel import select

from ampflow.seed import DEMO_STATION, DEMO_TAG
from chargers.script import scripted
from domain.session import SessionState, SessionView
from gateway.server import Gateway
from store.tables import ChargingSession, IdToken, Payment, Receipt
from tests.conftest import DEMO_PASSWORD
from tests.helpers import eventually, session_result
from workflows import contract


@pytest.fixture
def fast_settings(settings):
    """Guards short enough to fire within a test."""
    settings.authorization_timeout_s = 2
    settings.remote_stop_grace_s = 2
    settings.session_offline_close_s = 2
    settings.reconcile_window_s = 30
    return settings


@pytest.fixture
async def fast_gateway(fast_settings, temporal_client, database_url, db):
    gw = Gateway(fast_settings, temporal_client, database_url, fast_settings.task_queue)
    await gw.start(host="127.0.0.1", port=0)
    yield gw
    await gw.stop()


def url(gw: Gateway) -> str:
    return f"ws://127.0.0.1:{gw.port}/ocpp"


def payments_for(db, session_id: str) -> list[Payment]:
    with db.session() as s:
        return list(
            s.exec(
                select(Payment).where(Payment.session_id == session_id, Payment.kind == "charge")
            ).all()
        )


async def test_remote_start_and_remote_stop(seeded, worker, gateway_url, api, temporal_client):
    async with scripted(gateway_url, DEMO_STATION, DEMO_PASSWORD) as charger:
        started = await api.post(
            "/sessions", json={"station_id": DEMO_STATION, "connector_id": 2, "id_token": DEMO_TAG}
        )
        assert started.status_code == 202, started.text
        session_id = started.json()["session_id"]
        await eventually(lambda: charger.transaction_id is not None)
        assert charger.transaction_id == int(started.json()["transaction_id"])
        await charger.meter(2000)
        live = await api.get(f"/sessions/{session_id}")
        assert live.json()["state"] == "Charging" and live.json()["connector_id"] == 2

        stopped = await api.post(f"/sessions/{session_id}/stop")
        assert stopped.status_code == 202
        view = await session_result(temporal_client, DEMO_STATION, charger.transaction_id)
    assert "RemoteStopTransaction" in charger.actions_received()
    assert view.state == SessionState.COMPLETED and view.stop_reason == "Remote"
    assert view.energy_wh == 2000
    assert len(payments_for(seeded, session_id)) == 1


async def test_remote_start_the_charger_refuses(seeded, worker, gateway_url, api, temporal_client):
    async with scripted(gateway_url, DEMO_STATION, DEMO_PASSWORD) as charger:
        charger.accept_remote_start = False
        started = await api.post(
            "/sessions", json={"station_id": DEMO_STATION, "id_token": DEMO_TAG}
        )
        session_id = started.json()["session_id"]
        view = await temporal_client.get_workflow_handle(
            session_id, result_type=SessionView
        ).result()
    assert view.state == SessionState.EXPIRED and "Rejected" in view.final_reason
    with seeded.session() as s:
        assert s.get(ChargingSession, session_id).state == "Expired"
    assert payments_for(seeded, session_id) == []


async def test_remote_start_but_the_ev_never_starts(
    seeded, fast_settings, fast_gateway, api, temporal_client, worker
):
    async with scripted(url(fast_gateway), DEMO_STATION, DEMO_PASSWORD) as charger:
        charger.start_after_remote_start = False
        started = await api.post(
            "/sessions", json={"station_id": DEMO_STATION, "id_token": DEMO_TAG}
        )
        view = await temporal_client.get_workflow_handle(
            started.json()["session_id"], result_type=SessionView
        ).result()
    assert view.state == SessionState.EXPIRED
    assert view.final_reason == "the EV never started charging"


async def test_authorized_but_never_started_is_released(
    seeded, fast_settings, fast_gateway, temporal_client, worker
):
    async with scripted(url(fast_gateway), DEMO_STATION, DEMO_PASSWORD) as charger:
        assert (await charger.authorize(DEMO_TAG))["status"] == "Accepted"

    async def listed() -> list:
        # Decided at the gateway, the session is started in the background (ADR-005 §6), and
        # the visibility store lists it a moment later.
        return [
            w
            async for w in temporal_client.list_workflows(
                f'StationId = "{DEMO_STATION}" AND TaskQueue = "{fast_settings.task_queue}"'
            )
        ]

    sessions = await eventually(listed, timeout=20)
    assert len(sessions) == 1
    view = await temporal_client.get_workflow_handle(
        sessions[0].id, result_type=SessionView
    ).result()
    assert view.state == SessionState.EXPIRED
    assert view.final_reason == "authorized but never started"


async def test_start_without_authorize_then_local_stop(
    seeded, worker, gateway_url, temporal_client
):
    async with scripted(gateway_url, DEMO_STATION, DEMO_PASSWORD) as charger:
        result = await charger.start_transaction(DEMO_TAG)
        assert result["idTagInfo"]["status"] == "Accepted"
        await charger.meter(1000)
        await charger.stop_transaction("EVDisconnected")
    view = await session_result(temporal_client, DEMO_STATION, charger.transaction_id)
    assert view.state == SessionState.COMPLETED and view.stop_reason == "EVDisconnected"


async def test_group_card_gets_its_parent_id(seeded, worker, gateway_url):
    with seeded.session() as s:
        s.get(IdToken, 1).group_id = "FLEET-7"
        s.add(IdToken(token="FLEET-CARD-2", driver_id=1, group_id="FLEET-7"))
    async with scripted(gateway_url, DEMO_STATION, DEMO_PASSWORD) as charger:
        info = await charger.authorize("FLEET-CARD-2")
    assert info == {"status": "Accepted", "parentIdTag": "FLEET-7"}


async def test_eternal_guard_stops_remotely(
    seeded, fast_settings, temporal_client, database_url, worker, db
):
    fast_settings.max_session_s = 2
    gw = Gateway(fast_settings, temporal_client, database_url, fast_settings.task_queue)
    await gw.start(host="127.0.0.1", port=0)
    try:
        async with scripted(url(gw), DEMO_STATION, DEMO_PASSWORD) as charger:
            await charger.start_transaction(DEMO_TAG)
            await charger.meter(500)
            view = await session_result(temporal_client, DEMO_STATION, charger.transaction_id)
    finally:
        await gw.stop()
    assert "RemoteStopTransaction" in charger.actions_received()
    assert view.state == SessionState.COMPLETED and view.stop_reason == "Remote"


async def test_eternal_guard_closes_when_the_charger_ignores_the_stop(
    seeded, fast_settings, temporal_client, database_url, worker, db
):
    fast_settings.max_session_s = 1
    gw = Gateway(fast_settings, temporal_client, database_url, fast_settings.task_queue)
    await gw.start(host="127.0.0.1", port=0)
    try:
        async with scripted(url(gw), DEMO_STATION, DEMO_PASSWORD) as charger:
            charger.stop_after_remote_stop = False
            await charger.start_transaction(DEMO_TAG)
            await charger.meter(700)
            row = await eventually(lambda: _billed(db, charger.transaction_id))
    finally:
        await gw.stop()
    assert row.state == "NeedsReview" and row.stop_reason == "MaxDurationExceeded"
    assert row.energy_wh == 700
    assert len(payments_for(db, row.id)) == 1


def _billed(db, transaction_id) -> ChargingSession | None:
    with db.session() as s:
        row = s.exec(
            select(ChargingSession).where(ChargingSession.transaction_id == str(transaction_id))
        ).first()
        receipt = row and s.exec(select(Receipt).where(Receipt.session_id == row.id)).first()
        return row if row is not None and row.state == "NeedsReview" and receipt else None


async def test_offline_charger_is_closed_then_reconciled(
    seeded, fast_settings, fast_gateway, temporal_client, worker, db
):
    async with scripted(url(fast_gateway), DEMO_STATION, DEMO_PASSWORD) as charger:
        await charger.start_transaction(DEMO_TAG)
        await charger.meter(1500)
    # Offline now: the guard closes the session with the last known energy and flags it.
    row = await eventually(lambda: _billed(db, charger.transaction_id), timeout=20)
    assert row.stop_reason == "ChargerOffline" and row.energy_wh == 1500
    # The charger comes back and sends its real stop: the session is reconciled.
    async with scripted(url(fast_gateway), DEMO_STATION, DEMO_PASSWORD) as again:
        again.transaction_id, again.id_tag = charger.transaction_id, DEMO_TAG
        again.meter_wh, again.clock = charger.meter_wh + 300, charger.clock
        await again.stop_transaction("Local")
    view = await session_result(temporal_client, DEMO_STATION, charger.transaction_id)
    assert view.state == SessionState.NEEDS_REVIEW
    assert "reconciled" in view.final_reason and view.energy_wh == 1800
    assert len(payments_for(db, view.session_id)) == 1


async def test_idle_time_is_tracked_from_connector_status(
    seeded, worker, gateway_url, temporal_client
):
    async with scripted(gateway_url, DEMO_STATION, DEMO_PASSWORD) as charger:
        await charger.start_transaction(DEMO_TAG)
        await charger.meter(3000, minutes=30)
        await charger.status("SuspendedEV")
        await charger.status("Charging", minutes=12)
        handle = temporal_client.get_workflow_handle(
            contract.session_workflow_id(DEMO_STATION, charger.transaction_id)
        )
        view = await eventually(lambda: _idle_view(handle))
        await charger.stop_transaction()
    assert view.idle_s == 12 * 60


async def _idle_view(handle) -> SessionView | None:
    view = await handle.query(contract.QUERY_STATE, result_type=SessionView)
    return view if view.connector_status == "Charging" and view.idle_s else None
