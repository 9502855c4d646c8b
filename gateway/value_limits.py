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
    if not _surely_in_range(payload):
        _check(payload, path)  # names the field (the quick pass builds no paths)


def _surely_in_range(value: object) -> bool:
    """True when no number can be out of range; stricter than `_check` (an `id` anywhere is
    held to the id range, negatives and unusual types are left to it), which decides whenever
    this says False."""
    kind = type(value)
    if kind is dict:
        for key, item in value.items():  # type: ignore[attr-defined]
            kind = type(item)
            if kind is str or kind is bool or item is None:
                continue
            if kind is int:
                high = MAX_ID if key in _ID_KEYS or key == "id" else MAX_EXACT
                if not 0 <= item <= high:
                    return False
            elif not _surely_in_range(item):
                return False
        return True
    if kind is list:
        return all(_surely_in_range(item) for item in value)  # type: ignore[attr-defined]
    if kind is float:
        return math.isfinite(value) and abs(value) <= MAX_EXACT  # type: ignore[arg-type]
    return kind is str or kind is bool or value is None


def _check(payload: object, path: str) -> None:
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
                _check(value, where)
    elif isinstance(payload, list):
        for index, item in enumerate(payload):
            _check(item, f"{path}[{index}]")
    elif isinstance(payload, float):
        if not math.isfinite(payload) or abs(payload) > MAX_EXACT:
            raise OcppError("PropertyConstraintViolation", f"{path}: {payload!r} is out of range")
    elif isinstance(payload, int) and not isinstance(payload, bool):
        _bounded(path, payload, -MAX_EXACT, MAX_EXACT)


def _bounded(where: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise OcppError("PropertyConstraintViolation", f"{where}: {value} is outside {low}..{high}")
