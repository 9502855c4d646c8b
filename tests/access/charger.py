"""A scriptable OCPP 1.6J charger for the access tests (the `ocpp` library, charge-point role).

It keeps a local authorization list (SendLocalList / GetLocalListVersion), answers remote
start and stop by really starting and stopping transactions, and exposes Authorize, start,
meter and stop for the test to drive.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result

from ampflow.seed import DEMO_STATION
from ampflow.simulator import basic_auth_header
from tests.conftest import DEMO_PASSWORD


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class FleetCharger(ChargePoint):
    def __init__(self, station_id: str, ws) -> None:
        super().__init__(station_id, ws, response_timeout=30)
        self.lists: list[dict] = []  # every SendLocalList received, in order
        self.local_list: dict[str, dict | None] = {}
        self.list_version = 0
        self.list_answers: list[str] = []  # answers to give next (default Accepted)
        self.started: list[int] = []  # transactions started on a remote start
        self.stopped: list[int] = []
        self.meter_wh = 10_000
        self.configuration: dict[str, str] = {}
        self.diagnostics_location: str | None = None
        self._tasks: set[asyncio.Task] = set()

    # ---- what the CSMS asks ------------------------------------------------------------

    @on("SendLocalList")
    def on_send_local_list(self, list_version, update_type, local_authorization_list=None):
        entries = local_authorization_list or []
        self.lists.append({"version": list_version, "type": update_type, "entries": entries})
        answer = self.list_answers.pop(0) if self.list_answers else "Accepted"
        if answer == "Accepted":
            if update_type == "Full":
                self.local_list = {}
            for entry in entries:
                info = entry.get("id_tag_info")
                if info is None:
                    self.local_list.pop(entry["id_tag"], None)
                else:
                    self.local_list[entry["id_tag"]] = info
            self.list_version = list_version
        return call_result.SendLocalList(status=answer)

    @on("GetLocalListVersion")
    def on_get_local_list_version(self):
        return call_result.GetLocalListVersion(list_version=self.list_version)

    @on("ClearCache")
    def on_clear_cache(self):
        return call_result.ClearCache(status="Accepted")

    @on("ChangeConfiguration")
    def on_change_configuration(self, key, value):
        self.configuration[key] = value
        return call_result.ChangeConfiguration(status="Accepted")

    @on("GetDiagnostics")
    def on_get_diagnostics(self, location, **_):
        self.diagnostics_location = location
        return call_result.GetDiagnostics(file_name="diagnostics.tgz")

    @on("RemoteStartTransaction")
    def on_remote_start(self, id_tag, connector_id=None, charging_profile=None):
        self._spawn(self._remote_start(id_tag, connector_id or 1))
        return call_result.RemoteStartTransaction(status="Accepted")

    @on("RemoteStopTransaction")
    def on_remote_stop(self, transaction_id):
        self._spawn(self._remote_stop(transaction_id))
        return call_result.RemoteStopTransaction(status="Accepted")

    # ---- what the test drives ----------------------------------------------------------

    async def authorize(self, id_tag: str) -> dict:
        return (await self.call(call.Authorize(id_tag=id_tag))).id_tag_info

    async def start_tx(self, id_tag: str, connector_id: int = 1) -> tuple[int, dict]:
        """StartTransaction; returns (transactionId, idTagInfo)."""
        response = await self.call(
            call.StartTransaction(
                connector_id=connector_id,
                id_tag=id_tag,
                meter_start=self.meter_wh,
                timestamp=_now(),
            )
        )
        await self.status(connector_id, "Charging")
        return response.transaction_id, response.id_tag_info

    async def meter(self, transaction_id: int, connector_id: int = 1, wh: int = 1000) -> None:
        self.meter_wh += wh
        await self.call(
            call.MeterValues(
                connector_id=connector_id,
                transaction_id=transaction_id,
                meter_value=[
                    {
                        "timestamp": _now(),
                        "sampledValue": [
                            {"value": str(self.meter_wh), "unit": "Wh"},
                            {"value": "7400", "measurand": "Power.Active.Import", "unit": "W"},
                        ],
                    }
                ],
            )
        )

    async def stop_tx(
        self, transaction_id: int, id_tag: str | None = None, reason: str = "Local"
    ) -> dict | None:
        payload = {"meter_stop": self.meter_wh, "timestamp": _now(), "reason": reason}
        if id_tag:
            payload["id_tag"] = id_tag
        response = await self.call(call.StopTransaction(transaction_id=transaction_id, **payload))
        self.stopped.append(transaction_id)
        return response.id_tag_info

    async def status(self, connector_id: int, status: str) -> None:
        await self.call(
            call.StatusNotification(connector_id=connector_id, error_code="NoError", status=status)
        )

    # ---- helpers -----------------------------------------------------------------------

    async def _remote_start(self, id_tag: str, connector_id: int) -> None:
        info = await self.authorize(id_tag)  # AuthorizeRemoteTxRequests = true
        if info["status"] == "Accepted":
            transaction_id, _ = await self.start_tx(id_tag, connector_id)
            self.started.append(transaction_id)

    async def _remote_stop(self, transaction_id: int) -> None:
        await self.stop_tx(transaction_id, reason="Remote")

    def _spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


@contextlib.asynccontextmanager
async def connected_charger(url: str, station_id: str = DEMO_STATION):
    async with websockets.connect(
        f"{url}/{station_id}",
        subprotocols=["ocpp1.6"],
        additional_headers=basic_auth_header(station_id, DEMO_PASSWORD),
    ) as ws:
        charger = FleetCharger(station_id, ws)
        reader = asyncio.create_task(charger.start())
        await charger.call(call.BootNotification(charge_point_vendor="T", charge_point_model="T"))
        for connector_id in (1, 2):
            await charger.status(connector_id, "Available")
        try:
            yield charger
        finally:
            reader.cancel()
