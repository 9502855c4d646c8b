"""OCPP 1.6 StopTransaction.conf carries idTagInfo for the idTag that stopped the transaction
(§6.49: present exactly when the request has an idTag), so the charger can update its
authorization cache: the token's status as the CSMS knows it, with expiry and parentIdTag.
Real gateway and workflow; DEMO-1 a scripted virtual charger."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from ampflow.seed import DEMO_STATION
from chargers.script import scripted
from tests.conftest import DEMO_PASSWORD


def token(db, status: str, *, group: str | None = None, expires: datetime | None = None) -> None:
    with db.session() as s:
        s.exec(  # type: ignore[call-overload]
            text(
                "UPDATE id_tokens SET status = :s, group_id = :g, expires_at = :e "
                "WHERE token = 'DEMO-TAG'"
            ),
            params={"s": status, "g": group, "e": expires},
        )
        s.commit()


async def test_stop_with_the_starting_tag_answers_its_status_and_group(
    seeded, worker, gateway_url, db
):
    expires = datetime.now(UTC).replace(microsecond=0) + timedelta(days=30)
    token(db, "Accepted", group="FLEET-1", expires=expires)
    async with scripted(gateway_url, DEMO_STATION, DEMO_PASSWORD) as cp:
        await cp.start_transaction("DEMO-TAG")
        stopped = await cp.stop_transaction()
    info = stopped["idTagInfo"]
    assert (info["status"], info["parentIdTag"]) == ("Accepted", "FLEET-1")
    assert datetime.fromisoformat(info["expiryDate"]) == expires


@pytest.mark.parametrize(
    ("stopped_by", "status"), [("DEMO-TAG", "Blocked"), ("NO-SUCH-CARD", "Invalid")]
)
async def test_stop_by_a_blocked_or_unknown_tag_says_so(
    seeded, worker, gateway_url, db, stopped_by, status
):
    async with scripted(gateway_url, DEMO_STATION, DEMO_PASSWORD) as cp:
        await cp.start_transaction("DEMO-TAG")
        token(db, "Blocked")  # blocked while charging
        stopped = await cp.stop_transaction(id_tag=stopped_by)
    assert stopped["idTagInfo"]["status"] == status


async def test_stop_without_an_idtag_has_no_idtaginfo(seeded, worker, gateway_url):
    async with scripted(gateway_url, DEMO_STATION, DEMO_PASSWORD) as cp:
        started = await cp.start_transaction("DEMO-TAG")
        answer = await cp.charger.call(
            "StopTransaction",
            {
                "transactionId": started["transactionId"],
                "meterStop": cp.meter_wh,
                "timestamp": datetime.now(UTC).isoformat(),
                "reason": "EVDisconnected",
            },
        )
    assert answer == {}
