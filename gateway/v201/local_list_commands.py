"""OCPP 2.0.1 translations of the local-list commands (register in `gateway/versions.py`).

Same neutral params as `gateway/v16/local_list_commands.py`; 2.0.1 names the credential with
its type (`IdTokenType`) and the group as a `groupIdToken`.
"""

from __future__ import annotations

from domain.access import ID_TOKEN_MAX

_STATUSES_201 = {
    "Accepted",
    "Blocked",
    "ConcurrentTx",
    "Expired",
    "Invalid",
    "NoCredit",
    "NotAllowedTypeEVSE",
    "NotAtThisLocation",
    "NotAtThisTime",
    "Unknown",
}


def _authorization_data(entry: dict) -> dict:
    data: dict = {
        "idToken": {
            "idToken": str(entry["id_token"])[:ID_TOKEN_MAX],
            "type": entry.get("token_type") or "ISO14443",
        }
    }
    status = entry.get("status")
    if status is None:
        return data  # no idTokenInfo: remove it from the list (differential)
    info: dict = {"status": status if status in _STATUSES_201 else "Invalid"}
    if entry.get("expires_at"):
        info["cacheExpiryDateTime"] = str(entry["expires_at"])
    if entry.get("group_id"):
        info["groupIdToken"] = {"idToken": str(entry["group_id"]), "type": "Central"}
    data["idTokenInfo"] = info
    return data


def send_local_list(params: dict) -> tuple[str, dict]:
    update_type = params.get("update_type", "Full")
    if update_type not in ("Full", "Differential"):
        raise ValueError(f"update_type {update_type!r}")
    payload: dict = {"versionNumber": int(params["version"]), "updateType": update_type}
    entries = [_authorization_data(e) for e in params.get("entries", [])]
    if entries:
        payload["localAuthorizationList"] = entries
    return "SendLocalList", payload


def get_local_list_version(params: dict) -> tuple[str, dict]:
    return "GetLocalListVersion", {}


COMMANDS = {
    "send_local_list": send_local_list,
    "get_local_list_version": get_local_list_version,
}
