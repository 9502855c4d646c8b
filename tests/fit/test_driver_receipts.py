"""`/me/sessions/{id}/receipt.pdf`: a driver downloads the PDF receipt of their own sessions
only; another driver's, an unknown session and one without a receipt are 404 (#16)."""

from __future__ import annotations

from datetime import UTC, datetime

from activities.receipts.activities import issue
from activities.receipts.data import Operator
from ampflow.seed import DEMO_STATION
from store.tables import ChargingSession
from tests.access.helpers import driver_account

COST = {
    "currency": "EUR",
    "lines": [
        {
            "component": "energy",
            "label": None,
            "quantity": "12.000 kWh",
            "unit_price": 35,
            "amount": 420,
        }
    ],
    "net": 420,
    "vat": 84,
    "total": 504,
    "vat_rate_bp": 2000,
}


def completed_session(db, session_id: str, driver_id: int, *, receipt: bool = True) -> None:
    """A completed, rated session of the driver; its receipt issued the way the workflow does."""
    with db.session() as session:
        session.add(
            ChargingSession(
                id=session_id,
                station_id=DEMO_STATION,
                connector_id=1,
                transaction_id=session_id.rsplit("-", 1)[-1],
                driver_id=driver_id,
                state="Completed",
                tariff={"name": "Standard"},
                energy_wh=12_000,
                cost=COST,
                total_amount=504,
                currency="EUR",
                started_at=datetime(2030, 1, 1, 10, tzinfo=UTC),
                stopped_at=datetime(2030, 1, 1, 11, tzinfo=UTC),
            )
        )
        session.flush()
        if receipt:
            issue(session, session_id, Operator(name="Ampflow"))


async def test_a_driver_downloads_only_their_own_pdf_receipts(http, seeded):
    ann = await driver_account(http, "ann@example.com", "Ann")
    ben = await driver_account(http, "ben@example.com", "Ben")
    completed_session(seeded, "session-DEMO-1-801", ann["driver_id"])
    completed_session(seeded, "session-DEMO-1-802", ben["driver_id"])
    completed_session(seeded, "session-DEMO-1-803", ann["driver_id"], receipt=False)

    own = await http.get("/me/sessions/session-DEMO-1-801/receipt.pdf", headers=ann["headers"])
    assert own.status_code == 200, own.text
    assert own.headers["content-type"] == "application/pdf"
    assert own.content.startswith(b"%PDF-")
    assert "receipt-session-DEMO-1-801.pdf" in own.headers["content-disposition"]
    for path, reason in (
        ("/me/sessions/session-DEMO-1-802/receipt.pdf", "unknown session"),  # Ben's
        ("/me/sessions/session-DEMO-1-999/receipt.pdf", "unknown session"),
        ("/me/sessions/session-DEMO-1-803/receipt.pdf", "no receipt for this session (yet)"),
    ):
        answer = await http.get(path, headers=ann["headers"])
        assert (answer.status_code, answer.json()["detail"]) == (404, reason), path
    bens = await http.get("/me/sessions/session-DEMO-1-802/receipt.pdf", headers=ben["headers"])
    assert bens.status_code == 200 and bens.content.startswith(b"%PDF-")
