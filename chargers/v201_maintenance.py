"""OCPP 2.0.1 remote trigger (F06), logs (N01) and firmware (L01): TriggerMessage, GetLog,
UpdateFirmware."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chargers import maintenance
from chargers.clock import iso
from chargers.connector import Connector
from chargers.rpc import Answer

if TYPE_CHECKING:
    from chargers.charger import Charger

_REJECTED = {"status": "Rejected"}


class Maintenance201:
    c: Charger

    # ---- handlers: maintenance ------------------------------------------------------------

    def trigger_message(self, p: dict) -> Answer:
        c = self.c
        message = p["requestedMessage"]
        evse_id = (p.get("evse") or {}).get("id")
        if evse_id not in (None, 0) and evse_id not in c.connectors:
            return _REJECTED, None
        targets = [c.connectors[evse_id]] if evse_id else list(c.connectors.values())
        follow = self._trigger(message, targets)
        if follow is None:
            return {"status": "NotImplemented"}, None
        return {"status": "Accepted"}, follow

    def _trigger(self, message: str, targets: list[Connector]):
        c = self.c
        if message == "BootNotification":
            return c.send("BootNotification", self.boot_payload("Triggered"))
        if message == "Heartbeat":
            return c.send("Heartbeat", {})
        if message == "StatusNotification":
            c.clears("probe")

            async def statuses() -> None:
                for connector in targets:
                    status = self.reported_status(connector)
                    await c.send("StatusNotification", self.status_payload(connector, status))

            return statuses()
        if message == "MeterValues":

            async def meters() -> None:
                for connector in targets:
                    sample = c.sessions.sample(connector)
                    payload = {
                        "evseId": connector.id,
                        "meterValue": [self._meter_value(sample, "Trigger")],
                    }
                    await c.send("MeterValues", payload)

            return meters()
        if message == "TransactionEvent":

            async def events() -> None:
                for connector in targets:
                    tx = connector.transaction
                    if tx is not None:
                        sample = c.sessions.sample(connector)
                        event = self._event(
                            tx,
                            "Updated",
                            "Trigger",
                            "Charging" if sample["power_w"] > 0 else "SuspendedEVSE",
                            at=iso(sample["at"]),
                            meterValue=[self._meter_value(sample, "Trigger")],
                        )
                        c.outbox.put(event)

            return events()
        if message == "FirmwareStatusNotification":
            status, request_id = self.firmware_state
            if status == "Installed":
                status = "Idle"
            return self.firmware_status(status, request_id)
        if message == "LogStatusNotification":
            status, request_id = self.log_state
            return self.log_status(status if status == "Uploading" else "Idle", request_id)
        return None

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
        firmware = p["firmware"]
        follow = maintenance.update_firmware(
            self.c,
            firmware["location"],
            firmware["retrieveDateTime"],
            request_id=p["requestId"],
            retries=p.get("retries", 0),
            retry_interval_s=p.get("retryInterval", 30),
            signature=firmware.get("signature"),
            certificate=firmware.get("signingCertificate"),
            install_at=firmware.get("installDateTime"),
        )
        return {"status": "Accepted"}, follow
