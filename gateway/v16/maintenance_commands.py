"""OCPP 1.6 translations of the neutral maintenance commands: name + params -> (action, payload).

`get_log` is the 1.6 security-extension GetLog; plain 1.6 chargers get `get_diagnostics`.
"""

from __future__ import annotations


def _optional(payload: dict, **values: object) -> dict:
    payload.update({key: value for key, value in values.items() if value is not None})
    return payload


def get_diagnostics(params: dict) -> tuple[str, dict]:
    return "GetDiagnostics", _optional(
        {"location": str(params["location"])},
        retries=params.get("retries"),
        retryInterval=params.get("retry_interval"),
        startTime=params.get("oldest"),
        stopTime=params.get("latest"),
    )


def get_log(params: dict) -> tuple[str, dict]:
    log = _optional(
        {"remoteLocation": str(params["location"])},
        oldestTimestamp=params.get("oldest"),
        latestTimestamp=params.get("latest"),
    )
    return "GetLog", _optional(
        {
            "logType": params.get("log_type", "DiagnosticsLog"),
            "requestId": int(params["request_id"]),
            "log": log,
        },
        retries=params.get("retries"),
        retryInterval=params.get("retry_interval"),
    )


def update_firmware(params: dict) -> tuple[str, dict]:
    """Plain UpdateFirmware (a signature, if any, is not part of 1.6 without the extension)."""
    return "UpdateFirmware", _optional(
        {"location": str(params["location"]), "retrieveDate": str(params["retrieve_at"])},
        retries=params.get("retries"),
        retryInterval=params.get("retry_interval"),
    )


COMMANDS = {
    "get_diagnostics": get_diagnostics,
    "get_log": get_log,
    "update_firmware": update_firmware,
}
