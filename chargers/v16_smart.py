"""OCPP 1.6 smart charging: SetChargingProfile, ClearChargingProfile, GetCompositeSchedule."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chargers.clock import iso
from chargers.rpc import Answer
from chargers.smart import PURPOSES, Profile

if TYPE_CHECKING:
    from chargers.charger import Charger


class SmartCharging16:
    c: Charger

    def set_charging_profile(self, p: dict) -> Answer:
        c = self.c
        connector_id, raw = p["connectorId"], p["csChargingProfiles"]
        purpose = PURPOSES[raw["chargingProfilePurpose"]]
        if connector_id != 0 and connector_id not in c.connectors:
            return {"status": "Rejected"}, None
        if raw["stackLevel"] > c.settings.int_value("ChargeProfileMaxStackLevel"):
            return {"status": "Rejected"}, None
        periods = raw["chargingSchedule"]["chargingSchedulePeriod"]
        if len(periods) > c.settings.int_value("ChargingScheduleMaxPeriods"):
            return {"status": "Rejected"}, None
        if c.config.behaviour.reject_charging_profiles:
            return {"status": "Rejected"}, None
        if purpose == "max" and connector_id != 0:
            return {"status": "Rejected"}, None
        if purpose == "tx" and c.config.behaviour.reject_tx_profiles:
            return {"status": "Rejected"}, None
        if purpose == "tx":
            connector = c.connectors.get(connector_id)
            tx = connector.transaction if connector else None
            if tx is None or tx.transaction_id is None:
                return {"status": "Rejected"}, None
            if "transactionId" in raw and raw["transactionId"] != tx.transaction_id:
                return {"status": "Rejected"}, None
            raw = {**raw, "transactionId": tx.transaction_id}
        c.profiles.install(Profile.parse(connector_id, raw, c.clock.now()))
        c.save_state()
        c.journal.write("profile_set", connector=connector_id, profile=raw)
        return {"status": "Accepted"}, c.sessions.limits_changed()

    def clear_charging_profile(self, p: dict) -> Answer:
        c = self.c
        purpose = p.get("chargingProfilePurpose")
        removed = c.profiles.clear(
            p.get("id"),
            p.get("connectorId"),
            PURPOSES.get(purpose) if purpose else None,
            p.get("stackLevel"),
        )
        if not removed:
            return {"status": "Unknown"}, None
        c.save_state()
        c.journal.write("profile_cleared", criteria=p)
        return {"status": "Accepted"}, c.sessions.limits_changed()

    def get_composite_schedule(self, p: dict) -> Answer:
        c = self.c
        connector_id = p["connectorId"]
        if connector_id != 0 and connector_id not in c.connectors:
            return {"status": "Rejected"}, None
        unit = p.get("chargingRateUnit", "W")
        tx = c.connectors[connector_id].transaction if connector_id else None
        start = c.clock.now()
        periods = c.profiles.composite(
            connector_id or 1,
            start,
            p["duration"],
            unit,
            str(tx.transaction_id) if tx else None,
            tx.started_at if tx else None,
        )
        schedule = {
            "duration": p["duration"],
            "chargingRateUnit": unit,
            "chargingSchedulePeriod": periods,
        }
        answer = {
            "status": "Accepted",
            "connectorId": connector_id,
            "scheduleStart": iso(start),
            "chargingSchedule": schedule,
        }
        return answer, None
