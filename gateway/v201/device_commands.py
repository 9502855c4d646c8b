"""OCPP 2.0.1 function blocks the CSMS drives by request and the charger answers by report.

Neutral command -> (action, payload); params are snake_case, variables `Component.Variable`
(or dicts, as in `gateway/v201/commands.py`). Requests answered by a report carry `request_id`
(the API fills one in when absent); the parts arrive as NotifyMonitoringReport,
NotifyDisplayMessages, NotifyCustomerInformation or ReportChargingProfiles
(`gateway/v201/reports.py`) and are read at `/stations/{id}/reports`.
"""

from __future__ import annotations

from gateway.v201.commands import _variable_ref

# N. Diagnostics: monitoring


def set_variable_monitoring(params: dict) -> tuple[str, dict]:
    """N04: `monitors`: [{name | component+variable, type, value, severity, transaction?, id?}]."""
    data = []
    for item in params["monitors"]:
        ref = _variable_ref(item)
        monitor: dict = {
            "component": ref["component"],
            "variable": ref["variable"],
            "type": str(item["type"]),
            "value": float(item["value"]),
            "severity": int(item.get("severity", 5)),
        }
        if item.get("id") is not None:
            monitor["id"] = int(item["id"])
        if item.get("transaction") is not None:
            monitor["transaction"] = bool(item["transaction"])
        data.append(monitor)
    return "SetVariableMonitoring", {"setMonitoringData": data}


def set_monitoring_base(params: dict) -> tuple[str, dict]:
    """N03: `base` All | FactoryDefault | HardWiredOnly."""
    return "SetMonitoringBase", {"monitoringBase": str(params.get("base", "All"))}


def set_monitoring_level(params: dict) -> tuple[str, dict]:
    """N05: report only events of this severity or more urgent (0 = Danger … 9 = Debug)."""
    return "SetMonitoringLevel", {"severity": int(params["severity"])}


def clear_variable_monitoring(params: dict) -> tuple[str, dict]:
    """N06: `ids` of the monitors to remove."""
    return "ClearVariableMonitoring", {"id": [int(i) for i in params["ids"]]}


def get_monitoring_report(params: dict) -> tuple[str, dict]:
    """N02: `criteria` (ThresholdMonitoring, DeltaMonitoring, PeriodicMonitoring) and/or
    `variables`; the report arrives as NotifyMonitoringReport."""
    payload: dict = {"requestId": int(params["request_id"])}
    if params.get("criteria"):
        payload["monitoringCriteria"] = [str(c) for c in params["criteria"]]
    if params.get("variables"):
        payload["componentVariable"] = [_variable_ref(v) for v in params["variables"]]
    return "GetMonitoringReport", payload


# N. Customer information (data-protection requests)


def customer_information(params: dict) -> tuple[str, dict]:
    """N09/N10: report (default) and/or clear what the charger keeps about a customer, named by
    `customer_identifier` or `id_token` (+ `token_type`, default ISO14443)."""
    payload: dict = {
        "requestId": int(params["request_id"]),
        "report": bool(params.get("report", True)),
        "clear": bool(params.get("clear", False)),
    }
    if params.get("customer_identifier"):
        payload["customerIdentifier"] = str(params["customer_identifier"])
    if params.get("id_token"):
        payload["idToken"] = {
            "idToken": str(params["id_token"]),
            "type": str(params.get("token_type", "ISO14443")),
        }
    return "CustomerInformation", payload


# O. Display messages


def set_display_message(params: dict) -> tuple[str, dict]:
    """O01-O03: `id`, `content` (UTF-8 text), `priority` (AlwaysFront | InFront | NormalCycle,
    default), `state`, `start`/`end` (RFC 3339), `language`, `transaction_id`."""
    message: dict = {"format": str(params.get("format", "UTF8")), "content": str(params["content"])}
    if params.get("language"):
        message["language"] = str(params["language"])
    info: dict = {
        "id": int(params["id"]),
        "priority": str(params.get("priority", "NormalCycle")),
        "message": message,
    }
    for key, field in (("state", "state"), ("start", "startDateTime"), ("end", "endDateTime")):
        if params.get(key):
            info[field] = str(params[key])
    if params.get("transaction_id"):
        info["transactionId"] = str(params["transaction_id"])
    return "SetDisplayMessage", {"message": info}


def get_display_messages(params: dict) -> tuple[str, dict]:
    """O04: all messages, or those with `ids`, `priority` or `state`; answered by
    NotifyDisplayMessages."""
    payload: dict = {"requestId": int(params["request_id"])}
    if params.get("ids"):
        payload["id"] = [int(i) for i in params["ids"]]
    if params.get("priority"):
        payload["priority"] = str(params["priority"])
    if params.get("state"):
        payload["state"] = str(params["state"])
    return "GetDisplayMessages", payload


def clear_display_message(params: dict) -> tuple[str, dict]:
    """O05: remove the message with this `id`."""
    return "ClearDisplayMessage", {"id": int(params["id"])}


# K. Smart charging: what the charger really holds


def get_charging_profiles(params: dict) -> tuple[str, dict]:
    """K09: profiles by `evse_id`, `purpose`, `stack_level`, `source` or `profile_ids`;
    answered by ReportChargingProfiles."""
    criterion: dict = {}
    if params.get("purpose"):
        criterion["chargingProfilePurpose"] = str(params["purpose"])
    if params.get("stack_level") is not None:
        criterion["stackLevel"] = int(params["stack_level"])
    if params.get("profile_ids"):
        criterion["chargingProfileId"] = [int(i) for i in params["profile_ids"]]
    if params.get("source"):
        criterion["chargingLimitSource"] = [str(s) for s in params["source"]]
    payload: dict = {"requestId": int(params["request_id"]), "chargingProfile": criterion}
    if params.get("evse_id") is not None:
        payload["evseId"] = int(params["evse_id"])
    return "GetChargingProfiles", payload


# L. Firmware for local controllers


def publish_firmware(params: dict) -> tuple[str, dict]:
    """L03: a local controller downloads the image at `location` (MD5 `checksum`) and serves it
    to the stations behind it; progress arrives as PublishFirmwareStatusNotification."""
    payload: dict = {
        "location": str(params["location"]),
        "checksum": str(params["checksum"]),
        "requestId": int(params["request_id"]),
    }
    if params.get("retries") is not None:
        payload["retries"] = int(params["retries"])
    if params.get("retry_interval") is not None:
        payload["retryInterval"] = int(params["retry_interval"])
    return "PublishFirmware", payload


def unpublish_firmware(params: dict) -> tuple[str, dict]:
    """L04: stop serving the image with this MD5 `checksum`."""
    return "UnpublishFirmware", {"checksum": str(params["checksum"])}


COMMANDS = {
    "set_variable_monitoring": set_variable_monitoring,
    "set_monitoring_base": set_monitoring_base,
    "set_monitoring_level": set_monitoring_level,
    "clear_variable_monitoring": clear_variable_monitoring,
    "get_monitoring_report": get_monitoring_report,
    "customer_information": customer_information,
    "set_display_message": set_display_message,
    "get_display_messages": get_display_messages,
    "clear_display_message": clear_display_message,
    "get_charging_profiles": get_charging_profiles,
    "publish_firmware": publish_firmware,
    "unpublish_firmware": unpublish_firmware,
}
