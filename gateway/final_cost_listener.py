"""1.6 chargers get a session's final price after its StopTransaction, in the OCA California
Pricing convention (OCPP 1.6 has no cost field of its own): a `DataTransfer` with vendorId
`org.openchargealliance.costmsg`, messageId `FinalCost` and data
`{"transactionId", "cost", "priceText"}`. Sent only when `AMPFLOW_FINAL_COST_16` is on, for
chargers that implement the convention (their `CustomDisplayCostAndPrice` is true).

2.0.1 chargers get the same price in the Ended answer's `totalCost`
(`gateway/v201/transactions.py`); both read it with `gateway/session_price.py`.
"""

from __future__ import annotations

import asyncio
import json
import logging

from domain.money import format_amount
from domain.session import StopRequest
from gateway import events
from gateway.protocol import OCPP16
from gateway.services import GatewayServices
from gateway.session_price import major_units, session_price

log = logging.getLogger(__name__)

COST_VENDOR = "org.openchargealliance.costmsg"
_READ_DEADLINE_S = 5.0


class FinalCostListener:
    """On a 1.6 session's stop: rate it from the store and send `FinalCost` to its charger."""

    def __init__(self, services: GatewayServices) -> None:
        self.services = services
        self._tasks: set[asyncio.Task] = set()

    def __call__(self, event: events.StationEvent) -> None:
        if not self.services.settings.final_cost_16:
            return
        if not isinstance(event, events.SessionEvent) or event.kind != "stopped":
            return
        conn = self.services.connections.get(event.station_id)
        if conn is None or conn.version != OCPP16:
            return
        task = asyncio.create_task(self._send(event), name=f"final-cost-{event.session_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, event: events.SessionEvent) -> None:
        stop = await self._stored_stop(event)
        if stop is None:
            return
        price = await session_price(self.services.store, event.session_id, stop, _READ_DEADLINE_S)
        conn = self.services.connections.get(event.station_id)
        if price is None or conn is None:
            return
        transaction_id = event.session_id.rsplit("-", 1)[-1]
        data = {
            "transactionId": int(transaction_id),
            "cost": major_units(price.total),
            "priceText": f"Total {format_amount(price.total, price.currency)}",
        }
        try:
            answer = await conn.call(
                "DataTransfer",
                {"vendorId": COST_VENDOR, "messageId": "FinalCost", "data": json.dumps(data)},
            )
        except Exception as error:  # the charger is gone or refused: its receipt still comes
            log.info("%s FinalCost not delivered (%s)", event.station_id, error)
            return
        if answer.get("status") != "Accepted":
            log.info("%s FinalCost answered %s", event.station_id, answer.get("status"))

    async def _stored_stop(self, event: events.SessionEvent) -> StopRequest | None:
        """The stop as the outbox stored it (what the session will settle with)."""
        rows = await self.services.store.fetch_dicts(
            "SELECT payload FROM station_outbox WHERE session_id = %s AND kind = 'stop' "
            "ORDER BY id LIMIT 1",
            (event.session_id,),
        )
        return StopRequest.model_validate(rows[0]["payload"]["stop"]) if rows else None
