"""A 2.0.1 charger is told the final price when it ends a transaction (TransactionEventResponse
`totalCost`, I05): the amount the settlement bills, to the cent, idle fee included."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text

from ampflow.seed import DEMO_STATION, DEMO_TAG
from domain.session import SessionState
from tests.helpers import charger_session_result
from tests.stations import demo_201


def _with_idle_fee(db) -> None:
    """The demo tariff also charges 6.00 EUR per idle hour, from the first minute."""
    with db.session() as session:
        session.exec(  # type: ignore[call-overload]
            text("UPDATE tariffs SET idle_price_per_hour = 600, idle_grace_minutes = 0")
        )
        session.commit()


async def test_the_ended_answer_carries_the_price_the_settlement_bills(
    seeded, worker, gateway_url, temporal_client
):
    _with_idle_fee(seeded)
    async with demo_201(gateway_url) as station:
        tx = station.transaction(1, DEMO_TAG)
        await station.event(tx.started())
        await station.event(tx.updated(wh=7_345))
        await station.event(tx.updated(charging_state="SuspendedEV", after=timedelta(minutes=3)))
        await station.event(tx.updated(wh=1_111, after=timedelta(minutes=17)))
        ended = await station.event(tx.ended())
    view = await charger_session_result(temporal_client, seeded, DEMO_STATION, tx.transaction_id)
    assert view.state == SessionState.COMPLETED
    assert any(line["component"] == "idle" for line in _cost_lines(seeded, view.session_id))
    assert round(ended["totalCost"] * 100) == view.total > 0


async def test_a_retransmitted_ended_gets_the_same_price(
    seeded, worker, gateway_url, temporal_client
):
    async with demo_201(gateway_url) as station:
        tx = station.transaction(1, DEMO_TAG)
        await station.event(tx.started())
        await station.event(tx.updated(wh=2_000))
        ended = tx.ended()
        first = await station.event(ended)
        again = await station.event(ended)
    assert first["totalCost"] == again["totalCost"] > 0


def _cost_lines(db, session_id: str) -> list[dict]:
    with db.session() as session:
        row = session.exec(  # type: ignore[call-overload]
            text("SELECT cost FROM sessions WHERE id = :id"), params={"id": session_id}
        ).one()
    return row[0]["lines"]


async def test_a_refused_transaction_is_told_it_is_free(seeded, worker, gateway_url):
    """The 2.0.1 schema: a free transaction gets totalCost 0.00 (omitted would mean not free)."""
    async with demo_201(gateway_url) as station:
        tx = station.transaction(1, "UNKNOWN-CARD")
        started = await station.event(tx.started())
        assert started["idTokenInfo"]["status"] == "Invalid"
        await station.event(tx.updated(wh=1_500))
        ended = await station.event(tx.ended())
    assert ended["totalCost"] == 0


async def test_plug_in_first_then_authorized_is_priced_at_the_end(seeded, worker, gateway_url):
    """OCTT TC_I_02 (I03.FR.02) as the OCA tool drives it: cable first, then the card, charging,
    the stop, and Ended from the EV's side (EVCommunicationLost) with the register at 6 kWh."""
    async with demo_201(gateway_url) as station:
        tx = station.transaction(1, None)
        await station.event(tx.started("CablePluggedIn", with_token=False))
        assert (await station.authorize(DEMO_TAG))["status"] == "Accepted"
        token = {"idToken": DEMO_TAG, "type": "ISO14443"}
        await station.event(tx.updated(id_token=token, trigger="Authorized"))
        await station.event(tx.updated(wh=5_000, trigger="ChargingStateChanged"))
        await station.event(tx.updated(trigger="StopAuthorized", id_token=token))
        await station.event(tx.updated(charging_state="EVConnected", after=timedelta(minutes=1)))
        ended = await station.event(tx.ended("EVDisconnected", "EVCommunicationLost"))
    assert ended["totalCost"] > 0
