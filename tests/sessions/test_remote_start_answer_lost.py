"""A remote start whose answer is lost does not end the session the charger started.

Found by the 30-minute chaos run (seed 2026): the charger accepted RemoteStartTransaction and
started, but the answer never reached the session workflow (its gateway's link to Temporal was
cut); the workflow took the lost answer for a refusal, recorded the session Expired while the
car charged, and left the card hold open. Here the charger starts at once and answers the
RemoteStart only after the command's 30 s timeout: the session must bill the transaction. A
remote start the charger refuses outright still ends the session at once.
"""

from __future__ import annotations

import asyncio

from ampflow.seed import DEMO_STATION, DEMO_TAG
from chargers.script import scripted
from domain.session import SessionState
from store.tables import ChargingSession, Payment
from tests.conftest import DEMO_PASSWORD
from tests.helpers import eventually


def _session(db, session_id: str) -> ChargingSession | None:
    with db.session() as s:
        row = s.get(ChargingSession, session_id)
        if row is not None:
            s.expunge(row)
        return row


def _payments(db, session_id: str) -> list[tuple[str, str]]:
    with db.session() as s:
        rows = s.query(Payment).filter(Payment.session_id == session_id).all()
        return sorted((p.kind, p.status) for p in rows)


async def test_a_started_remote_session_survives_its_lost_remote_start_answer(
    seeded, worker, gateway_url, api
):
    # A charger busy with the command reads nothing else meanwhile: its own Start's answer
    # waits in the socket until the late RemoteStart answer is out (hence the long timeout).
    async with scripted(gateway_url, DEMO_STATION, DEMO_PASSWORD, message_timeout_s=90) as charger:
        charger.start_after_remote_start = False

        async def start_then_answer_too_late(payload: dict) -> dict:
            charger.later(charger.start_transaction(payload["idTag"]))
            await asyncio.sleep(36)  # the CSMS's command times out after 30 s
            return {"status": "Accepted"}

        charger.charger.answer_with("RemoteStartTransaction", start_then_answer_too_late)
        created = await api.post(
            "/sessions", json={"station_id": DEMO_STATION, "id_token": DEMO_TAG}
        )
        assert created.status_code == 202, created.text
        session_id = created.json()["session_id"]
        await asyncio.sleep(40)  # past the lost answer
        await eventually(lambda: charger.transaction_id is not None, timeout=30)
        assert _session(seeded, session_id).state == SessionState.CHARGING
        await charger.meter(2_000, minutes=20)
        await charger.stop_transaction()

    def completed() -> ChargingSession | None:
        row = _session(seeded, session_id)
        return row if row and row.state == SessionState.COMPLETED else None

    row = await eventually(completed, timeout=60)
    assert row.energy_wh == 2_000 and row.total_amount and row.total_amount > 0


async def test_a_refused_remote_start_still_expires_at_once(seeded, worker, gateway_url, api):
    """A clear refusal is not a lost answer: no waiting, nothing held."""
    async with scripted(gateway_url, DEMO_STATION, DEMO_PASSWORD) as charger:
        charger.accept_remote_start = False
        created = await api.post(
            "/sessions", json={"station_id": DEMO_STATION, "id_token": DEMO_TAG}
        )
        assert created.status_code == 202, created.text
        session_id = created.json()["session_id"]

        def expired() -> ChargingSession | None:
            row = _session(seeded, session_id)
            return row if row and row.state == SessionState.EXPIRED else None

        row = await eventually(expired, timeout=30)
    assert "remote start not accepted" in (row.review_reason or "")
    assert _payments(seeded, session_id) == []
