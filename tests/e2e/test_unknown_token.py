"""Refused credentials over the whole stack: real charger, gateway, Temporal worker and store.

An unknown, blocked or expired idTag is answered `Invalid` / `Blocked` / `Expired`, both at
Authorize (the simulated charger then does not start) and at StartTransaction without a prior
Authorize (the charger is told so and stops; the session ends `Rejected` and is never billed:
no payment row, no receipt).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest
from sqlalchemy import text
from sqlmodel import select

from ampflow.seed import DEMO_STATION, DEMO_TAG
from chargers.script import run_session, scripted
from domain.session import SessionState
from store.tables import ChargingSession, IdToken, Payment, Receipt
from tests.conftest import DEMO_PASSWORD
from tests.helpers import session_result
from workflows import contract

UNKNOWN_TAG = "NOT-A-CARD"


def _set_demo_token(db, **fields) -> None:
    with db.session() as session:
        token = session.exec(select(IdToken).where(IdToken.token == DEMO_TAG)).one()
        for name, value in fields.items():
            setattr(token, name, value)
        session.add(token)


def _prepare(db, case: str) -> tuple[str, str]:
    """Make the credential for `case` and return (idTag, expected status)."""
    if case == "unknown":
        return UNKNOWN_TAG, "Invalid"
    if case == "blocked":
        _set_demo_token(db, status="Blocked")
        return DEMO_TAG, "Blocked"
    if case == "expired":
        _set_demo_token(db, expires_at=datetime.now(UTC) - timedelta(days=1))
        return DEMO_TAG, "Expired"
    raise AssertionError(case)


def _last_session_number(db) -> int:
    with db.session() as session:
        return session.exec(text("SELECT last_value FROM session_number_seq")).scalar_one()  # type: ignore[call-overload]


def _billing_rows(db) -> tuple[list, list]:
    with db.session() as session:
        return list(session.exec(select(Payment)).all()), list(session.exec(select(Receipt)).all())


CASES = ["unknown", "blocked", "expired"]


@pytest.mark.parametrize("case", CASES)
async def test_refused_at_authorize_never_starts(
    seeded, worker, gateway_url, temporal_client, case
):
    id_tag, expected = _prepare(seeded, case)
    sim = await run_session(gateway_url, DEMO_STATION, DEMO_PASSWORD, id_tag, meter_values=2)
    assert sim.boot_status == "Accepted"
    assert sim.authorize_status == expected
    # The charger did not start a transaction.
    assert sim.start_status is None and sim.transaction_id is None

    # The session-to-be that answered the Authorize ends Rejected without recording anything.
    number = _last_session_number(seeded)
    view = await session_result(temporal_client, DEMO_STATION, number)
    assert view.state == SessionState.REJECTED
    assert view.started_at is None and view.total is None
    with seeded.session() as session:
        assert session.exec(select(ChargingSession)).all() == []
    assert _billing_rows(seeded) == ([], [])


@pytest.mark.parametrize("case", CASES)
async def test_refused_at_start_is_rejected_and_never_billed(
    seeded, worker, gateway_url, temporal_client, api, case
):
    id_tag, expected = _prepare(seeded, case)
    sim = await run_session(
        gateway_url, DEMO_STATION, DEMO_PASSWORD, id_tag, meter_values=2, skip_authorize=True
    )
    assert sim.authorize_status is None  # no Authorize was sent
    assert sim.start_status == expected
    assert sim.transaction_id is not None

    view = await session_result(temporal_client, DEMO_STATION, sim.transaction_id)
    assert view.state == SessionState.REJECTED
    assert view.total is None

    session_id = contract.session_workflow_id(DEMO_STATION, sim.transaction_id)
    with seeded.session() as session:
        row = session.get(ChargingSession, session_id)
        assert row is not None
        assert row.state == SessionState.REJECTED.value
        assert row.total_amount is None and row.cost is None
        assert expected in (row.review_reason or "")
    assert _billing_rows(seeded) == ([], [])

    detail = await api.get(f"/sessions/{session_id}")
    assert detail.status_code == 200
    assert detail.json()["state"] == "Rejected"
    assert detail.json()["payment"] is None and detail.json()["receipt"] is None
    assert (await api.get(f"/sessions/{session_id}/receipt")).status_code == 404


async def test_token_blocked_through_the_api_is_refused(
    seeded, worker, gateway_url, temporal_client, api
):
    response = await api.patch(f"/tokens/{DEMO_TAG}", json={"status": "Blocked"})
    assert response.status_code == 200
    sim = await run_session(gateway_url, DEMO_STATION, DEMO_PASSWORD, DEMO_TAG, meter_values=1)
    assert sim.authorize_status == "Blocked"
    assert sim.transaction_id is None

    # Unblocking takes effect at the next Authorize.
    response = await api.patch(f"/tokens/{DEMO_TAG}", json={"status": "Accepted"})
    assert response.status_code == 200
    sim = await run_session(gateway_url, DEMO_STATION, DEMO_PASSWORD, DEMO_TAG, meter_values=1)
    assert (sim.authorize_status, sim.start_status) == ("Accepted", "Accepted")
    view = await session_result(temporal_client, DEMO_STATION, sim.transaction_id)
    assert view.state == SessionState.COMPLETED
    payments, receipts = _billing_rows(seeded)
    assert [p.session_id for p in payments if p.kind == "charge"] == [view.session_id]
    assert [r.session_id for r in receipts] == [view.session_id]


async def test_token_expiring_in_the_future_is_accepted(
    seeded, worker, gateway_url, temporal_client
):
    _set_demo_token(seeded, expires_at=datetime.now(UTC) + timedelta(days=1))
    sim = await run_session(gateway_url, DEMO_STATION, DEMO_PASSWORD, DEMO_TAG, meter_values=1)
    assert (sim.authorize_status, sim.start_status) == ("Accepted", "Accepted")
    view = await session_result(temporal_client, DEMO_STATION, sim.transaction_id)
    assert view.state == SessionState.COMPLETED


async def test_id_tag_with_nul_is_invalid_not_stuck(seeded, worker, gateway_url):
    """A schema-valid idTag the database cannot hold (U+0000) is simply unknown: Invalid."""
    frame = orjson.dumps([2, "auth-nul", "Authorize", {"idTag": "DEMO\x00TAG"}]).decode()
    async with scripted(gateway_url, DEMO_STATION, DEMO_PASSWORD) as cp:
        answer = await cp.charger.send_raw(frame, answer_id="auth-nul", timeout_s=15)
    assert answer == [3, "auth-nul", {"idTagInfo": {"status": "Invalid"}}]
