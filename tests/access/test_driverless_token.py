"""A card issued to no driver: one decision everywhere (`domain.authorization.decide`). Nobody
could be billed for it, so it is refused — NoCredit, which 1.6 says as Blocked — by both
versions' online answers, the gateway's fallback and the local lists; a free-vend station
accepts it (nobody pays there)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text

from activities.local_list_activities import wanted_entries
from ampflow.seed import DEMO_STATION
from chargers.script import scripted
from gateway.v16.local_list_commands import COMMANDS as V16_LIST
from gateway.v201.local_list_commands import COMMANDS as V201_LIST
from store.tables import IdToken
from tests.conftest import DEMO_PASSWORD
from tests.stations import demo_201

CARD = "STOCK-1"


def _issue_to_nobody(db) -> None:
    with db.session() as session:
        session.add(IdToken(token=CARD))
        session.commit()


async def test_refused_online_on_both_versions(seeded, worker, gateway_url):
    _issue_to_nobody(seeded)
    async with scripted(gateway_url, DEMO_STATION, DEMO_PASSWORD) as charger:
        assert (await charger.authorize(CARD))["status"] == "Blocked"
        started = await charger.start_transaction(CARD)
        assert started["idTagInfo"]["status"] == "Blocked"
    async with demo_201(gateway_url) as station:
        assert (await station.authorize(CARD))["status"] == "NoCredit"
        tx = station.transaction(1, CARD)
        answer = await station.event(tx.started())
        assert answer["idTokenInfo"]["status"] == "NoCredit"


async def test_refused_by_the_fallback_and_in_local_lists(seeded, gateway):
    _issue_to_nobody(seeded)
    decision = await gateway.bridge.fallback.decide(DEMO_STATION, CARD)
    assert decision.status == "NoCredit"
    with seeded.session() as session:
        [entry] = [e for e in wanted_entries(session, datetime.now(UTC)) if e.id_token == CARD]
    assert entry.status == "NoCredit"
    params = {"version": 1, "update_type": "Full", "entries": [entry.model_dump(mode="json")]}
    _, v16 = V16_LIST["send_local_list"](params)
    _, v201 = V201_LIST["send_local_list"](params)
    assert v16["localAuthorizationList"][0]["idTagInfo"]["status"] == "Blocked"
    assert v201["localAuthorizationList"][0]["idTokenInfo"]["status"] == "NoCredit"


async def test_a_free_vend_station_accepts_it(seeded, worker, gateway_url):
    _issue_to_nobody(seeded)
    with seeded.session() as session:
        session.exec(text("UPDATE stations SET free_vend = true"))  # type: ignore[call-overload]
        session.commit()
    async with scripted(gateway_url, DEMO_STATION, DEMO_PASSWORD) as charger:
        assert (await charger.authorize(CARD))["status"] == "Accepted"


async def test_an_operator_cannot_remote_start_it(seeded, worker, gateway_url, api):
    """The operators' remote start says so at once, instead of a session refused later."""
    _issue_to_nobody(seeded)
    async with scripted(gateway_url, DEMO_STATION, DEMO_PASSWORD):
        refused = await api.post("/sessions", json={"station_id": DEMO_STATION, "id_token": CARD})
    assert refused.status_code == 409
    assert "not assigned to a driver" in refused.json()["detail"]
    assert (await api.get("/sessions")).json() == []
