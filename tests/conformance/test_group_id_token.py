"""A token in a group carries its group on every authorization answer (OCTT C, OCPP 2.0.1
idTokenInfo.groupIdToken; 1.6 idTagInfo.parentIdTag): Authorize and the transaction start, for
an accepted and for a blocked token. Real gateway and workflow; DEMO-1 a virtual charger."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from ampflow.seed import DEMO_STATION
from chargers.script import scripted
from tests.conftest import DEMO_PASSWORD

GROUP_201 = {"idToken": "FLEET-1", "type": "Central"}


def in_group(db, status: str) -> None:
    with db.session() as s:
        s.exec(  # type: ignore[call-overload]
            text("UPDATE id_tokens SET group_id = 'FLEET-1', status = :s WHERE token = 'DEMO-TAG'"),
            params={"s": status},
        )


async def test_accepted_token_answers_carry_its_group(seeded, worker, gateway_url, db):
    in_group(db, "Accepted")
    async with scripted(gateway_url, DEMO_STATION, DEMO_PASSWORD) as cp:
        assert (await cp.authorize("DEMO-TAG"))["parentIdTag"] == "FLEET-1"
        started = await cp.start_transaction("DEMO-TAG")
        assert started["idTagInfo"] == {"status": "Accepted", "parentIdTag": "FLEET-1"}
        await cp.stop_transaction()
    async with scripted(gateway_url, DEMO_STATION, DEMO_PASSWORD, version="2.0.1") as station:
        assert (await station.authorize("DEMO-TAG"))["groupIdToken"] == GROUP_201
        tx = station.transaction(1, "DEMO-TAG")
        answer = await station.event(tx.started())
        assert answer["idTokenInfo"] == {"status": "Accepted", "groupIdToken": GROUP_201}
        await station.event(tx.ended())


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_blocked_token_answer_carries_its_group(seeded, worker, gateway_url, db, version):
    in_group(db, "Blocked")
    async with scripted(gateway_url, DEMO_STATION, DEMO_PASSWORD, version=version) as station:
        info = await station.authorize("DEMO-TAG")
    assert info["status"] == "Blocked"
    if version == "1.6":
        assert info["parentIdTag"] == "FLEET-1"
    else:
        assert info["groupIdToken"] == GROUP_201
