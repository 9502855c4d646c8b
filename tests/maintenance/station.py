"""A scriptable OCPP 1.6J station for maintenance tests: it survives reboots (a new socket and
BootNotification with the installed firmware) and uploads and downloads over the test API."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx
import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result

from ampflow.simulator import basic_auth_header
from chargers.script import iso


class _Socket(ChargePoint):
    """One connection of the station; behaviour lives in `MaintenanceStation`."""

    def __init__(self, station: MaintenanceStation, ws) -> None:
        super().__init__(station.station_id, ws, response_timeout=15)
        self.station = station

    @on("GetDiagnostics")
    def on_get_diagnostics(self, location: str, **params):
        self.station.received.append(("GetDiagnostics", {"location": location, **params}))
        mode = self.station.next_diagnostics_mode()
        if mode == "none":
            return call_result.GetDiagnostics()
        self.station.later(self.station.upload(location, mode))
        return call_result.GetDiagnostics(file_name=self.station.diagnostics_name)

    @on("UpdateFirmware")
    def on_update_firmware(self, location: str, retrieve_date: str, **params):
        self.station.received.append(("UpdateFirmware", {"location": location, **params}))
        self.station.later(self.station.install(location))
        return call_result.UpdateFirmware()

    @on("ChangeConfiguration")
    def on_change_configuration(self, key: str, value: str):
        self.station.received.append(("ChangeConfiguration", {"key": key, "value": value}))
        if key in self.station.readonly:
            return call_result.ChangeConfiguration(status="Rejected")
        self.station.configuration[key] = value
        return call_result.ChangeConfiguration(status="Accepted")

    @on("GetConfiguration")
    def on_get_configuration(self, key: list | None = None):
        known = self.station.configuration
        keys = key or list(known)
        return call_result.GetConfiguration(
            configuration_key=[
                {"key": k, "readonly": k in self.station.readonly, "value": known[k]}
                for k in keys
                if k in known
            ],
            unknown_key=[k for k in keys if k not in known] or None,
        )

    @on("Reset")
    def on_reset(self, type: str):
        self.station.received.append(("Reset", {"type": type}))
        if type in self.station.heals_on:
            self.station.later(self.station.recover())
        return call_result.Reset(status="Accepted")

    @on("TriggerMessage")
    def on_trigger(self, requested_message: str, connector_id: int | None = None):
        self.station.received.append(("TriggerMessage", {"message": requested_message}))
        if "probe" in self.station.heals_on:
            self.station.later(self.station.recover())
        elif requested_message == "StatusNotification":
            self.station.later(self.station.status(self.station.connector_status))
        elif requested_message == "Heartbeat":
            self.station.later(self.station.heartbeat())
        return call_result.TriggerMessage(status="Accepted")

    @on("UnlockConnector")
    def on_unlock(self, connector_id: int):
        self.station.received.append(("UnlockConnector", {"connector_id": connector_id}))
        return call_result.UnlockConnector(status="Unlocked")

    @on("ChangeAvailability")
    def on_availability(self, connector_id: int, type: str):
        self.station.received.append(("ChangeAvailability", {"type": type}))
        return call_result.ChangeAvailability(status=self.station.availability_answer)


class MaintenanceStation:
    """Scripts: `diagnostics_modes` (put, put_named, post, fail, stuck, silent, none — one per
    request, the last repeats), `firmware_script` (status names and "reboot"), `heals_on`."""

    def __init__(
        self,
        url: str,
        station_id: str,
        password: str,
        http: httpx.AsyncClient,
        *,
        firmware: str = "1.0",
        vendor: str = "Acme",
        model: str = "X1",
    ) -> None:
        self.url, self.station_id, self.password, self.http = url, station_id, password, http
        self.firmware, self.vendor, self.model = firmware, vendor, model
        self.diagnostics_modes = ["put"]
        self.diagnostics_name = "diagnostics.zip"
        self.diagnostics_content = b"PK\x03\x04 station log \r\n\x00\xff" * 100
        self.firmware_script = ["Downloading", "Downloaded", "Installing", "reboot", "Installed"]
        self.install_version: str | None = None
        self.downloaded: bytes | None = None
        self.upload_responses: list[httpx.Response] = []
        self.configuration: dict[str, str] = {"HeartbeatInterval": "300"}
        self.readonly: set[str] = set()
        self.heals_on: set[str] = set()  # probe / Soft / Hard: the fault clears after it
        self.connector_status = "Available"
        self.availability_answer = "Accepted"
        self.received: list[tuple[str, dict]] = []
        self.boots = 0
        self.socket: _Socket | None = None
        self._ws = None
        self._reader: asyncio.Task | None = None
        self._tasks: set[asyncio.Task] = set()

    # ---- lifecycle -------------------------------------------------------------------------

    async def connect(self) -> None:
        self._ws = await websockets.connect(
            f"{self.url}/{self.station_id}",
            subprotocols=["ocpp1.6"],
            additional_headers=basic_auth_header(self.station_id, self.password),
        )
        self.socket = _Socket(self, self._ws)
        self._reader = asyncio.create_task(self.socket.start())
        await self.socket.call(
            call.BootNotification(
                charge_point_vendor=self.vendor,
                charge_point_model=self.model,
                firmware_version=self.firmware,
            )
        )
        self.boots += 1

    async def disconnect(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        if self._ws is not None:
            await self._ws.close()

    async def reboot(self, firmware: str | None = None) -> None:
        await self.disconnect()
        await asyncio.sleep(0.2)
        if firmware is not None:
            self.firmware = firmware
        await self.connect()

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await self.disconnect()

    def later(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---- messages --------------------------------------------------------------------------

    async def call(self, payload):
        assert self.socket is not None
        return await self.socket.call(payload)

    async def status(self, status: str, connector_id: int = 1) -> None:
        self.connector_status = status
        error = "OtherError" if status == "Faulted" else "NoError"
        await self.call(
            call.StatusNotification(
                connector_id=connector_id,
                error_code=error,
                status=status,
                timestamp=iso(datetime.now(UTC)),
            )
        )

    async def heartbeat(self) -> None:
        await self.call(call.Heartbeat())

    async def recover(self) -> None:
        await asyncio.sleep(0.1)
        await self.status("Available")

    # ---- scripts ---------------------------------------------------------------------------

    def next_diagnostics_mode(self) -> str:
        if len(self.diagnostics_modes) > 1:
            return self.diagnostics_modes.pop(0)
        return self.diagnostics_modes[0]

    async def upload(self, location: str, mode: str) -> None:
        notify = call.DiagnosticsStatusNotification
        if mode == "silent":
            return
        await asyncio.sleep(0.05)
        await self.call(notify(status="Uploading"))
        if mode == "stuck":
            return
        if mode == "fail":
            await self.call(notify(status="UploadFailed"))
            return
        path = urlsplit(location).path
        name, content = self.diagnostics_name, self.diagnostics_content
        if mode == "put":
            response = await self.http.put(path, content=content)
        elif mode == "put_named":
            response = await self.http.put(f"{path}/{name}", content=content)
        else:
            files = {"file": (name, content, "application/zip")}
            response = await self.http.post(path, files=files, data={"note": "x"})
        self.upload_responses.append(response)
        await self.call(notify(status="Uploaded" if response.is_success else "UploadFailed"))

    async def install(self, location: str) -> None:
        await asyncio.sleep(0.05)
        for step in self.firmware_script:
            if step == "reboot":
                await self.reboot(self.install_version)
                continue
            if step == "Downloading":
                await self.call(call.FirmwareStatusNotification(status=step))
                response = await self.http.get(urlsplit(location).path)
                self.downloaded = response.content if response.is_success else None
                continue
            await self.call(call.FirmwareStatusNotification(status=step))

    def sha256_downloaded(self) -> str | None:
        return hashlib.sha256(self.downloaded).hexdigest() if self.downloaded else None


@contextlib.asynccontextmanager
async def maintenance_station(url: str, station_id: str, password: str, http, **kwargs):
    station = MaintenanceStation(url, station_id, password, http, **kwargs)
    await station.connect()
    try:
        yield station
    finally:
        await station.close()
