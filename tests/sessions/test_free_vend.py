"""A free-vend station: whoever plugs in charges, unauthorized, and nobody is billed."""

from __future__ import annotations

from sqlmodel import select

from ampflow.seed import DEMO_STATION
from chargers.script import scripted
from domain.session import SessionState
from store.tables import Payment, Station
from tests.conftest import DEMO_PASSWORD
from tests.helpers import charger_session_result, session_result
from tests.stations import demo_201


def make_free(db) -> None:
    with db.session() as s:
        s.get(Station, DEMO_STATION).free_vend = True


async def test_free_vend_16_any_tag_charges_for_free(seeded, worker, gateway_url, temporal_client):
    make_free(seeded)
    async with scripted(gateway_url, DEMO_STATION, DEMO_PASSWORD) as cp:
        started = await cp.start_transaction("WHATEVER-TAG")
        assert started["idTagInfo"]["status"] == "Accepted"
        await cp.meter(4000, minutes=30)
        await cp.stop_transaction()
    view = await session_result(temporal_client, DEMO_STATION, cp.transaction_id)
    assert view.state == SessionState.COMPLETED and view.energy_wh == 4000 and view.total == 0
    with seeded.session() as s:
        charges = s.exec(
            select(Payment).where(Payment.session_id == view.session_id, Payment.kind == "charge")
        ).all()
    assert [(c.amount, c.status) for c in charges] == [(0, "not_required")]


async def test_free_vend_201_without_any_token(seeded, worker, gateway_url, temporal_client):
    make_free(seeded)
    async with demo_201(gateway_url) as station:
        tx = station.transaction(1, None, token_type="NoAuthorization")
        await station.event(tx.started("CablePluggedIn", with_token=False))
        await station.event(tx.updated(wh=1500))
        await station.event(tx.ended())
    view = await charger_session_result(temporal_client, seeded, DEMO_STATION, tx.transaction_id)
    assert view.state == SessionState.COMPLETED and view.energy_wh == 1500 and view.total == 0
