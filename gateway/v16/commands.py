"""OCPP 1.6 translations of the neutral station commands: name + params -> (action, payload)."""

from __future__ import annotations

from gateway.raw_command import raw


def reset(params: dict) -> tuple[str, dict]:
    kind = params.get("type", "Soft")
    return "Reset", {"type": "Hard" if kind in ("Hard", "Immediate") else "Soft"}


def unlock_connector(params: dict) -> tuple[str, dict]:
    return "UnlockConnector", {"connectorId": int(params.get("connector_id", 1))}


def change_availability(params: dict) -> tuple[str, dict]:
    operative = params.get("operative", True)
    return "ChangeAvailability", {
        "connectorId": int(params.get("connector_id", 0)),
        "type": "Operative" if operative else "Inoperative",
    }


def get_configuration(params: dict) -> tuple[str, dict]:
    keys = params.get("keys")
    return "GetConfiguration", {"key": list(keys)} if keys else {}


def change_configuration(params: dict) -> tuple[str, dict]:
    return "ChangeConfiguration", {"key": str(params["key"]), "value": str(params["value"])}


def trigger_message(params: dict) -> tuple[str, dict]:
    payload: dict = {"requestedMessage": params["message"]}
    if params.get("connector_id") is not None:
        payload["connectorId"] = int(params["connector_id"])
    return "TriggerMessage", payload


def data_transfer(params: dict) -> tuple[str, dict]:
    payload: dict = {"vendorId": params["vendor_id"]}
    if params.get("message_id"):
        payload["messageId"] = params["message_id"]
    if params.get("data") is not None:
        payload["data"] = params["data"]
    return "DataTransfer", payload


def clear_cache(params: dict) -> tuple[str, dict]:
    return "ClearCache", {}


def remote_start(params: dict) -> tuple[str, dict]:
    payload: dict = {"idTag": params["id_token"]}
    if params.get("connector_id") is not None:
        payload["connectorId"] = int(params["connector_id"])
    return "RemoteStartTransaction", payload


def remote_stop(params: dict) -> tuple[str, dict]:
    return "RemoteStopTransaction", {"transactionId": int(params["transaction_id"])}


COMMANDS = {
    "reset": reset,
    "unlock_connector": unlock_connector,
    "change_availability": change_availability,
    "get_configuration": get_configuration,
    "change_configuration": change_configuration,
    "trigger_message": trigger_message,
    "data_transfer": data_transfer,
    "clear_cache": clear_cache,
    "remote_start": remote_start,
    "remote_stop": remote_stop,
    "raw": raw,
}
