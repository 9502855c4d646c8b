"""OCPP 1.6 smart charging commands from their neutral form (see `domain.site_load`).

Neutral profile: `{id, stack_level, purpose: tx|default|max, kind, transaction_id?, start?,
unit: A|W, periods: [{start_s, limit, phases?}], duration_s?}`.
"""

from __future__ import annotations

_PURPOSES = {"tx": "TxProfile", "default": "TxDefaultProfile", "max": "ChargePointMaxProfile"}


def schedule(profile: dict) -> dict:
    """A 1.6 `ChargingSchedule` (shared with 2.0.1, which adds an id)."""
    periods = []
    for period in profile["periods"]:
        entry: dict = {"startPeriod": int(period["start_s"]), "limit": round(period["limit"], 1)}
        if period.get("phases"):
            entry["numberPhases"] = int(period["phases"])
        periods.append(entry)
    out: dict = {"chargingRateUnit": profile.get("unit", "A"), "chargingSchedulePeriod": periods}
    if profile.get("start"):
        out["startSchedule"] = profile["start"]
    if profile.get("duration_s") is not None:
        out["duration"] = int(profile["duration_s"])
    return out


def set_charging_profile(params: dict) -> tuple[str, dict]:
    profile = params["profile"]
    raw: dict = {
        "chargingProfileId": int(profile["id"]),
        "stackLevel": int(profile["stack_level"]),
        "chargingProfilePurpose": _PURPOSES[profile["purpose"]],
        "chargingProfileKind": profile.get("kind", "Absolute"),
        "chargingSchedule": schedule(profile),
    }
    if profile["purpose"] == "tx" and profile.get("transaction_id") is not None:
        raw["transactionId"] = int(profile["transaction_id"])
    return "SetChargingProfile", {
        "connectorId": int(params.get("connector_id", 0)),
        "csChargingProfiles": raw,
    }


def clear_charging_profile(params: dict) -> tuple[str, dict]:
    payload: dict = {}
    if params.get("id") is not None:
        payload["id"] = int(params["id"])
    if params.get("connector_id") is not None:
        payload["connectorId"] = int(params["connector_id"])
    if params.get("purpose"):
        payload["chargingProfilePurpose"] = _PURPOSES[params["purpose"]]
    if params.get("stack_level") is not None:
        payload["stackLevel"] = int(params["stack_level"])
    return "ClearChargingProfile", payload


def get_composite_schedule(params: dict) -> tuple[str, dict]:
    payload: dict = {
        "connectorId": int(params.get("connector_id", 0)),
        "duration": int(params.get("duration_s", 3600)),
    }
    if params.get("unit"):
        payload["chargingRateUnit"] = params["unit"]
    return "GetCompositeSchedule", payload


COMMANDS = {
    "set_charging_profile": set_charging_profile,
    "clear_charging_profile": clear_charging_profile,
    "get_composite_schedule": get_composite_schedule,
}
