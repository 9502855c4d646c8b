"""OCPP 1.6 remote trigger, diagnostics and firmware (with the security extension's GetLog,
ExtendedTriggerMessage and SignedUpdateFirmware)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chargers import maintenance
from chargers.clock import iso
from chargers.rpc import Answer

if TYPE_CHECKING:
    from chargers.charger import Charger


class Maintenance16:
    c: Charger

    def trigger_message(self, p: dict) -> Answer:
        follow = self._trigger(p["requestedMessage"], p.get("connectorId"))
        if follow is None:
            return {"status": "NotImplemented"}, None
        return {"status": "Accepted"}, follow

    def extended_trigger(self, p: dict) -> Answer:
        follow = self._trigger(p["requestedMessage"], p.get("connectorId"))
        if follow is None:
            return {"status": "NotImplemented"}, None
        return {"status": "Accepted"}, follow

    def _trigger(self, message: str, connector_id: int | None):
        c = self.c
        if connector_id not in (None, 0) and connector_id not in c.connectors:
            return None
        targets = [c.connectors[connector_id]] if connector_id else list(c.connectors.values())
        if message == "BootNotification":
            return c.send("BootNotification", self.boot_payload("Triggered"))
        if message == "Heartbeat":
            return c.send("Heartbeat", {})
        if message == "StatusNotification":
            c.clears("probe")

            async def statuses() -> None:
                for connector in targets:
                    payload = self.status_payload(connector, connector.status)
                    await c.send("StatusNotification", payload)

            return statuses()
        if message == "MeterValues":

            async def meters() -> None:
                for connector in targets:
                    sample = c.sessions.sample(connector)
                    payload = {
                        "connectorId": connector.id,
                        "meterValue": [
                            {
                                "timestamp": iso(sample["at"]),
                                "sampledValue": self._sampled(sample, "Trigger"),
                            }
                        ],
                    }
                    tx = connector.transaction
                    if tx is not None and tx.transaction_id is not None:
                        payload["transactionId"] = tx.transaction_id
                    await c.send("MeterValues", payload)

            return meters()
        if message == "DiagnosticsStatusNotification":
            return c.send("DiagnosticsStatusNotification", {"status": self.diagnostics_state})
        if message == "FirmwareStatusNotification":
            status = self.firmware_state if self.firmware_state != "Installed" else "Idle"
            return c.send("FirmwareStatusNotification", {"status": status})
        if message == "LogStatusNotification":
            return c.send("LogStatusNotification", {"status": "Idle"})
        return None

    def get_diagnostics(self, p: dict) -> Answer:
        c = self.c
        name = f"{c.station_id}-diagnostics-{c.clock.now().strftime('%Y%m%dT%H%M%S')}.log"
        follow = maintenance.upload_log(
            c,
            p["location"],
            name,
            oldest=p.get("startTime"),
            latest=p.get("stopTime"),
            retries=p.get("retries", 0),
            retry_interval_s=p.get("retryInterval", 30),
        )
        return {"fileName": name}, follow

    def get_log(self, p: dict) -> Answer:
        c = self.c
        log = p["log"]
        name = f"{c.station_id}-{p['logType']}-{c.clock.now().strftime('%Y%m%dT%H%M%S')}.log"
        follow = maintenance.upload_log(
            c,
            log["remoteLocation"],
            name,
            request_id=p["requestId"],
            oldest=log.get("oldestTimestamp"),
            latest=log.get("latestTimestamp"),
            retries=p.get("retries", 0),
            retry_interval_s=p.get("retryInterval", 30),
        )
        return {"status": "Accepted", "filename": name}, follow

    def update_firmware(self, p: dict) -> Answer:
        follow = maintenance.update_firmware(
            self.c,
            p["location"],
            p["retrieveDate"],
            retries=p.get("retries", 0),
            retry_interval_s=p.get("retryInterval", 30),
        )
        return {}, follow

    def signed_update_firmware(self, p: dict) -> Answer:
        firmware = p["firmware"]
        follow = maintenance.update_firmware(
            self.c,
            firmware["location"],
            firmware["retrieveDateTime"],
            request_id=p["requestId"],
            retries=p.get("retries", 0),
            retry_interval_s=p.get("retryInterval", 30),
            signature=firmware["signature"],
            certificate=firmware["signingCertificate"],
            install_at=firmware.get("installDateTime"),
        )
        return {"status": "Accepted"}, follow
