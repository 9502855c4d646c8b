"""OCPP 2.0.1 smart charging (K): Set/ClearChargingProfile, GetCompositeSchedule,
GetChargingProfiles (ReportChargingProfiles)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chargers.clock import iso
from chargers.rpc import Answer
from chargers.smart import PURPOSES, Profile

if TYPE_CHECKING:
    from chargers.charger import Charger

_REJECTED = {"status": "Rejected"}


class SmartCharging201:
    c: Charger

    # ---- handlers: smart charging ---------------------------------------------------------

    def set_charging_profile(self, p: dict) -> Answer:
        c = self.c
        evse_id, raw = p["evseId"], p["chargingProfile"]
        purpose = PURPOSES[raw["chargingProfilePurpose"]]
        stack_max = c.settings.int_value("SmartChargingCtrlr/ProfileStackLevel")
        if (
            (evse_id != 0 and evse_id not in c.connectors)
            or purpose == "external"  # K01.FR.22: set by the station's own controls only
            or (purpose == "max" and evse_id != 0)
            or raw["stackLevel"] > stack_max
            or any(
                len(schedule["chargingSchedulePeriod"])
                > c.settings.int_value("SmartChargingCtrlr/PeriodsPerSchedule")
                for schedule in raw["chargingSchedule"]
            )
            or c.config.behaviour.reject_charging_profiles
        ):
            return _REJECTED, None
        if purpose == "tx" and c.config.behaviour.reject_tx_profiles:
            return {"status": "Rejected"}, None
        if purpose == "tx":
            tx = c.connectors[evse_id].transaction if evse_id else None
            if tx is None or raw.get("transactionId") != tx.transaction_id:
                return _REJECTED, None
        c.profiles.install(Profile.parse(evse_id, raw, c.clock.now()))
        c.save_state()
        c.journal.write("profile_set", connector=evse_id, profile=raw)
        return {"status": "Accepted"}, c.sessions.limits_changed()

    def clear_charging_profile(self, p: dict) -> Answer:
        c = self.c
        criteria = p.get("chargingProfileCriteria") or {}
        purpose = criteria.get("chargingProfilePurpose")
        removed = c.profiles.clear(
            p.get("chargingProfileId"),
            criteria.get("evseId"),
            PURPOSES.get(purpose) if purpose else None,
            criteria.get("stackLevel"),
        )
        if not removed:
            return {"status": "Unknown"}, None
        c.save_state()
        c.journal.write("profile_cleared", criteria=p)
        return {"status": "Accepted"}, c.sessions.limits_changed()

    def get_composite_schedule(self, p: dict) -> Answer:
        c = self.c
        evse_id = p["evseId"]
        if evse_id != 0 and evse_id not in c.connectors:
            return _REJECTED, None
        unit = p.get("chargingRateUnit", "W")
        tx = c.connectors[evse_id].transaction if evse_id else None
        start = c.clock.now()
        periods = c.profiles.composite(
            evse_id or 1,
            start,
            p["duration"],
            unit,
            str(tx.transaction_id) if tx else None,
            tx.started_at if tx else None,
        )
        schedule = {
            "evseId": evse_id,
            "duration": p["duration"],
            "scheduleStart": iso(start),
            "chargingRateUnit": unit,
            "chargingSchedulePeriod": periods,
        }
        return {"status": "Accepted", "schedule": schedule}, None

    def get_charging_profiles(self, p: dict) -> Answer:
        c = self.c
        criteria = p["chargingProfile"]
        evse_id = p.get("evseId")
        ids = criteria.get("chargingProfileId")
        purpose = criteria.get("chargingProfilePurpose")
        sources = criteria.get("chargingLimitSource")
        found = [
            profile
            for profile in c.profiles.profiles
            if (evse_id is None or profile.connector == evse_id)
            and (not ids or profile.id in ids)
            and (purpose is None or PURPOSES[purpose] == profile.purpose)
            and (
                criteria.get("stackLevel") is None or profile.stack_level == criteria["stackLevel"]
            )
            and (not sources or "CSO" in sources)
        ]
        if not found:
            return {"status": "NoProfiles"}, None
        return {"status": "Accepted"}, self._report_profiles(p["requestId"], found)

    async def _report_profiles(self, request_id: int, found: list[Profile]) -> None:
        by_evse: dict[int, list[dict]] = {}
        for profile in found:
            by_evse.setdefault(profile.connector, []).append(profile.raw)
        evses = sorted(by_evse)
        for n, evse_id in enumerate(evses):
            payload = {
                "requestId": request_id,
                "chargingLimitSource": "CSO",
                "evseId": evse_id,
                "chargingProfile": by_evse[evse_id],
                "tbc": n < len(evses) - 1,
            }
            await self.c.send("ReportChargingProfiles", payload)
