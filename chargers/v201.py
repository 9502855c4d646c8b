"""OCPP 2.0.1: the messages a charging station sends, and its answer (with behaviour) to every
CALL a CSMS may send. Each EVSE has one connector (connectorId 1). Handlers never wait for the
CSMS: what follows an answer runs after it.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from chargers.clock import iso, parse_iso
from chargers.connector import Connector, Transaction, status_201
from chargers.outbox import Outgoing
from chargers.rpc import Answer, OcppFault
from chargers.v201_display import DisplayAndMonitoring201
from chargers.v201_maintenance import Maintenance201
from chargers.v201_reports import ReportsMixin
from chargers.v201_smart import SmartCharging201

if TYPE_CHECKING:
    from chargers.charger import Charger

_STOP_TRIGGER = {
    "Local": "StopAuthorized",
    "Remote": "RemoteStop",
    "EVDisconnected": "EVCommunicationLost",
    "DeAuthorized": "Deauthorized",
    "ImmediateReset": "ResetCommand",
    "Other": "UnlockCommand",
}
_REASONS_201 = {
    "HardReset": "ImmediateReset",
    "SoftReset": "ImmediateReset",
    "UnlockCommand": "Other",
}
_REJECTED = {"status": "Rejected"}


class Protocol201(ReportsMixin, DisplayAndMonitoring201, SmartCharging201, Maintenance201):
    version = "2.0.1"

    def __init__(self, charger: Charger) -> None:
        self.c = charger
        self.firmware_state = ("Idle", None)
        self.log_state = ("Idle", None)
        self.handlers = {
            "CancelReservation": self.cancel_reservation,
            "CertificateSigned": lambda p: (_REJECTED, None),
            "ChangeAvailability": self.change_availability,
            "ClearCache": self.clear_cache,
            "ClearChargingProfile": self.clear_charging_profile,
            "ClearDisplayMessage": self.clear_display_message,
            "ClearVariableMonitoring": self.clear_variable_monitoring,
            "CostUpdated": self.cost_updated,
            "CustomerInformation": lambda p: (_REJECTED, None),
            "DataTransfer": self.data_transfer,
            "DeleteCertificate": lambda p: ({"status": "NotFound"}, None),
            "GetBaseReport": self.get_base_report,
            "GetChargingProfiles": self.get_charging_profiles,
            "GetCompositeSchedule": self.get_composite_schedule,
            "GetDisplayMessages": self.get_display_messages,
            "GetInstalledCertificateIds": lambda p: ({"status": "NotFound"}, None),
            "GetLocalListVersion": self.get_local_list_version,
            "GetLog": self.get_log,
            "GetMonitoringReport": self.get_monitoring_report,
            "GetReport": self.get_report,
            "GetTransactionStatus": self.get_transaction_status,
            "GetVariables": self.get_variables,
            "InstallCertificate": lambda p: (_REJECTED, None),
            "RequestStartTransaction": self.request_start,
            "RequestStopTransaction": self.request_stop,
            "ReserveNow": self.reserve_now,
            "Reset": self.reset,
            "SendLocalList": self.send_local_list,
            "SetChargingProfile": self.set_charging_profile,
            "SetDisplayMessage": self.set_display_message,
            "SetMonitoringBase": self.set_monitoring_base,
            "SetMonitoringLevel": self.set_monitoring_level,
            "SetNetworkProfile": lambda p: (_REJECTED, None),
            "SetVariableMonitoring": self.set_variable_monitoring,
            "SetVariables": self.set_variables,
            "TriggerMessage": self.trigger_message,
            "UnlockConnector": self.unlock_connector,
            "UpdateFirmware": self.update_firmware,
        }

    async def dispatch(self, action: str, payload: dict) -> Answer:
        handler = self.handlers.get(action)
        if handler is None:
            raise OcppFault("NotSupported", f"{action} is not supported by this station")
        return handler(payload)

    # ---- messages out ----------------------------------------------------------------------

    def boot_payload(self, reason: str) -> dict:
        config = self.c.config
        station = {
            "vendorName": config.vendor,
            "model": config.model,
            "firmwareVersion": self.c.state.firmware_version,
        }
        if config.serial:
            station["serialNumber"] = config.serial
        if config.iccid:
            station["modem"] = {"iccid": config.iccid}
        return {"chargingStation": station, "reason": reason}

    async def after_boot(self) -> None:
        c = self.c
        for connector in c.connectors.values() if c.config.status_at_boot else ():
            await c.status(connector)
        pending = c.state.pending_firmware
        if pending is not None:
            c.state.pending_firmware = None
            c.save_state()
            await self.firmware_status("Installed", pending.get("request_id"))

    def reported_status(self, connector: Connector) -> str:
        return status_201(connector.status)

    def status_payload(self, connector: Connector, status: str) -> dict:
        return {
            "timestamp": self.c.now_iso(),
            "connectorStatus": status,
            "evseId": connector.id,
            "connectorId": 1,
        }

    def authorize_payload(self, id_tag: str, token_type: str) -> dict:
        return {"idToken": {"idToken": id_tag, "type": token_type}}

    def authorize_status(self, result: dict) -> str:
        return result["idTokenInfo"]["status"]

    def start_status(self, result: dict) -> str | None:
        return result.get("idTokenInfo", {}).get("status")

    def _event(
        self, tx: Transaction, event_type: str, trigger: str, state: str, **extra
    ) -> Outgoing:
        info: dict = {"transactionId": tx.transaction_id, "chargingState": state}
        info.update(extra.pop("info", {}))
        payload = {
            "eventType": event_type,
            "timestamp": extra.pop("at"),
            "triggerReason": trigger,
            "seqNo": tx.next_seq(),
            "transactionInfo": info,
            **{k: v for k, v in extra.items() if v is not None},
        }
        if not self.c.online:
            payload["offline"] = True

        def answered(result: dict) -> None:
            if "totalCost" in result:
                tx.total_cost = result["totalCost"]
                self.c.journal.write(
                    "cost",
                    transactionId=tx.transaction_id,
                    totalCost=result["totalCost"],
                    source=event_type,
                )

        return Outgoing("TransactionEvent", payload, tx, answered)

    def _meter_value(self, sample: dict, context: str) -> dict:
        measurands = self.c.settings.items("measurands")
        values: list[dict] = []
        if self.c.config.behaviour.interval_energy and context == "Sample.Periodic":
            values.append(
                {
                    "value": sample["interval_wh"],
                    "measurand": "Energy.Active.Import.Interval",
                    "context": context,
                    "unitOfMeasure": {"unit": "Wh"},
                }
            )
        else:
            values.append(
                {
                    "value": sample["wh"],
                    "measurand": "Energy.Active.Import.Register",
                    "context": context,
                    "unitOfMeasure": {"unit": "Wh"},
                }
            )
        if "Power.Active.Import" in measurands and context in ("Sample.Periodic", "Trigger"):
            values.append(
                {
                    "value": round(sample["power_w"], 1),
                    "measurand": "Power.Active.Import",
                    "context": context,
                    "unitOfMeasure": {"unit": "W"},
                }
            )
        return {"timestamp": iso(sample["at"]), "sampledValue": values}

    def tx_started(self, tx: Transaction, trigger: str) -> Outgoing:
        sample = {"at": tx.started_at, "wh": tx.meter_start_wh, "interval_wh": 0, "power_w": 0.0}
        info = {"remoteStartId": tx.remote_start_id} if tx.remote_start_id is not None else {}
        token = {"idToken": tx.id_tag, "type": tx.token_type} if tx.id_tag else None
        return self._event(
            tx,
            "Started",
            trigger,
            "Charging",
            at=iso(tx.started_at),
            info=info,
            evse={"id": tx.connector, "connectorId": 1},
            idToken=token,
            meterValue=[self._meter_value(sample, "Transaction.Begin")],
        )

    def tx_meter(self, tx: Transaction, sample: dict) -> Outgoing:
        state = "Charging" if sample["power_w"] > 0 else "SuspendedEVSE"
        return self._event(
            tx,
            "Updated",
            "MeterValuePeriodic",
            state,
            at=iso(sample["at"]),
            meterValue=[self._meter_value(sample, "Sample.Periodic")],
        )

    def tx_ended(self, tx: Transaction, reason: str, trigger: str | None) -> Outgoing:
        assert tx.stopped_at is not None and tx.meter_stop_wh is not None
        reason = _REASONS_201.get(reason, reason)
        sample = {"at": tx.stopped_at, "wh": tx.meter_stop_wh, "interval_wh": 0, "power_w": 0.0}
        return self._event(
            tx,
            "Ended",
            trigger or _STOP_TRIGGER.get(reason, "AbnormalCondition"),
            "EVConnected" if self.c.connectors[tx.connector].plugged else "Idle",
            at=iso(tx.stopped_at),
            info={"stoppedReason": reason},
            meterValue=[self._meter_value(sample, "Transaction.End")],
        )

    def prepare(self, message: Outgoing) -> dict | None:
        return message.payload

    def reset_reason(self, hard: bool) -> str:
        return "ImmediateReset"

    async def firmware_status(self, status: str, request_id: int | None) -> None:
        self.firmware_state = (status, request_id)
        self.c.journal.write("firmware_status", status=status, requestId=request_id)
        payload: dict = {"status": status}
        if request_id is not None:
            payload["requestId"] = request_id
        await self.c.send("FirmwareStatusNotification", payload)

    async def log_status(self, status: str, request_id: int | None) -> None:
        status = "UploadFailure" if status == "failed" else status
        self.log_state = (status, request_id)
        payload: dict = {"status": status}
        if request_id is not None:
            payload["requestId"] = request_id
        await self.c.send("LogStatusNotification", payload)

    # ---- handlers: transactions and availability ------------------------------------------

    def request_start(self, p: dict) -> Answer:
        c = self.c
        token = p["idToken"]
        evse_id = p.get("evseId")
        connector = (
            c.connectors.get(evse_id) if evse_id else c.sessions.free_connector(token["idToken"])
        )
        profile = p.get("chargingProfile")
        ok = (
            connector is not None
            and c.config.behaviour.accept_remote_start
            and c.sessions.usable(connector, token["idToken"])
            and (
                profile is None
                or (
                    profile["chargingProfilePurpose"] == "TxProfile"
                    and "transactionId" not in profile
                )
            )
        )
        if not ok or connector is None:
            return _REJECTED, None
        follow = c.sessions.remote_start(
            connector.id, token["idToken"], token["type"], p["remoteStartId"], profile
        )
        return {"status": "Accepted"}, follow

    def request_stop(self, p: dict) -> Answer:
        tx = self.c.sessions.find(p["transactionId"])
        if tx is None:
            return _REJECTED, None
        return {"status": "Accepted"}, self.c.sessions.stop(
            tx.connector, "Remote", trigger="RemoteStop"
        )

    def reset(self, p: dict) -> Answer:
        c = self.c
        evse_id = p.get("evseId")
        if evse_id is not None:
            if evse_id not in c.connectors:
                return _REJECTED, None
            return {"status": "Accepted"}, c.sessions.stop(
                evse_id, "ImmediateReset", trigger="ResetCommand"
            )
        kind = "hard" if p["type"] == "Immediate" else "soft"
        if p["type"] == "OnIdle" and c.sessions.active():
            return {"status": "Scheduled"}, self._reset_when_idle()
        return {"status": "Accepted"}, c.reboot("RemoteReset", hard=False, kind=kind)

    async def _reset_when_idle(self) -> None:
        while self.c.sessions.active():
            await asyncio.sleep(self.c.clock.real_seconds(1))
        await self.c.reboot("RemoteReset", hard=False, kind="soft")

    def unlock_connector(self, p: dict) -> Answer:
        connector = self.c.connectors.get(p["evseId"])
        if connector is None or p["connectorId"] != 1:
            return {"status": "UnknownConnector"}, None
        if connector.transaction is not None:
            return {"status": "OngoingAuthorizedTransaction"}, None
        follow = self.c.sessions.unplug(connector.id) if connector.plugged else None
        return {"status": "Unlocked"}, follow

    def change_availability(self, p: dict) -> Answer:
        c = self.c
        inoperative = p["operationalStatus"] == "Inoperative"
        evse = p.get("evse")
        if evse is None or evse.get("id", 0) == 0:
            targets = list(c.connectors.values())
            c.state.inoperative = [n for n in c.state.inoperative if n != 0]
            if inoperative:
                c.state.inoperative.append(0)
        elif evse["id"] in c.connectors and evse.get("connectorId", 1) == 1:
            targets = [c.connectors[evse["id"]]]
            targets[0].inoperative = inoperative
        else:
            return _REJECTED, None
        busy = any(t.transaction is not None for t in targets)
        c.save_state()

        async def report() -> None:
            for target in targets:
                if target.transaction is None:
                    await c.status(target, c.sessions.idle_status(target))

        return {"status": "Scheduled" if busy else "Accepted"}, report()

    def cost_updated(self, p: dict) -> Answer:
        tx = self.c.sessions.find(p["transactionId"])
        if tx is not None:
            tx.total_cost = p["totalCost"]
        self.c.journal.write(
            "cost", transactionId=p["transactionId"], totalCost=p["totalCost"], source="CostUpdated"
        )
        return {}, None

    def get_transaction_status(self, p: dict) -> Answer:
        pending = [m for m in self.c.outbox.queue if m.tx is not None]
        tx_id = p.get("transactionId")
        if tx_id is None:
            return {"messagesInQueue": bool(pending)}, None
        ongoing = self.c.sessions.find(tx_id) is not None
        queued = any(str(m.tx.transaction_id) == tx_id for m in pending if m.tx)
        return {"ongoingIndicator": ongoing, "messagesInQueue": queued}, None

    def reserve_now(self, p: dict) -> Answer:
        c = self.c
        evse_id = p.get("evseId")
        connector = c.connectors.get(evse_id) if evse_id else c.sessions.free_connector()
        if connector is None:
            return {"status": "Occupied" if evse_id is None else "Rejected"}, None
        if connector.status == "Faulted":
            return {"status": "Faulted"}, None
        if connector.inoperative or 0 in c.state.inoperative:
            return {"status": "Unavailable"}, None
        if connector.transaction is not None or (
            connector.reservation and connector.reservation["id"] != p["id"]
        ):
            return {"status": "Occupied"}, None
        connector.reservation = {"id": p["id"], "id_tag": p["idToken"]["idToken"]}
        return {"status": "Accepted"}, self._reserve(
            connector, p["id"], parse_iso(p["expiryDateTime"])
        )

    async def _reserve(self, connector: Connector, reservation_id: int, expiry) -> None:
        await self.c.status(connector, "Reserved")
        await self.c.clock.sleep((expiry - self.c.clock.now()).total_seconds())
        if connector.reservation and connector.reservation["id"] == reservation_id:
            connector.reservation = None
            await self.c.send(
                "ReservationStatusUpdate",
                {"reservationId": reservation_id, "reservationUpdateStatus": "Expired"},
            )
            if connector.transaction is None:
                await self.c.status(connector, self.c.sessions.idle_status(connector))

    def cancel_reservation(self, p: dict) -> Answer:
        for connector in self.c.connectors.values():
            if connector.reservation and connector.reservation["id"] == p["reservationId"]:
                connector.reservation = None
                idle = self.c.sessions.idle_status(connector)
                follow = self.c.status(connector, idle) if connector.transaction is None else None
                return {"status": "Accepted"}, follow
        return _REJECTED, None

    # ---- handlers: authorization ----------------------------------------------------------

    def clear_cache(self, p: dict) -> Answer:
        if not self.c.settings.flag("cache_enabled"):
            return _REJECTED, None
        self.c.state.auth_cache.clear()
        self.c.save_state()
        return {"status": "Accepted"}, None

    def get_local_list_version(self, p: dict) -> Answer:
        return {"versionNumber": self.c.state.local_list.version}, None

    def send_local_list(self, p: dict) -> Answer:
        c = self.c
        local = c.state.local_list
        if not c.settings.flag("local_list_enabled"):
            return {"status": "Failed"}, None
        if p["updateType"] == "Differential" and p["versionNumber"] <= local.version:
            return {"status": "VersionMismatch"}, None
        if p["updateType"] == "Full":
            local.entries = {}
        for entry in p.get("localAuthorizationList") or []:
            token, info = entry["idToken"]["idToken"], entry.get("idTokenInfo")
            if info is None:
                local.entries.pop(token, None)
            else:
                local.entries[token] = info
        local.version = p["versionNumber"]
        c.settings.identity["LocalAuthListCtrlr/Entries"] = str(len(local.entries))
        c.save_state()
        c.journal.write("local_list", version=local.version, size=len(local.entries))
        return {"status": "Accepted"}, None

    def data_transfer(self, p: dict) -> Answer:
        if p["vendorId"] != self.c.config.vendor:
            return {"status": "UnknownVendorId"}, None
        if p.get("messageId") != "echo":
            return {"status": "UnknownMessageId"}, None
        answer: dict = {"status": "Accepted"}
        if p.get("data") is not None:
            answer["data"] = p["data"]
        return answer, None
