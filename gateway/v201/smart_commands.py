"""OCPP 2.0.1 smart charging commands (K01 SetChargingProfile, K10 ClearChargingProfile, K08
GetCompositeSchedule) from their neutral form (see `gateway/v16/smart_commands.py`)."""

from __future__ import annotations

from gateway.v16.smart_commands import schedule

_PURPOSES = {"tx": "TxProfile", "default": "TxDefaultProfile", "max": "ChargingStationMaxProfile"}


def set_charging_profile(params: dict) -> tuple[str, dict]:
    profile = params["profile"]
    raw: dict = {
        "id": int(profile["id"]),
        "stackLevel": int(profile["stack_level"]),
        "chargingProfilePurpose": _PURPOSES[profile["purpose"]],
        "chargingProfileKind": profile.get("kind", "Absolute"),
        "chargingSchedule": [{"id": int(profile["id"]), **schedule(profile)}],
    }
    if profile["purpose"] == "tx" and profile.get("transaction_id") is not None:
        raw["transactionId"] = str(profile["transaction_id"])
    return "SetChargingProfile", {
        "evseId": int(params.get("connector_id", 0)),
        "chargingProfile": raw,
    }


def clear_charging_profile(params: dict) -> tuple[str, dict]:
    payload: dict = {}
    if params.get("id") is not None:
        payload["chargingProfileId"] = int(params["id"])
    criteria: dict = {}
    if params.get("connector_id") is not None:
        criteria["evseId"] = int(params["connector_id"])
    if params.get("purpose"):
        criteria["chargingProfilePurpose"] = _PURPOSES[params["purpose"]]
    if params.get("stack_level") is not None:
        criteria["stackLevel"] = int(params["stack_level"])
    if criteria:
        payload["chargingProfileCriteria"] = criteria
    return "ClearChargingProfile", payload


def get_composite_schedule(params: dict) -> tuple[str, dict]:
    payload: dict = {
        "evseId": int(params.get("connector_id", 0)),
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
