"""OCPP 1.6 translations of the local-list commands (register in `gateway/versions.py`).

Neutral params (`domain.access.local_list_params`): `version`, `update_type` Full|Differential,
`entries` [{id_token, token_type, status (absent: remove), expires_at, group_id}].
"""

from __future__ import annotations

from domain.access import ID_TAG_MAX

_STATUSES_16 = {"Accepted", "Blocked", "Expired", "Invalid", "ConcurrentTx"}


def _authorization_data(entry: dict) -> dict | None:
    """One `AuthorizationData`; None for a credential a 1.6 charger cannot hold (> 20)."""
    id_tag = str(entry["id_token"])
    if len(id_tag) > ID_TAG_MAX:
        return None
    data: dict = {"idTag": id_tag}
    status = entry.get("status")
    if status is None:
        return data  # no idTagInfo: remove it from the list (differential)
    if status == "NoCredit":  # 1.6 has no NoCredit; its online answers say Blocked too
        status = "Blocked"
    info: dict = {"status": status if status in _STATUSES_16 else "Invalid"}
    if entry.get("expires_at"):
        info["expiryDate"] = str(entry["expires_at"])
    if entry.get("group_id"):
        info["parentIdTag"] = str(entry["group_id"])[:ID_TAG_MAX]
    data["idTagInfo"] = info
    return data


def send_local_list(params: dict) -> tuple[str, dict]:
    update_type = params.get("update_type", "Full")
    if update_type not in ("Full", "Differential"):
        raise ValueError(f"update_type {update_type!r}")
    entries = [_authorization_data(e) for e in params.get("entries", [])]
    payload: dict = {"listVersion": int(params["version"]), "updateType": update_type}
    kept = [e for e in entries if e is not None]
    if kept:
        payload["localAuthorizationList"] = kept
    return "SendLocalList", payload


def get_local_list_version(params: dict) -> tuple[str, dict]:
    return "GetLocalListVersion", {}


COMMANDS = {
    "send_local_list": send_local_list,
    "get_local_list_version": get_local_list_version,
}
