"""A 2.0.1 station for maintenance tests: the shared simulator plus GetLog, UpdateFirmware and
GetBaseReport, surviving reboots (a new socket and a BootNotification with the new firmware)."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx
import websockets
from ocpp.routing import on
from ocpp.v201 import call, call_result

from ampflow.simulator import basic_auth_header
from ampflow.simulator_v201 import SimulatedChargingStation, StationModel


class _Socket201(SimulatedChargingStation):
    def __init__(self, owner: MaintenanceStation201, ws) -> None:
        super().__init__(owner.station_id, ws, owner.model, response_timeout=15)
        self.owner = owner

    async def boot(self, reason: str = "PowerUp") -> call_result.BootNotification:
        station = {"vendorName": "Ampflow", "model": "Simulator-2"}
        station["firmwareVersion"] = self.owner.firmware
        return await self.send(call.BootNotification(charging_station=station, reason=reason))

    @on("GetLog")
    def on_get_log(self, log: dict, log_type: str, request_id: int, **params):
        self._note("GetLog", log=log, log_type=log_type, request_id=request_id, **params)
        location = log.get("remote_location") or log.get("remoteLocation")
        self.owner.later(self.owner.upload(location, request_id))
        return call_result.GetLog(status="Accepted", filename=self.owner.log_name)

    @on("UpdateFirmware")
    def on_update_firmware(self, request_id: int, firmware: dict, **params):
        self._note("UpdateFirmware", request_id=request_id, firmware=firmware, **params)
        if self.owner.update_answer == "Accepted":
            self.owner.later(self.owner.install(request_id))
        return call_result.UpdateFirmware(status=self.owner.update_answer)

    @on("GetBaseReport")
    def on_get_base_report(self, request_id: int, report_base: str, **_):
        self._note("GetBaseReport", request_id=request_id, report_base=report_base)
        return call_result.GetBaseReport(status="Accepted")


class MaintenanceStation201:
    """Scripts: `firmware_script` (statuses and "reboot"), `update_answer`, `log_content`."""

    def __init__(self, url: str, station_id: str, password: str, http: httpx.AsyncClient):
        self.url, self.station_id, self.password, self.http = url, station_id, password, http
        self.model = StationModel()
        self.firmware = "sim-2.0"
        self.install_version = "sim-3.0"
        self.update_answer = "Accepted"
        self.firmware_script = ["Downloading", "Downloaded", "SignatureVerified", "Installing"]
        self.firmware_script += ["InstallRebooting", "reboot", "Installed"]
        self.log_name = "security.log"
        self.log_content = b"2026-01-01T00:00:00Z SecurityEvent FirmwareUpdated\n" * 50
        self.socket: _Socket201 | None = None
        self._ws = None
        self._reader: asyncio.Task | None = None
        self._tasks: set[asyncio.Task] = set()

    @property
    def received(self) -> list[tuple[str, dict]]:
        return self.model.received

    async def connect(self) -> None:
        self._ws = await websockets.connect(
            f"{self.url}/{self.station_id}",
            subprotocols=["ocpp2.0.1"],
            additional_headers=basic_auth_header(self.station_id, self.password),
        )
        self.socket = _Socket201(self, self._ws)
        self._reader = asyncio.create_task(self.socket.start())
        await self.socket.boot()

    async def disconnect(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        if self._ws is not None:
            await self._ws.close()

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await self.disconnect()

    def later(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def send(self, payload):
        assert self.socket is not None
        return await self.socket.send(payload)

    async def upload(self, location: str, request_id: int) -> None:
        await asyncio.sleep(0.05)
        await self.send(call.LogStatusNotification(status="Uploading", request_id=request_id))
        # A stale notification of another request must not disturb the job.
        await self.send(call.LogStatusNotification(status="UploadFailure", request_id=1))
        response = await self.http.put(
            f"{urlsplit(location).path}/{self.log_name}", content=self.log_content
        )
        status = "Uploaded" if response.is_success else "UploadFailure"
        await self.send(call.LogStatusNotification(status=status, request_id=request_id))

    async def install(self, request_id: int) -> None:
        await asyncio.sleep(0.05)
        for step in self.firmware_script:
            if step == "reboot":
                await self.disconnect()
                await asyncio.sleep(0.2)
                self.firmware = self.install_version
                await self.connect()
                continue
            notification = call.FirmwareStatusNotification(status=step, request_id=request_id)
            await self.send(notification)

    async def report(self, request_id: int, items: list[dict]) -> None:
        await self.send(
            call.NotifyReport(
                request_id=request_id,
                generated_at=datetime.now(UTC).isoformat(),
                seq_no=0,
                report_data=items,
            )
        )


@contextlib.asynccontextmanager
async def maintenance_station_201(url: str, station_id: str, password: str, http):
    station = MaintenanceStation201(url, station_id, password, http)
    await station.connect()
    try:
        yield station
    finally:
        await station.close()
