"""2.0.1 list-bearing requests kept within the station's own message limits (B06.FR.05,
B05, B08, N04/N06): a request with more items than `ItemsPerMessage[<action>]` or more bytes than
`BytesPerMessage[<action>]` is sent as several, one after another, and their results merged into
one answer in the order of the items.

| action | list | limits (component, variable instance) |
|---|---|---|
| GetVariables | getVariableData | DeviceDataCtrlr, GetVariables |
| SetVariables | setVariableData | DeviceDataCtrlr, SetVariables |
| GetReport | componentVariable | DeviceDataCtrlr, GetReport |
| SetVariableMonitoring | setMonitoringData | MonitoringCtrlr, SetVariableMonitoring |
| ClearVariableMonitoring | id | MonitoringCtrlr, ClearVariableMonitoring |

1.6 GetConfiguration asks for at most `GetConfigurationMaxKeys` keys at a time, the same way
(configurationKey and unknownKey lists merged).

The limits come from what the station said, newest first: its answers on this connection (any
GetVariables result for these variables, whoever asked), its reported device model
(`station_device_model`, from NotifyReport; a model with one of an action's two limits has no
other), else the station is asked, one variable per GetVariables, once per connection — only
for a request with more than one item. A limit the station does not know is no limit. The
whole split request keeps the command's one timeout.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import orjson

from gateway.connection import CommandError, StationConnection
from gateway.protocol import OCPP16, OCPP201

log = logging.getLogger(__name__)

Send = Callable[[StationConnection, str, dict, float], Awaitable[dict]]


@dataclass(frozen=True, slots=True)
class _Split:
    items: str  # the request's list
    component: str  # where the station keeps its limits
    results: str | None  # the answer's list (None: a GetReport status)


SPLITS = {
    "GetVariables": _Split("getVariableData", "DeviceDataCtrlr", "getVariableResult"),
    "SetVariables": _Split("setVariableData", "DeviceDataCtrlr", "setVariableResult"),
    "GetReport": _Split("componentVariable", "DeviceDataCtrlr", None),
    "SetVariableMonitoring": _Split("setMonitoringData", "MonitoringCtrlr", "setMonitoringResult"),
    "ClearVariableMonitoring": _Split("id", "MonitoringCtrlr", "clearMonitoringResult"),
}
_LIMITS = ("ItemsPerMessage", "BytesPerMessage")
_REQUEST_IDS = 2**31 - 1

# Per connection: (component, variable, instance) -> the station's value (None: it has none),
# and the limits already asked for on it.
_KNOWN: weakref.WeakKeyDictionary[StationConnection, dict[tuple[str, str, str], int | None]] = (
    weakref.WeakKeyDictionary()
)
_ASKED: weakref.WeakKeyDictionary[StationConnection, set[tuple[str, str, str]]] = (
    weakref.WeakKeyDictionary()
)


async def send_within_limits(
    conn: StationConnection, action: str, payload: dict, timeout_s: float, send: Send
) -> dict:
    """`send(conn, action, payload, timeout)`, as several requests when the station's limits ask
    for it; the merged answer. Raises `ValueError` (nothing sent) for one item alone too big."""
    if conn.version == OCPP16 and action == "GetConfiguration":
        return await _get_configuration(conn, payload, timeout_s, send)
    split = SPLITS.get(action) if conn.version == OCPP201 else None
    items = payload.get(split.items) if split else None
    if split is None or not isinstance(items, list) or len(items) < 2:
        return _learn(conn, action, await send(conn, action, payload, timeout_s))
    deadline = time.monotonic() + timeout_s
    await _look_up(conn, split.component, action)
    max_items = await _limit(conn, split.component, "ItemsPerMessage", action, deadline, send)
    max_bytes = await _limit(conn, split.component, "BytesPerMessage", action, deadline, send)
    chunks = chunk(action, payload, split.items, max_items, max_bytes)
    if len(chunks) == 1:
        return _learn(conn, action, await send(conn, action, payload, _left(deadline)))
    log.info(
        "%s: %s of %d items sent as %d requests (limits: %s items, %s bytes)",
        conn.station_id,
        action,
        len(items),
        len(chunks),
        max_items,
        max_bytes,
    )
    answers: list[dict] = []
    for number, part in enumerate(chunks):
        if action == "GetReport" and number:  # each report its own request id
            part = {**part, "requestId": (int(payload["requestId"]) + number) % _REQUEST_IDS}
        try:
            answers.append(_learn(conn, action, await send(conn, action, part, _left(deadline))))
        except CommandError as err:
            done = sum(len(p[split.items]) for p in chunks[:number])
            raise CommandError(
                err.kind, f"{err} (after {done} of {len(items)} items were answered)", err.details
            ) from err
    return _merge(split, answers)


_MAX_KEYS = ("Configuration", "GetConfigurationMaxKeys", "")


async def _get_configuration(
    conn: StationConnection, payload: dict, timeout_s: float, send: Send
) -> dict:
    keys = payload.get("key")
    if not isinstance(keys, list) or len(keys) < 2:
        return _learn_16(conn, await send(conn, "GetConfiguration", payload, timeout_s))
    deadline = time.monotonic() + timeout_s
    known = _KNOWN.setdefault(conn, {})
    if _MAX_KEYS not in known:
        reported = await _reported_key(conn, "GetConfigurationMaxKeys")
        if reported is not None:
            known[_MAX_KEYS] = reported
        elif _MAX_KEYS not in _ASKED.setdefault(conn, set()):
            _ASKED[conn].add(_MAX_KEYS)
            question = {"key": ["GetConfigurationMaxKeys"]}
            _learn_16(conn, await send(conn, "GetConfiguration", question, _left(deadline)))
    most = known.get(_MAX_KEYS)
    if most is None or len(keys) <= most:
        return _learn_16(conn, await send(conn, "GetConfiguration", payload, _left(deadline)))
    log.info("%s: GetConfiguration of %d keys sent %d at a time", conn.station_id, len(keys), most)
    merged: dict[str, list] = {"configurationKey": [], "unknownKey": []}
    for start in range(0, len(keys), most):
        part = {**payload, "key": keys[start : start + most]}
        answer = _learn_16(conn, await send(conn, "GetConfiguration", part, _left(deadline)))
        for field in merged:
            merged[field].extend(answer.get(field) or [])
    return {field: items for field, items in merged.items() if items}


def _learn_16(conn: StationConnection, answer: dict) -> dict:
    for item in answer.get("configurationKey") or []:
        if item.get("key") == "GetConfigurationMaxKeys":
            _KNOWN.setdefault(conn, {})[_MAX_KEYS] = _positive(item.get("value"))
    return answer


async def _reported_key(conn: StationConnection, key: str) -> int | None:
    """A 1.6 configuration key's value in the station's stored configuration."""
    async with conn.services.store.fast.connection() as db:
        cur = await db.execute(
            "SELECT attributes FROM station_device_model "
            "WHERE station_id = %s AND component_key = 'Configuration' AND variable_key = %s",
            (conn.station_id, key),
        )
        row = await cur.fetchone()
    for attribute in (row[0] if row else None) or []:
        return _positive(attribute.get("value"))
    return None


def chunk(
    action: str, payload: dict, field: str, max_items: int | None, max_bytes: int | None
) -> list[dict]:
    """The request as consecutive parts, each within both limits (greedy, order kept)."""
    parts: list[dict] = []
    current: list = []
    for item in payload[field]:
        candidate = [*current, item]
        too_many = max_items is not None and len(candidate) > max_items
        size = frame_bytes(action, payload, field, candidate)
        too_big = max_bytes is not None and size > max_bytes
        if current and (too_many or too_big):
            parts.append({**payload, field: current})
            candidate = [item]
        if max_bytes is not None and frame_bytes(action, payload, field, candidate) > max_bytes:
            raise ValueError(
                f"one {action} item alone exceeds the station's BytesPerMessage ({max_bytes})"
            )
        current = candidate
    parts.append({**payload, field: current})
    return parts


def frame_bytes(action: str, payload: dict, field: str, items: list) -> int:
    """Size of the CALL frame carrying `items` (with a 36-character message id)."""
    return len(orjson.dumps([2, "0" * 36, action, {**payload, field: items}]))


def _merge(split: _Split, answers: list[dict]) -> dict:
    if split.results is None:  # GetReport: Accepted if any part was
        statuses = [a.get("status") for a in answers]
        for answer in answers:
            if answer.get("status") == "Accepted":
                return answer
        log.info("GetReport parts answered %s", statuses)
        return answers[0]
    merged = [result for answer in answers for result in answer.get(split.results, [])]
    return {split.results: merged}


async def _look_up(conn: StationConnection, component: str, instance: str) -> None:
    """The limits in the station's reported device model, once per connection. A model that has
    one of the two limits for this action and not the other says the station has no other: it
    is not asked then."""
    known = _KNOWN.setdefault(conn, {})
    keys = [(component, variable, instance) for variable in _LIMITS]
    asked = _ASKED.setdefault(conn, set())
    if all(key in known or key in asked for key in keys):
        return
    reported = await _reported(conn, component, instance)
    if not reported:
        return
    for key in keys:
        if key not in known:
            known[key] = reported.get(key[1])
        asked.add(key)


async def _limit(
    conn: StationConnection, component: str, variable: str, instance: str, deadline, send: Send
) -> int | None:
    """The limit as known, else asked of the station (one variable per GetVariables, once)."""
    known = _KNOWN.setdefault(conn, {})
    key = (component, variable, instance)
    asked = _ASKED.setdefault(conn, set())
    if key not in known and key not in asked:
        asked.add(key)
        request = {
            "getVariableData": [
                {
                    "component": {"name": component},
                    "variable": {"name": variable, "instance": instance},
                }
            ]
        }
        try:
            _learn(conn, "GetVariables", await send(conn, "GetVariables", request, _left(deadline)))
        except CommandError as err:
            if err.kind != "rejected":  # timeout, offline: the request itself would fail too
                raise
            log.info("%s: no %s.%s[%s]: %s", conn.station_id, component, variable, instance, err)
    return known.get(key)


async def _reported(
    conn: StationConnection, component: str, instance: str
) -> dict[str, int | None]:
    """ItemsPerMessage / BytesPerMessage of `instance` in the station's reported device model."""
    async with conn.services.store.fast.connection() as db:
        cur = await db.execute(
            "SELECT variable_key, attributes FROM station_device_model "
            "WHERE station_id = %s AND component_key = %s AND variable_key = ANY(%s)",
            (conn.station_id, component, [f"{v}[{instance}]" for v in _LIMITS]),
        )
        rows = await cur.fetchall()
    values: dict[str, int | None] = {}
    for variable_key, attributes in rows:
        values[variable_key.split("[", 1)[0]] = next(
            (
                _positive(a.get("value"))
                for a in attributes or []
                if a.get("type", "Actual") == "Actual"
            ),
            None,
        )
    return values


def _learn(conn: StationConnection, action: str, answer: dict) -> dict:
    """Remember limits a GetVariables answer carries (e.g. an operator asked for them)."""
    if action != "GetVariables":
        return answer
    for result in answer.get("getVariableResult") or []:
        component = (result.get("component") or {}).get("name")
        variable = result.get("variable") or {}
        if (
            component in ("DeviceDataCtrlr", "MonitoringCtrlr")
            and variable.get("name") in _LIMITS
            and variable.get("instance")
            and result.get("attributeStatus") == "Accepted"
            and result.get("attributeType", "Actual") == "Actual"
        ):
            key = (component, variable["name"], variable["instance"])
            _KNOWN.setdefault(conn, {})[key] = _positive(result.get("attributeValue"))
    return answer


def _positive(value: object) -> int | None:
    try:
        number = int(str(value).strip())
    except ValueError:
        return None
    return number if number > 0 else None


def _left(deadline: float) -> float:
    """What remains of the command's timeout (at least a moment, so a late part still fails as
    a timeout rather than never being sent)."""
    return max(deadline - time.monotonic(), 0.1)
