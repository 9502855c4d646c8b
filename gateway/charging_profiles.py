"""The charging profiles each charger accepted from us (`charging_profiles`), kept as its
answers arrive: an accepted SetChargingProfile replaces the profile with the same id (or EVSE,
purpose and stack level, as the charger does), an accepted ClearChargingProfile removes what
it matched. Both versions, whoever sent them (a site's load management, an operator).

`offered` reads them back for an EVSE: what a 2.0.1 EV's charging schedule is checked against.
TxProfiles of transactions that ended are left out. A charger may send the EV's schedule right
after it answered our profile, before that answer is stored: `settled` waits for the profile
commands in flight on the connection (`sent_and_noted` marks them; a batch stores its answers
together at its end).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable

import orjson

from domain.ev_schedules import OfferedProfile
from gateway.connection import StationConnection
from gateway.station_store import StationStore

log = logging.getLogger(__name__)

ACTIONS = ("SetChargingProfile", "ClearChargingProfile")
SETTLE_S = 3.0  # the longest an EV schedule waits for our profile answers to be stored
_in_flight: weakref.WeakKeyDictionary[StationConnection, int] = weakref.WeakKeyDictionary()
_settled: weakref.WeakKeyDictionary[StationConnection, asyncio.Event] = weakref.WeakKeyDictionary()

_DELETE_SAME = (
    "DELETE FROM charging_profiles WHERE station_id = %s "
    "AND (profile_id = %s OR (evse_id = %s AND purpose = %s AND stack_level = %s))"
)
_INSERT = (
    "INSERT INTO charging_profiles (station_id, profile_id, evse_id, purpose, stack_level, "
    "transaction_id, profile) VALUES (%s, %s, %s, %s, %s, %s, %s)"
)
_OFFERED = (
    "SELECT p.evse_id, p.purpose, p.stack_level, p.transaction_id, p.profile, p.set_at "
    "FROM charging_profiles p WHERE p.station_id = %s AND p.evse_id IN (%s, 0) "
    "AND (p.purpose <> 'TxProfile' OR NOT EXISTS ("
    "  SELECT 1 FROM charger_transactions t JOIN sessions s ON s.id = t.session_id "
    "  WHERE t.station_id = p.station_id AND t.transaction_id = p.transaction_id "
    "  AND s.stopped_at IS NOT NULL))"
)


def _set_parts(payload: dict) -> tuple[int, dict] | None:
    """(EVSE or connector, profile) of a SetChargingProfile of either version."""
    if "chargingProfile" in payload:
        return int(payload.get("evseId", 0)), payload["chargingProfile"]
    if "csChargingProfiles" in payload:
        return int(payload.get("connectorId", 0)), payload["csChargingProfiles"]
    return None


Answer = tuple[str, dict, dict]  # action, payload sent, the charger's answer


@contextlib.asynccontextmanager
async def in_flight(conn: StationConnection) -> AsyncIterator[None]:
    """Profile commands of this connection whose answers are not stored yet (see `settled`)."""
    _in_flight[conn] = _in_flight.get(conn, 0) + 1
    _settled.setdefault(conn, asyncio.Event()).clear()
    try:
        yield
    finally:
        _in_flight[conn] -= 1
        if _in_flight[conn] == 0:
            _settled[conn].set()


async def sent_and_noted(
    conn: StationConnection,
    action: str,
    payload: dict,
    send: Callable[[], Awaitable[dict]],
    notes: list[Answer] | None = None,
) -> dict:
    """`send()` the command; a profile command's accepted answer is stored before it returns,
    or kept in `notes` for the caller to store with others (`store_notes`)."""
    if action not in ACTIONS:
        return await send()
    async with in_flight(conn):
        response = await send()
        if notes is not None:
            notes.append((action, payload, response))
        else:
            await store_notes(conn, [(action, payload, response)])
        return response


async def store_notes(conn: StationConnection, answers: list[Answer]) -> None:
    """Store profile answers in one transaction (a best effort: the commands succeeded)."""
    statements = [
        statement
        for action, payload, response in answers
        for statement in _statements(conn.station_id, action, payload, response)
    ]
    if not statements:
        return
    try:
        async with conn.services.store.fast.connection() as db, db.transaction():
            async with db.pipeline():
                for query, params in statements:
                    await db.execute(query, params)
    except Exception:
        log.warning("%s: could not store profile answers", conn.station_id, exc_info=True)


async def settled(conn: StationConnection, timeout_s: float = SETTLE_S) -> None:
    """Until no profile command of this connection waits for its answer to be stored."""
    if _in_flight.get(conn, 0) == 0:
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(_settled[conn].wait(), timeout_s)


def _statements(station_id: str, action: str, payload: dict, response: dict) -> list[tuple]:
    """What keeps `charging_profiles` in step with an answer the charger gave."""
    if response.get("status") != "Accepted":
        return []
    if action == "SetChargingProfile":
        parts = _set_parts(payload)
        return _installed(station_id, *parts) if parts is not None else []
    if action == "ClearChargingProfile":
        return [_cleared(station_id, payload)]
    return []


def _installed(station_id: str, evse_id: int, profile: dict) -> list[tuple]:
    profile_id = int(profile.get("id", profile.get("chargingProfileId", 0)))
    purpose, stack = profile["chargingProfilePurpose"], int(profile["stackLevel"])
    tx = profile.get("transactionId")
    row = (
        station_id,
        profile_id,
        evse_id,
        purpose,
        stack,
        None if tx is None else str(tx),
        orjson.dumps(profile).decode(),
    )
    return [(_DELETE_SAME, (station_id, profile_id, evse_id, purpose, stack)), (_INSERT, row)]


def _cleared(station_id: str, payload: dict) -> tuple:
    """1.6: `id` or connectorId/purpose/stackLevel; 2.0.1: `chargingProfileId` or criteria."""
    criteria = payload.get("chargingProfileCriteria") or payload
    profile_id = payload.get("chargingProfileId", payload.get("id"))
    where, params = ["station_id = %s"], [station_id]
    if profile_id is not None:
        where.append("profile_id = %s")
        params.append(int(profile_id))
    for column, key in (
        ("evse_id", "evseId" if "chargingProfileCriteria" in payload else "connectorId"),
        ("purpose", "chargingProfilePurpose"),
        ("stack_level", "stackLevel"),
    ):
        if criteria.get(key) is not None:
            where.append(f"{column} = %s")
            params.append(criteria[key])
    query = f"DELETE FROM charging_profiles WHERE {' AND '.join(where)}"  # noqa: S608
    return query, tuple(params)


async def offered(store: StationStore, station_id: str, evse_id: int) -> list[OfferedProfile]:
    """The profiles in force on an EVSE (its own and the station-wide ones)."""
    rows = await store.fetch_dicts(_OFFERED, (station_id, evse_id))
    return [OfferedProfile.model_validate(row) for row in rows]
