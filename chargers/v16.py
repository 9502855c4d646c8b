"""OCPP 1.6J: the messages a charger sends, and its answer (with behaviour) to every CALL a
CSMS may send, including the security extension's GetLog, ExtendedTriggerMessage and
SignedUpdateFirmware. Handlers never wait for the CSMS: what follows an answer runs after it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from chargers.clock import iso, parse_iso
from chargers.connector import Connector, Transaction
from chargers.outbox import Outgoing
from chargers.rpc import Answer, OcppFault
from chargers.v16_maintenance import Maintenance16
from chargers.v16_smart import SmartCharging16

if TYPE_CHECKING:
    from chargers.charger import Charger

_FAILED = {"failed": "UploadFailed"}


# The OCA California Pricing messages for 1.6 (DataTransfer): the charger displays them.
COST_VENDOR = "org.openchargealliance.costmsg"
COST_MESSAGES = frozenset({"RunningCost", "FinalCost", "SetUserPrice"})
_FINAL_COST_FIELDS = {"transactionId": int, "cost": (int, float), "priceText": str}


def _cost_message_status(p: dict) -> str:
    """A FinalCost must carry the whitepaper's fields (firmware answers malformed ones so)."""
    if p["messageId"] != "FinalCost":
        return "Accepted"
    try:
        data = json.loads(p.get("data") or "")
    except ValueError:
        return "Rejected"
    fields_ok = isinstance(data, dict) and all(
        isinstance(data.get(name), kind) for name, kind in _FINAL_COST_FIELDS.items()
    )
    return "Accepted" if fields_ok else "Rejected"


class Protocol16(SmartCharging16, Maintenance16):
    version = "1.6"

    def __init__(self, charger: Charger) -> None:
        self.c = charger
        self.firmware_state = "Idle"
        self.diagnostics_state = "Idle"
        self.handlers = {
            "CancelReservation": self.cancel_reservation,
            "CertificateSigned": lambda p: ({"status": "Rejected"}, None),
            "ChangeAvailability": self.change_availability,
            "ChangeConfiguration": self.change_configuration,
            "ClearCache": self.clear_cache,
            "ClearChargingProfile": self.clear_charging_profile,
            "DataTransfer": self.data_transfer,
            "DeleteCertificate": lambda p: ({"status": "NotFound"}, None),
            "ExtendedTriggerMessage": self.extended_trigger,
            "GetCompositeSchedule": self.get_composite_schedule,
            "GetConfiguration": self.get_configuration,
            "GetDiagnostics": self.get_diagnostics,
            "GetInstalledCertificateIds": lambda p: ({"status": "NotFound"}, None),
            "GetLocalListVersion": self.get_local_list_version,
            "GetLog": self.get_log,
            "InstallCertificate": lambda p: ({"status": "Rejected"}, None),
            "RemoteStartTransaction": self.remote_start,
            "RemoteStopTransaction": self.remote_stop,
            "ReserveNow": self.reserve_now,
            "Reset": self.reset,
            "SendLocalList": self.send_local_list,
            "SetChargingProfile": self.set_charging_profile,
            "SignedUpdateFirmware": self.signed_update_firmware,
            "TriggerMessage": self.trigger_message,
            "UnlockConnector": self.unlock_connector,
            "UpdateFirmware": self.update_firmware,
        }

    async def dispatch(self, action: str, payload: dict) -> Answer:
        handler = self.handlers.get(action)
        if handler is None:
            raise OcppFault("NotSupported", f"{action} is not supported by this charger")
        return handler(payload)

    # ---- messages out ----------------------------------------------------------------------

    def boot_payload(self, reason: str) -> dict:
        config = self.c.config
        payload = {
            "chargePointVendor": config.vendor,
            "chargePointModel": config.model,
            "firmwareVersion": self.c.state.firmware_version,
        }
        if config.serial:
            payload["chargePointSerialNumber"] = config.serial
        if config.iccid:
            payload["iccid"] = config.iccid
        return payload

    async def after_boot(self) -> None:
        c = self.c
        if c.config.status_at_boot:
            station = "Unavailable" if 0 in c.state.inoperative else "Available"
            await c.send("StatusNotification", self._status(0, station))
            for connector in c.connectors.values():
                await c.status(connector)
        pending = c.state.pending_firmware
        if pending is not None:
            c.state.pending_firmware = None
            c.save_state()
            await self.firmware_status("Installed", pending.get("request_id"))

    def reported_status(self, connector: Connector) -> str:
        return connector.status

    def status_payload(self, connector: Connector, status: str) -> dict:
        payload = self._status(connector.id, status)
        if status == "Faulted" and connector.fault is not None:
            payload["errorCode"] = connector.fault["error_code"]
        return payload

    def _status(self, connector_id: int, status: str) -> dict:
        return {
            "connectorId": connector_id,
            "errorCode": "OtherError" if status == "Faulted" else "NoError",
            "status": status,
            "timestamp": self.c.now_iso(),
        }

    def authorize_payload(self, id_tag: str, token_type: str) -> dict:
        return {"idTag": id_tag}

    def authorize_status(self, result: dict) -> str:
        return result["idTagInfo"]["status"]

    def start_status(self, result: dict) -> str:
        return result["idTagInfo"]["status"]

    def tx_started(self, tx: Transaction, trigger: str) -> Outgoing:
        payload = {
            "connectorId": tx.connector,
            "idTag": tx.id_tag or "",
            "meterStart": tx.meter_start_wh,
            "timestamp": iso(tx.started_at),
        }

        def started(result: dict) -> None:
            tx.transaction_id = result["transactionId"]
            self.c.journal.write("tx_id", local=tx.local_id, transactionId=tx.transaction_id)

        return Outgoing("StartTransaction", payload, None, started)

    def tx_meter(self, tx: Transaction, sample: dict) -> Outgoing:
        payload = {
            "connectorId": tx.connector,
            "meterValue": [{"timestamp": iso(sample["at"]), "sampledValue": self._sampled(sample)}],
        }
        quirky = self.c.config.behaviour.meter_values_without_tx_id
        return Outgoing("MeterValues", payload, None if quirky else tx)

    def _sampled(self, sample: dict, context: str = "Sample.Periodic") -> list[dict]:
        measurands = self.c.settings.items("measurands")
        values = []
        if self.c.config.behaviour.interval_energy:
            values.append(
                {
                    "value": str(sample["interval_wh"]),
                    "measurand": "Energy.Active.Import.Interval",
                    "unit": "Wh",
                    "context": context,
                }
            )
        elif "Energy.Active.Import.Register" in measurands or not measurands:
            values.append(
                {
                    "value": str(sample["wh"]),
                    "measurand": "Energy.Active.Import.Register",
                    "unit": "Wh",
                    "context": context,
                }
            )
        if "Power.Active.Import" in measurands:
            values.append(
                {
                    "value": f"{sample['power_w']:.1f}",
                    "measurand": "Power.Active.Import",
                    "unit": "W",
                    "context": context,
                }
            )
        return values

    def tx_ended(self, tx: Transaction, reason: str, trigger: str | None) -> Outgoing:
        assert tx.stopped_at is not None and tx.meter_stop_wh is not None
        payload: dict = {
            "meterStop": tx.meter_stop_wh,
            "timestamp": iso(tx.stopped_at),
            "reason": reason,
        }
        if tx.id_tag:
            payload["idTag"] = tx.id_tag
        return Outgoing("StopTransaction", payload, tx)

    def prepare(self, message: Outgoing) -> dict | None:
        """Fill in the transaction id the CSMS gave (known only once StartTransaction is
        answered, possibly after an offline replay)."""
        if message.tx is None:
            return message.payload
        tx_id = message.tx.transaction_id
        if tx_id is None:
            if not self.c.config.behaviour.transaction_id_zero:
                return None
            tx_id = 0
        return {**message.payload, "transactionId": tx_id}

    def reset_reason(self, hard: bool) -> str:
        return "HardReset" if hard else "SoftReset"

    async def firmware_status(self, status: str, request_id: int | None) -> None:
        self.firmware_state = status
        self.c.journal.write("firmware_status", status=status, requestId=request_id)
        if request_id is None:
            await self.c.send("FirmwareStatusNotification", {"status": status})
        else:
            payload = {"status": status, "requestId": request_id}
            await self.c.send("SignedFirmwareStatusNotification", payload)

    async def log_status(self, status: str, request_id: int | None) -> None:
        if request_id is None:
            status = _FAILED.get(status, status)
            self.diagnostics_state = status
            await self.c.send("DiagnosticsStatusNotification", {"status": status})
        else:
            status = "UploadFailure" if status == "failed" else status
            await self.c.send("LogStatusNotification", {"status": status, "requestId": request_id})

    # ---- handlers --------------------------------------------------------------------------

    def _connector(self, connector_id: int) -> Connector | None:
        return self.c.connectors.get(connector_id)

    def remote_start(self, p: dict) -> Answer:
        c = self.c
        connector_id = p.get("connectorId")
        connector = (
            self._connector(connector_id)
            if connector_id is not None
            else c.sessions.free_connector(p["idTag"])
        )
        profile = p.get("chargingProfile")
        accepted = (
            connector is not None
            and c.config.behaviour.accept_remote_start
            and c.sessions.usable(connector, p["idTag"])
            and (profile is None or profile["chargingProfilePurpose"] == "TxProfile")
        )
        if not accepted or connector is None:
            return {"status": "Rejected"}, None
        follow = c.sessions.remote_start(connector.id, p["idTag"], profile=profile)
        return {"status": "Accepted"}, follow

    def remote_stop(self, p: dict) -> Answer:
        tx = self.c.sessions.find(p["transactionId"])
        if tx is None:
            return {"status": "Rejected"}, None
        return {"status": "Accepted"}, self.c.sessions.stop(tx.connector, "Remote")

    def reset(self, p: dict) -> Answer:
        hard = p["type"] == "Hard"
        return {"status": "Accepted"}, self.c.reboot("RemoteReset", hard=hard)

    def unlock_connector(self, p: dict) -> Answer:
        connector = self._connector(p["connectorId"])
        if connector is None:
            return {"status": "NotSupported"}, None

        async def unlock() -> None:
            if connector.transaction is not None:
                await self.c.sessions.stop(connector.id, "UnlockCommand")
            if connector.plugged:
                await self.c.sessions.unplug(connector.id)

        return {"status": "Unlocked"}, unlock()

    def change_availability(self, p: dict) -> Answer:
        c, connector_id = self.c, p["connectorId"]
        inoperative = p["type"] == "Inoperative"
        if connector_id == 0:
            targets = list(c.connectors.values())
            c.state.inoperative = [n for n in c.state.inoperative if n != 0]
            if inoperative:
                c.state.inoperative.append(0)
        elif connector_id in c.connectors:
            targets = [c.connectors[connector_id]]
            targets[0].inoperative = inoperative
        else:
            return {"status": "Rejected"}, None
        busy = any(t.transaction is not None for t in targets)
        c.save_state()

        async def report() -> None:
            if connector_id == 0:
                status = "Unavailable" if inoperative else "Available"
                await c.send("StatusNotification", self._status(0, status))
            for target in targets:
                if target.transaction is None:
                    await c.status(target, c.sessions.idle_status(target))

        return {"status": "Scheduled" if busy else "Accepted"}, report()

    def get_configuration(self, p: dict) -> Answer:
        settings = self.c.settings
        keys = p.get("key") or [k for k, v in settings.table.items() if not v.write_only]
        known, unknown = [], []
        for key in keys:
            value = settings.get(key)
            if value is None or (key in settings.table and settings.table[key].write_only):
                unknown.append(key)
                continue
            readonly = settings.table[key].readonly if key in settings.table else True
            known.append({"key": key, "readonly": readonly, "value": value})
        answer: dict = {"configurationKey": known}
        if unknown:
            answer["unknownKey"] = unknown
        return answer, None

    def change_configuration(self, p: dict) -> Answer:
        c = self.c
        status = c.settings.set(p["key"], p["value"])
        if status in ("Accepted", "RebootRequired"):
            c.save_state()
            if p["key"] == "HeartbeatInterval":
                c.heartbeat_s = float(p["value"])
        return {"status": status}, None

    def clear_cache(self, p: dict) -> Answer:
        if not self.c.settings.flag("cache_enabled"):
            return {"status": "Rejected"}, None
        self.c.state.auth_cache.clear()
        self.c.save_state()
        return {"status": "Accepted"}, None

    def data_transfer(self, p: dict) -> Answer:
        if p["vendorId"] == COST_VENDOR and p.get("messageId") in COST_MESSAGES:
            return {"status": _cost_message_status(p)}, None  # shown on the display
        if p["vendorId"] != self.c.config.vendor:
            return {"status": "UnknownVendorId"}, None
        if p.get("messageId") != "echo":
            return {"status": "UnknownMessageId"}, None
        answer = {"status": "Accepted"}
        if p.get("data") is not None:
            answer["data"] = p["data"]
        return answer, None

    def get_local_list_version(self, p: dict) -> Answer:
        if not self.c.settings.flag("local_list_enabled"):
            return {"listVersion": -1}, None
        return {"listVersion": self.c.state.local_list.version}, None

    def send_local_list(self, p: dict) -> Answer:
        c = self.c
        local = c.state.local_list
        if not c.settings.flag("local_list_enabled"):
            return {"status": "NotSupported"}, None
        entries = p.get("localAuthorizationList") or []
        if p["updateType"] == "Differential" and p["listVersion"] <= local.version:
            return {"status": "VersionMismatch"}, None
        if p["updateType"] == "Full":
            local.entries = {}
        for entry in entries:
            info = entry.get("idTagInfo")
            if info is None:
                local.entries.pop(entry["idTag"], None)
            else:
                local.entries[entry["idTag"]] = info
        local.version = p["listVersion"]
        c.save_state()
        c.journal.write("local_list", version=local.version, size=len(local.entries))
        return {"status": "Accepted"}, None

    def reserve_now(self, p: dict) -> Answer:
        c = self.c
        connector = self._connector(p["connectorId"])
        if connector is None:
            return {"status": "Rejected"}, None
        if connector.status == "Faulted":
            return {"status": "Faulted"}, None
        if connector.inoperative or 0 in c.state.inoperative:
            return {"status": "Unavailable"}, None
        if connector.transaction is not None or (
            connector.reservation and connector.reservation["id"] != p["reservationId"]
        ):
            return {"status": "Occupied"}, None
        connector.reservation = {"id": p["reservationId"], "id_tag": p["idTag"]}
        expiry = parse_iso(p["expiryDate"])
        return {"status": "Accepted"}, self._reserve(connector, p["reservationId"], expiry)

    async def _reserve(self, connector: Connector, reservation_id: int, expiry) -> None:
        await self.c.status(connector, "Reserved")
        await self.c.clock.sleep((expiry - self.c.clock.now()).total_seconds())
        if connector.reservation and connector.reservation["id"] == reservation_id:
            connector.reservation = None
            if connector.transaction is None:
                await self.c.status(connector, self.c.sessions.idle_status(connector))

    def cancel_reservation(self, p: dict) -> Answer:
        for connector in self.c.connectors.values():
            if connector.reservation and connector.reservation["id"] == p["reservationId"]:
                connector.reservation = None
                idle = self.c.sessions.idle_status(connector)
                follow = self.c.status(connector, idle) if connector.transaction is None else None
                return {"status": "Accepted"}, follow
        return {"status": "Rejected"}, None
