"""OCPP 2.0.1 translations of the neutral station commands: name + params -> (action, payload).

Neutral `connector_id` is the 2.0.1 EVSE id (a 1.6 connector is a 2.0.1 EVSE); `evse_id` may be
given explicitly, and then `connector_id` is the connector on that EVSE. Device-model variables
are named `Component.Variable` (e.g. `OCPPCommCtrlr.HeartbeatInterval`) or given as dicts
`{component, variable, value?, instance?, attribute_type?, evse_id?}`.
"""

from __future__ import annotations

import secrets

from gateway.raw_command import raw

# 1.6 message names a neutral trigger may use, as 2.0.1 MessageTriggerEnumType values.
_TRIGGER_NAMES = {
    "DiagnosticsStatusNotification": "LogStatusNotification",
    "StartTransaction": "TransactionEvent",
    "StopTransaction": "TransactionEvent",
}


def _evse(params: dict) -> dict | None:
    """EVSEType from evse_id (+ connector_id) or connector_id alone; None for the station."""
    if params.get("evse_id") is not None:
        evse = {"id": int(params["evse_id"])}
        if params.get("connector_id") is not None:
            evse["connectorId"] = int(params["connector_id"])
        return evse
    connector = params.get("connector_id")
    if connector is None or int(connector) == 0:
        return None
    return {"id": int(connector)}


def reset(params: dict) -> tuple[str, dict]:
    """B11/B12: Immediate (1.6 Hard) or OnIdle (1.6 Soft, the default); evse_id resets one EVSE."""
    kind = params.get("type", "OnIdle")
    payload: dict = {"type": "Immediate" if kind in ("Hard", "Immediate") else "OnIdle"}
    if params.get("evse_id") is not None:
        payload["evseId"] = int(params["evse_id"])
    return "Reset", payload


def unlock_connector(params: dict) -> tuple[str, dict]:
    """F05: evse_id + connector_id, or connector_id alone = that EVSE's connector 1."""
    if params.get("evse_id") is not None:
        evse_id, connector_id = int(params["evse_id"]), int(params.get("connector_id", 1))
    else:
        evse_id, connector_id = int(params.get("connector_id", 1)), 1
    return "UnlockConnector", {"evseId": evse_id, "connectorId": connector_id}


def change_availability(params: dict) -> tuple[str, dict]:
    """G03/G04: the whole station (no EVSE), one EVSE or one connector of an EVSE."""
    operative = params.get("operative", True)
    payload: dict = {"operationalStatus": "Operative" if operative else "Inoperative"}
    evse = _evse(params)
    if evse is not None:
        payload["evse"] = evse
    return "ChangeAvailability", payload


def _variable_ref(item: str | dict) -> dict:
    """ComponentType + VariableType from "Component.Variable" or a dict (see module doc)."""
    if isinstance(item, str):
        item = {"name": item}
    if "name" in item:
        component, _, variable = str(item["name"]).partition(".")
        if not component or not variable:
            raise ValueError(f"variable {item['name']!r} is not 'Component.Variable'")
        item = {"component": component, "variable": variable, **item}
    component_ref: dict = {"name": str(item["component"])}
    if item.get("component_instance"):
        component_ref["instance"] = str(item["component_instance"])
    if item.get("evse_id") is not None:
        component_ref["evse"] = {"id": int(item["evse_id"])}
    variable_ref: dict = {"name": str(item["variable"])}
    if item.get("instance"):
        variable_ref["instance"] = str(item["instance"])
    ref: dict = {"component": component_ref, "variable": variable_ref}
    if item.get("attribute_type"):
        ref["attributeType"] = str(item["attribute_type"])
    return ref


def get_configuration(params: dict) -> tuple[str, dict]:
    """B06 GetVariables for `variables` (or 1.6-style `keys`) in Component.Variable form.

    Reading everything is GetBaseReport in 2.0.1 (answered asynchronously by NotifyReport),
    not a GetVariables, so at least one variable is required here.
    """
    wanted = params.get("variables") or params.get("keys")
    if not wanted:
        raise ValueError("2.0.1 GetVariables needs 'variables' (Component.Variable)")
    return "GetVariables", {"getVariableData": [_variable_ref(item) for item in wanted]}


def change_configuration(params: dict) -> tuple[str, dict]:
    """B05 SetVariables for `variables` (each with a `value`) or 1.6-style `key` + `value`."""
    wanted = params.get("variables") or [{"name": str(params["key"]), "value": params["value"]}]
    data = [{**_variable_ref(item), "attributeValue": str(item["value"])} for item in wanted]
    return "SetVariables", {"setVariableData": data}


def trigger_message(params: dict) -> tuple[str, dict]:
    """F06: 1.6 names are mapped (DiagnosticsStatusNotification -> LogStatusNotification)."""
    message = params["message"]
    payload: dict = {"requestedMessage": _TRIGGER_NAMES.get(message, message)}
    evse = _evse(params)
    if evse is not None:
        payload["evse"] = evse
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
    """F01/F02 RequestStartTransaction; the station echoes remoteStartId in its TransactionEvent.

    The token type defaults to `Central` (an id the CSMS vouches for, as in a remote start);
    without `remote_start_id` a random one is chosen.
    """
    remote_start_id = params.get("remote_start_id")
    payload: dict = {
        "idToken": {
            "idToken": str(params["id_token"]),
            "type": params.get("token_type", "Central"),
        },
        "remoteStartId": (
            int(remote_start_id) if remote_start_id is not None else secrets.randbelow(2**31 - 1)
        ),
    }
    evse_id = params.get("evse_id", params.get("connector_id"))
    if evse_id is not None:
        payload["evseId"] = int(evse_id)
    return "RequestStartTransaction", payload


def remote_stop(params: dict) -> tuple[str, dict]:
    """F03 RequestStopTransaction with the station's own transactionId."""
    return "RequestStopTransaction", {"transactionId": str(params["transaction_id"])}


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
