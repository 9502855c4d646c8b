"""A charging station simulator speaking OCPP 2.0.1 (the `ocpp` library, charging-station role).

The library validates every frame both ways against the official 2.0.1 schemas. The station
answers the CSMS's commands (Reset, RequestStart/StopTransaction, UnlockConnector,
ChangeAvailability, Get/SetVariables, TriggerMessage, ClearCache, DataTransfer, CostUpdated)
and follows them up the way a real one would (a transaction after an accepted remote start,
StatusNotifications after an availability change, the triggered message).

`run_session` drives one whole session like `ampflow.simulator.run_session` does for 1.6;
tests compose `connect`, `Transaction` (builds TransactionEvents, also for offline queues) and
the station's helpers for finer scenarios.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import websockets
from ocpp.routing import after, on
from ocpp.v201 import ChargePoint, call, call_result

from ampflow.simulator import basic_auth_header

log = logging.getLogger(__name__)

ENERGY = "Energy.Active.Import.Register"


def iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def meter_value(at: datetime, energy_wh: int, context: str, power_w: float | None = None) -> dict:
    """One MeterValueType: the energy register (Wh) and optionally the power (W)."""
    sampled: list[dict] = [
        {
            "value": energy_wh,
            "measurand": ENERGY,
            "context": context,
            "unitOfMeasure": {"unit": "Wh"},
        }
    ]
    if power_w is not None:
        sampled.append(
            {
                "value": round(power_w, 1),
                "measurand": "Power.Active.Import",
                "context": context,
                "unitOfMeasure": {"unit": "W"},
            }
        )
    return {"timestamp": iso(at), "sampledValue": sampled}


@dataclass
class Transaction:
    """One transaction's TransactionEvents, built in order (seqNo, clock, energy advance).

    Building an event does not send it: an offline station queues them and sends them later.
    """

    evse_id: int
    id_token: dict | None
    meter_wh: int
    at: datetime
    transaction_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    spacing: timedelta = timedelta(minutes=1)
    seq_no: int = 0
    remote_start_id: int | None = None

    def _event(self, event_type: str, trigger: str, info: dict, **extra) -> call.TransactionEvent:
        event = call.TransactionEvent(
            event_type=event_type,
            timestamp=iso(self.at),
            trigger_reason=trigger,
            seq_no=self.seq_no,
            transaction_info={"transactionId": self.transaction_id, **info},
            **extra,
        )
        self.seq_no += 1
        return event

    def started(
        self, trigger: str = "Authorized", *, with_token: bool = True, offline: bool = False
    ) -> call.TransactionEvent:
        info: dict = {"chargingState": "Charging" if with_token else "EVConnected"}
        if self.remote_start_id is not None:
            info["remoteStartId"] = self.remote_start_id
        return self._event(
            "Started",
            trigger,
            info,
            evse={"id": self.evse_id, "connectorId": 1},
            id_token=self.id_token if with_token else None,
            meter_value=[meter_value(self.at, self.meter_wh, "Transaction.Begin")],
            offline=offline or None,
        )

    def updated(
        self,
        wh: int = 0,
        trigger: str = "MeterValuePeriodic",
        *,
        id_token: dict | None = None,
        charging_state: str = "Charging",
        after: timedelta | None = None,
        offline: bool = False,
    ) -> call.TransactionEvent:
        """`wh` more energy, `after` (default: one `spacing` if there is energy, else none)."""
        self.at += after if after is not None else (self.spacing if wh else timedelta(0))
        values = None
        if wh:
            self.meter_wh += wh
            power = wh * 3600 / max(self.spacing.total_seconds(), 1)
            values = [meter_value(self.at, self.meter_wh, "Sample.Periodic", power)]
        info: dict = {"chargingState": charging_state}
        if trigger == "RemoteStart" and self.remote_start_id is not None:
            info["remoteStartId"] = self.remote_start_id
        return self._event(
            "Updated", trigger, info, id_token=id_token, meter_value=values, offline=offline or None
        )

    def ended(
        self,
        reason: str = "Local",
        trigger: str = "StopAuthorized",
        *,
        id_token: dict | None = None,
        offline: bool = False,
    ) -> call.TransactionEvent:
        self.at += self.spacing
        info: dict = {"chargingState": "Idle"}
        if reason != "Local":
            info["stoppedReason"] = reason
        return self._event(
            "Ended",
            trigger,
            info,
            id_token=id_token,
            meter_value=[meter_value(self.at, self.meter_wh, "Transaction.End")],
            offline=offline or None,
        )


@dataclass
class StationModel:
    """What the simulated station knows; survives reconnects (pass it to `connect` again)."""

    evse_count: int = 2
    clock: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))
    meter_wh: dict[int, int] = field(default_factory=dict)
    transactions: dict[str, Transaction] = field(default_factory=dict)
    received: list[tuple[str, dict]] = field(default_factory=list)  # CSMS requests, as sent
    # (component, variable) -> [value, writable]
    variables: dict[tuple[str, str], list] = field(
        default_factory=lambda: {
            ("OCPPCommCtrlr", "HeartbeatInterval"): ["300", True],
            ("OCPPCommCtrlr", "MessageTimeout"): ["30", True],
            ("SampledDataCtrlr", "TxUpdatedInterval"): ["60", True],
            ("AuthCtrlr", "AuthorizeRemoteStart"): ["true", True],
            ("SecurityCtrlr", "Identity"): ["", False],
        }
    )
    accept_remote_start: bool = True
    start_after_remote_start: bool = True
    stop_after_remote_stop: bool = True
    reset_status: str = "Accepted"


class SimulatedChargingStation(ChargePoint):
    """An OCPP 2.0.1 charging station answering the CSMS (library-validated both ways)."""

    def __init__(self, station_id: str, connection, model: StationModel | None = None, **kw):
        super().__init__(station_id, connection, **kw)
        self.model = model or StationModel()

    # ---- sending -------------------------------------------------------------------------

    async def send(self, payload):
        """`call` that raises on a CALLERROR (instead of returning None)."""
        return await self.call(payload, suppress=False)

    async def boot(self, reason: str = "PowerUp") -> call_result.BootNotification:
        return await self.send(
            call.BootNotification(
                charging_station={
                    "vendorName": "Ampflow",
                    "model": "Simulator-2",
                    "serialNumber": "SIM-201",
                    "firmwareVersion": "sim-2.0",
                    "modem": {"iccid": "8931000000000000001"},
                },
                reason=reason,
            )
        )

    async def status(self, evse_id: int, status: str, connector_id: int = 1) -> None:
        await self.send(
            call.StatusNotification(
                timestamp=iso(self.model.clock),
                connector_status=status,
                evse_id=evse_id,
                connector_id=connector_id,
            )
        )

    async def authorize(self, id_token: str, token_type: str = "ISO14443") -> dict:
        result = await self.send(call.Authorize(id_token={"idToken": id_token, "type": token_type}))
        return result.id_token_info

    def transaction(
        self,
        evse_id: int,
        id_token: str | None,
        token_type: str = "ISO14443",
        remote_start_id: int | None = None,
        at: datetime | None = None,
        transaction_id: str | None = None,
    ) -> Transaction:
        """A new transaction on `evse_id` (not sent yet), continuing the EVSE's meter."""
        tx = Transaction(
            evse_id=evse_id,
            id_token={"idToken": id_token, "type": token_type} if id_token else None,
            meter_wh=self.model.meter_wh.get(evse_id, 10_000),
            at=at or self.model.clock,
            remote_start_id=remote_start_id,
        )
        if transaction_id is not None:  # e.g. a station numbering its transactions 1, 2, ...
            tx.transaction_id = transaction_id
        self.model.transactions[tx.transaction_id] = tx
        return tx

    async def event(self, event: call.TransactionEvent) -> call_result.TransactionEvent:
        """Send a TransactionEvent and keep the station's meter and clock in step."""
        result = await self.send(event)
        tx = self.model.transactions.get(event.transaction_info["transactionId"])
        if tx is not None:
            self.model.meter_wh[tx.evse_id] = tx.meter_wh
            self.model.clock = max(self.model.clock, tx.at)
            if event.event_type == "Ended":
                self.model.transactions.pop(tx.transaction_id, None)
        return result

    def active_on(self, evse_id: int) -> Transaction | None:
        return next((t for t in self.model.transactions.values() if t.evse_id == evse_id), None)

    # ---- answering the CSMS ----------------------------------------------------------------

    def _note(self, action: str, **request) -> None:
        self.model.received.append((action, request))

    @on("Reset")
    def on_reset(self, type: str, evse_id: int | None = None, **_):
        self._note("Reset", type=type, evse_id=evse_id)
        return call_result.Reset(status=self.model.reset_status)

    @on("RequestStartTransaction")
    def on_request_start(self, id_token: dict, remote_start_id: int, evse_id=None, **_):
        """F01/F02: Accepted on a free EVSE, or on one whose EV is plugged in but not yet
        authorized (then the answer carries that transaction's id)."""
        self._note("RequestStartTransaction", id_token=id_token, remote_start_id=remote_start_id)
        waiting = self.active_on(evse_id or 1)
        if not self.model.accept_remote_start or (waiting and waiting.id_token is not None):
            return call_result.RequestStartTransaction(status="Rejected")
        return call_result.RequestStartTransaction(
            status="Accepted", transaction_id=waiting.transaction_id if waiting else None
        )

    @after("RequestStartTransaction")
    async def after_request_start(self, id_token: dict, remote_start_id: int, evse_id=None, **_):
        if not self.model.accept_remote_start or not self.model.start_after_remote_start:
            return
        token = {"idToken": id_token["id_token"], "type": id_token["type"]}
        waiting = self.active_on(evse_id or 1)
        if waiting is None:
            tx = self.transaction(evse_id or 1, token["idToken"], token["type"], remote_start_id)
            await self.event(tx.started("RemoteStart"))
        elif waiting.id_token is None:  # cable plugged in first: authorize the transaction
            waiting.id_token, waiting.remote_start_id = token, remote_start_id
            await self.event(waiting.updated(0, "RemoteStart", id_token=token))

    @on("RequestStopTransaction")
    def on_request_stop(self, transaction_id: str, **_):
        self._note("RequestStopTransaction", transaction_id=transaction_id)
        known = transaction_id in self.model.transactions
        return call_result.RequestStopTransaction(status="Accepted" if known else "Rejected")

    @after("RequestStopTransaction")
    async def after_request_stop(self, transaction_id: str, **_):
        tx = self.model.transactions.get(transaction_id)
        if tx is not None and self.model.stop_after_remote_stop:
            await self.event(tx.ended("Remote", "RemoteStop"))

    @on("UnlockConnector")
    def on_unlock(self, evse_id: int, connector_id: int, **_):
        self._note("UnlockConnector", evse_id=evse_id, connector_id=connector_id)
        if not 1 <= evse_id <= self.model.evse_count or connector_id != 1:
            status = "UnknownConnector"
        elif self.active_on(evse_id) is not None:
            status = "OngoingAuthorizedTransaction"  # F05: not while charging
        else:
            status = "Unlocked"
        return call_result.UnlockConnector(status=status)

    def _evses(self, evse: dict | None) -> list[int]:
        return [evse["id"]] if evse else list(range(1, self.model.evse_count + 1))

    @on("ChangeAvailability")
    def on_change_availability(self, operational_status: str, evse: dict | None = None, **_):
        self._note("ChangeAvailability", operational_status=operational_status, evse=evse)
        busy = any(self.active_on(e) for e in self._evses(evse))
        return call_result.ChangeAvailability(status="Scheduled" if busy else "Accepted")

    @after("ChangeAvailability")
    async def after_change_availability(
        self, operational_status: str, evse: dict | None = None, **_
    ):
        status = "Available" if operational_status == "Operative" else "Unavailable"
        for evse_id in self._evses(evse):
            if self.active_on(evse_id) is None:
                await self.status(evse_id, status)

    @on("GetVariables")
    def on_get_variables(self, get_variable_data: list[dict], **_):
        self._note("GetVariables", get_variable_data=get_variable_data)
        results = []
        for item in get_variable_data:
            component, variable = item["component"]["name"], item["variable"]["name"]
            entry = self.model.variables.get((component, variable))
            result = {
                "attribute_status": self._lookup_status(component, entry),
                "component": item["component"],
                "variable": item["variable"],
            }
            if entry is not None:
                result["attribute_value"] = entry[0]
            results.append(result)
        return call_result.GetVariables(get_variable_result=results)

    @on("SetVariables")
    def on_set_variables(self, set_variable_data: list[dict], **_):
        self._note("SetVariables", set_variable_data=set_variable_data)
        results = []
        for item in set_variable_data:
            component, variable = item["component"]["name"], item["variable"]["name"]
            entry = self.model.variables.get((component, variable))
            status = self._lookup_status(component, entry)
            if entry is not None and not entry[1]:
                status = "Rejected"
            elif entry is not None:
                entry[0] = item["attribute_value"]
            results.append(
                {
                    "attribute_status": status,
                    "component": item["component"],
                    "variable": item["variable"],
                }
            )
        return call_result.SetVariables(set_variable_result=results)

    def _lookup_status(self, component: str, entry: list | None) -> str:
        if entry is not None:
            return "Accepted"
        known = any(c == component for c, _ in self.model.variables)
        return "UnknownVariable" if known else "UnknownComponent"

    @on("TriggerMessage")
    def on_trigger(self, requested_message: str, evse: dict | None = None, **_):
        self._note("TriggerMessage", requested_message=requested_message, evse=evse)
        supported = requested_message in ("BootNotification", "Heartbeat", "StatusNotification")
        return call_result.TriggerMessage(status="Accepted" if supported else "NotImplemented")

    @after("TriggerMessage")
    async def after_trigger(self, requested_message: str, evse: dict | None = None, **_):
        if requested_message == "BootNotification":
            await self.boot("Triggered")
        elif requested_message == "Heartbeat":
            await self.send(call.Heartbeat())
        elif requested_message == "StatusNotification":
            for evse_id in self._evses(evse):
                busy = self.active_on(evse_id) is not None
                await self.status(evse_id, "Occupied" if busy else "Available")

    @on("ClearCache")
    def on_clear_cache(self, **_):
        self._note("ClearCache")
        return call_result.ClearCache(status="Accepted")

    @on("DataTransfer")
    def on_data_transfer(self, vendor_id: str, message_id=None, data=None, **_):
        self._note("DataTransfer", vendor_id=vendor_id, message_id=message_id, data=data)
        if vendor_id != "org.ampflow.sim":
            return call_result.DataTransfer(status="UnknownVendorId")
        return call_result.DataTransfer(status="Accepted", data=data)

    @on("CostUpdated")
    def on_cost_updated(self, total_cost: float, transaction_id: str, **_):
        self._note("CostUpdated", total_cost=total_cost, transaction_id=transaction_id)
        return call_result.CostUpdated()


@contextlib.asynccontextmanager
async def connect(
    url: str, station_id: str, password: str, model: StationModel | None = None
) -> AsyncIterator[SimulatedChargingStation]:
    """A connected (not yet booted) 2.0.1 station; its reader stops when the block exits."""
    async with websockets.connect(
        f"{url.rstrip('/')}/{station_id}",
        subprotocols=["ocpp2.0.1"],
        additional_headers=basic_auth_header(station_id, password),
        open_timeout=10,
    ) as ws:
        station = SimulatedChargingStation(station_id, ws, model, response_timeout=30)
        reader = asyncio.create_task(station.start())
        try:
            yield station
        finally:
            reader.cancel()


@dataclass
class SimulatedSessionV201:
    """What the station saw during one simulated session."""

    station_id: str
    boot_status: str | None = None
    authorize_status: str | None = None
    start_status: str | None = None  # idTokenInfo.status of the Started answer
    transaction_id: str | None = None
    meter_start_wh: int = 0
    meter_stop_wh: int = 0
    started_at: datetime | None = None
    stopped_at: datetime | None = None
    answers: list[tuple[str, dict]] = field(default_factory=list)


async def run_session(
    url: str,
    station_id: str,
    password: str,
    id_token: str,
    *,
    evse_id: int = 1,
    meter_values: int = 5,
    wh_per_interval: int = 1500,
    interval_s: float = 0.0,
    sample_spacing: timedelta = timedelta(minutes=1),
    meter_start_wh: int = 10_000,
    skip_authorize: bool = False,
    token_type: str = "ISO14443",
) -> SimulatedSessionV201:
    """Boot, Available, Authorize, Started, N × Updated, Ended, Available; what it was told.

    Timestamps advance by `sample_spacing` (simulated time); `interval_s` is the wall-clock pause
    between meter values. A refused token at Authorize ends the run; a refused token at Started
    ends the transaction at once (E05: DeAuthorized).
    """
    result = SimulatedSessionV201(station_id=station_id, meter_start_wh=meter_start_wh)
    model = StationModel(meter_wh={evse_id: meter_start_wh})
    async with connect(url, station_id, password, model) as station:
        boot = await station.boot()
        result.boot_status = boot.status
        await station.status(evse_id, "Available")
        if not skip_authorize:
            info = await station.authorize(id_token, token_type)
            result.authorize_status = info["status"]
            result.answers.append(("Authorize", info))
            if info["status"] != "Accepted":
                return result
        await station.status(evse_id, "Occupied")
        tx = station.transaction(evse_id, id_token, token_type)
        tx.spacing = sample_spacing
        result.transaction_id, result.started_at = tx.transaction_id, tx.at
        started = await station.event(tx.started())
        result.start_status = started.id_token_info["status"]
        result.answers.append(("Started", started.id_token_info))
        if result.start_status == "Accepted":
            for _ in range(meter_values):
                if interval_s:
                    await asyncio.sleep(interval_s)
                await station.event(tx.updated(wh_per_interval))
            await station.event(tx.ended())
        else:
            await station.event(tx.ended("DeAuthorized", "Deauthorized"))
        result.meter_stop_wh, result.stopped_at = tx.meter_wh, tx.at
        await station.status(evse_id, "Available")
    return result
