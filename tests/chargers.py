"""Scriptable OCPP 1.6J test chargers (the `ocpp` library validates every frame both ways)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import websockets
from ocpp.routing import on
from ocpp.v16 import call, call_result

from ampflow.simulator import SimulatedChargePoint, basic_auth_header


def iso(at: datetime) -> str:
    return at.isoformat(timespec="seconds").replace("+00:00", "Z")


class Charger16(SimulatedChargePoint):
    """A 1.6 charger whose behaviour tests choose: accept or refuse remote starts and stops,
    start a transaction by itself after a remote start, answer remote stops with a stop."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.accept_remote_start = True
        self.start_after_remote_start = True
        self.accept_remote_stop = True
        self.stop_after_remote_stop = True
        self.meter_wh = 10_000
        self.clock = datetime.now(UTC).replace(microsecond=0)
        self.transaction_id: int | None = None
        self.id_tag: str | None = None
        self.received: list[str] = []
        self._tasks: set[asyncio.Task] = set()

    def _later(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @on("RemoteStartTransaction")
    def on_remote_start(self, id_tag: str, connector_id: int | None = None, **_):
        self.received.append("RemoteStartTransaction")
        if self.accept_remote_start and self.start_after_remote_start:
            self._later(self.start_transaction(id_tag, connector_id or 1))
        status = "Accepted" if self.accept_remote_start else "Rejected"
        return call_result.RemoteStartTransaction(status=status)

    @on("RemoteStopTransaction")
    def on_remote_stop(self, transaction_id: int):
        self.received.append("RemoteStopTransaction")
        accepted = self.accept_remote_stop and transaction_id == self.transaction_id
        if accepted and self.stop_after_remote_stop:
            self._later(self.stop_transaction("Remote"))
        return call_result.RemoteStopTransaction(status="Accepted" if accepted else "Rejected")

    async def boot(self) -> None:
        await self.call(call.BootNotification(charge_point_vendor="Test", charge_point_model="T"))

    async def authorize(self, id_tag: str) -> dict:
        result = await self.call(call.Authorize(id_tag=id_tag))
        return result.id_tag_info

    async def start_transaction(
        self, id_tag: str, connector_id: int = 1
    ) -> call_result.StartTransaction:
        self.id_tag = id_tag
        result = await self.call(
            call.StartTransaction(
                connector_id=connector_id,
                id_tag=id_tag,
                meter_start=self.meter_wh,
                timestamp=iso(self.clock),
            )
        )
        self.transaction_id = result.transaction_id
        return result

    async def meter(self, wh: int, minutes: int = 1, connector_id: int = 1) -> None:
        self.meter_wh += wh
        self.clock += timedelta(minutes=minutes)
        await self.call(
            call.MeterValues(
                connector_id=connector_id,
                transaction_id=self.transaction_id,
                meter_value=[
                    {
                        "timestamp": iso(self.clock),
                        "sampledValue": [
                            {
                                "value": str(self.meter_wh),
                                "measurand": "Energy.Active.Import.Register",
                                "unit": "Wh",
                            }
                        ],
                    }
                ],
            )
        )

    async def status(self, status: str, connector_id: int = 1, minutes: int = 0) -> None:
        self.clock += timedelta(minutes=minutes)
        await self.call(
            call.StatusNotification(
                connector_id=connector_id,
                error_code="NoError",
                status=status,
                timestamp=iso(self.clock),
            )
        )

    async def stop_transaction(self, reason: str = "Local", minutes: int = 1) -> None:
        self.clock += timedelta(minutes=minutes)
        await self.call(
            call.StopTransaction(
                meter_stop=self.meter_wh,
                timestamp=iso(self.clock),
                transaction_id=self.transaction_id,
                reason=reason,
                id_tag=self.id_tag,
            )
        )


@contextlib.asynccontextmanager
async def charger16(url: str, station_id: str, password: str) -> AsyncIterator[Charger16]:
    """A connected, booted 1.6 charger; disconnects on exit."""
    async with websockets.connect(
        f"{url}/{station_id}",
        subprotocols=["ocpp1.6"],
        additional_headers=basic_auth_header(station_id, password),
    ) as ws:
        charger = Charger16(station_id, ws, response_timeout=30)
        reader = asyncio.create_task(charger.start())
        try:
            await charger.boot()
            yield charger
        finally:
            reader.cancel()
