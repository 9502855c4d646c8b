"""Range checks at the edge: every number a station sends must be one we can store and reason
about (issue: poisoned values). Run after schema validation, before any handler.

- Connector and EVSE ids: 0..9,999 (real stations have a handful; our columns are 32-bit).
- Meter readings given as integers (1.6 meterStart/meterStop): 0..2^53 Wh.
- Any other number: finite and within ±2^53 (exact in JSON and in a float).
A value outside gets the version's `PropertyConstraintViolation` CALLERROR, naming the field.
Timestamps are handled where they are parsed (`gateway.timestamps`): clamped, not refused.
"""

from __future__ import annotations

import math

from gateway.protocol import OcppError

MAX_ID = 9_999
MAX_EXACT = 2**53
_ID_KEYS = frozenset({"connectorId", "evseId"})
_METER_KEYS = frozenset({"meterStart", "meterStop"})


def check_payload(payload: object, path: str = "") -> None:
    """Raise `OcppError` for the first number out of range anywhere in the payload."""
    if isinstance(payload, dict):
        for key, value in payload.items():
            where = f"{path}.{key}" if path else key
            if isinstance(value, bool):
                continue
            if isinstance(value, int) and (
                key in _ID_KEYS or (key == "id" and path.endswith("evse"))
            ):
                _bounded(where, value, 0, MAX_ID)
            elif isinstance(value, int) and key in _METER_KEYS:
                _bounded(where, value, 0, MAX_EXACT)
            else:
                check_payload(value, where)
    elif isinstance(payload, list):
        for index, item in enumerate(payload):
            check_payload(item, f"{path}[{index}]")
    elif isinstance(payload, float):
        if not math.isfinite(payload) or abs(payload) > MAX_EXACT:
            raise OcppError("PropertyConstraintViolation", f"{path}: {payload!r} is out of range")
    elif isinstance(payload, int) and not isinstance(payload, bool):
        _bounded(path, payload, -MAX_EXACT, MAX_EXACT)


def _bounded(where: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise OcppError("PropertyConstraintViolation", f"{where}: {value} is outside {low}..{high}")
