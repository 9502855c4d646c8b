"""1.6 chargers get a session's final price after their StopTransaction is answered, in the OCA
California Pricing convention (OCPP 1.6 has no cost field of its own): a `DataTransfer` with
vendorId `org.openchargealliance.costmsg`, messageId `FinalCost` and data
`{"transactionId", "cost", "priceText", "qrCodeText"}`. Sent when `AMPFLOW_FINAL_COST_16` is
on — for fleets whose chargers implement the convention (`CustomDisplayCostAndPrice` true) —
once per session, and only for a session the store can price (`gateway/session_price.py`).

2.0.1 chargers get the same price in the Ended answer's `totalCost`
(`gateway/v201/transactions.py`).
"""

from __future__ import annotations

import json
import logging

from domain.money import format_amount
from domain.session import StopRequest
from gateway.connection import StationConnection
from gateway.session_price import major_units, session_price

log = logging.getLogger(__name__)

COST_VENDOR = "org.openchargealliance.costmsg"
_READ_DEADLINE_S = 5.0


def final_cost_after_answer(
    conn: StationConnection, transaction_id: int, session_id: str, stop: StopRequest, unique_id: str
) -> None:
    """Send `FinalCost` once this StopTransaction (`unique_id`) has been answered."""
    if not conn.services.settings.final_cost_16:
        return
    if not conn.services.bridge.first_time(("final-cost", session_id)):
        return  # a retransmitted StopTransaction: the charger has it already

    async def send() -> None:
        try:
            await _send(conn, transaction_id, session_id, stop)
        except Exception as error:  # a courtesy to the driver; the receipt comes regardless
            log.info("%s FinalCost not sent (%s)", conn.station_id, error)

    conn.after_answer(unique_id, send)


async def _send(
    conn: StationConnection, transaction_id: int, session_id: str, stop: StopRequest
) -> None:
    services = conn.services
    amount = await session_price(
        services.store, conn.station_id, session_id, stop, _READ_DEADLINE_S
    )
    if amount is None:
        return
    rows = await services.store.fetch_dicts(
        "SELECT tariff->>'currency' AS currency FROM sessions WHERE id = %s", (session_id,)
    )
    currency = (rows and rows[0]["currency"]) or "EUR"
    data = {
        "transactionId": transaction_id,
        "cost": major_units(amount),
        "priceText": f"Total {format_amount(amount, currency)}",
        "qrCodeText": f"{services.settings.api_base_url}/me/sessions/{session_id}",
    }
    answer = await conn.call(
        "DataTransfer",
        {"vendorId": COST_VENDOR, "messageId": "FinalCost", "data": json.dumps(data)},
    )
    if answer.get("status") != "Accepted":
        log.info("%s FinalCost answered %s", conn.station_id, answer.get("status"))
