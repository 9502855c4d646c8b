"""The charging profiles a site's load management sends, in the neutral command form
(`gateway/v16/smart_commands.py` translates them per OCPP version).

Our profiles, all at stack level `STACK_LEVEL` (above a charger's own defaults at 0):
- per station, a `TxDefaultProfile` on connector 0 at 0 A: an EV that starts before the site
  has allocated it anything waits (SuspendedEVSE) instead of drawing unplanned power;
- per running transaction, a `TxProfile` with the transaction id (1.6: our session number;
  2.0.1: the charger's own transactionId) and the allocated current;
- per connector, a `TxDefaultProfile` instead, where the charger refused the `TxProfile`
  (it did not know the transaction yet: a field lesson) — removed when the session ends.
All are Absolute, start now, in A per phase with `numberPhases`, and carry the upcoming
scheduled limit changes as periods, cut to the charger's `ChargingScheduleMaxPeriods`.
"""

from __future__ import annotations

from datetime import datetime

STACK_LEVEL = 1
PROFILE_BASE = (
    81_000  # ids: station default = base; tx = base + n; connector default base + 1000 + n
)


def station_default_id() -> int:
    return PROFILE_BASE


def tx_profile_id(connector_id: int) -> int:
    return PROFILE_BASE + connector_id


def connector_default_id(connector_id: int) -> int:
    return PROFILE_BASE + 1000 + connector_id


def profile_params(
    purpose: str,
    connector_id: int,
    periods: list[tuple[float, float]],
    start: datetime,
    phases: int,
    transaction_id: str | None = None,
) -> dict:
    """`set_charging_profile` params: purpose `tx` (with the transaction id) or `default`."""
    if purpose == "tx":
        profile_id = tx_profile_id(connector_id)
    elif connector_id == 0:
        profile_id = station_default_id()
    else:
        profile_id = connector_default_id(connector_id)
    profile: dict = {
        "id": profile_id,
        "stack_level": STACK_LEVEL,
        "purpose": purpose,
        "kind": "Absolute",
        "start": start.isoformat().replace("+00:00", "Z"),
        "unit": "A",
        "periods": [
            {"start_s": int(offset), "limit": round(amps, 1), "phases": phases}
            for offset, amps in periods
        ],
    }
    if purpose == "tx":
        profile["transaction_id"] = transaction_id
    return {"connector_id": connector_id, "profile": profile}


def clear_params(purpose: str) -> dict:
    """`clear_charging_profile` params removing our profiles of a purpose on every connector."""
    return {"purpose": purpose, "stack_level": STACK_LEVEL}
