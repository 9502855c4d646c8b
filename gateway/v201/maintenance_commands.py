"""OCPP 2.0.1 translations of the neutral maintenance commands: name + params -> (action, payload).

Both `get_diagnostics` and `get_log` are GetLog (DiagnosticsLog / the requested log type).
"""

from __future__ import annotations


def _optional(payload: dict, **values: object) -> dict:
    payload.update({key: value for key, value in values.items() if value is not None})
    return payload


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


def get_diagnostics(params: dict) -> tuple[str, dict]:
    return get_log({**params, "log_type": "DiagnosticsLog"})


def update_firmware(params: dict) -> tuple[str, dict]:
    firmware = _optional(
        {"location": str(params["location"]), "retrieveDateTime": str(params["retrieve_at"])},
        installDateTime=params.get("install_at"),
        signingCertificate=params.get("signing_certificate"),
        signature=params.get("signature"),
    )
    return "UpdateFirmware", _optional(
        {"requestId": int(params["request_id"]), "firmware": firmware},
        retries=params.get("retries"),
        retryInterval=params.get("retry_interval"),
    )


def get_base_report(params: dict) -> tuple[str, dict]:
    return "GetBaseReport", {
        "requestId": int(params["request_id"]),
        "reportBase": params.get("report_base", "FullInventory"),
    }


COMMANDS = {
    "get_diagnostics": get_diagnostics,
    "get_log": get_log,
    "update_firmware": update_firmware,
    "get_base_report": get_base_report,
}
