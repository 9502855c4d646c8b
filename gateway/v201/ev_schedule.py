"""K15-K17 at a station no site manages: the schedule the CSMS offers an ISO 15118 EV.

Where no site's load management sets limits, the CSMS can still offer a schedule: what the
connector and the EV can take (the connector's rated current, capped by the EV's maximum; 32 A
per phase when neither is known). So the EV's needs are answered Accepted, and once answered a
`TxProfile` for the EVSE's running transaction follows (K15.FR.03); with no transaction on that
EVSE there is nothing to attach one to, and the needs are Rejected. The profile goes out a second
after the answer (`OFFER_AFTER_S`). An EV schedule that exceeds the profile is Rejected and the
profile sent again (renegotiation, K15.FR.13 / K17.FR.13). At a managed site the site's
`SiteLoad` workflow does all of this instead (`workflows/site_load.py`).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import orjson

from domain.site_load_profiles import profile_params, tx_profile_id
from gateway import charging_profiles
from gateway.connection import StationConnection
from gateway.v201.common import status_info
from gateway.v201.smart_commands import set_charging_profile

log = logging.getLogger(__name__)

UNKNOWN_LIMIT_A = 32.0  # per phase, when neither the connector nor the EV says
# The profile follows the needs' answer after this pause, as the managed path's does (through the
# site's workflow): a charger still taking in our answer is not handed the CALL in the same
# instant (tzi-OCTT TC_K_57 resets its "profile received" flag after reading the answer).
OFFER_AFTER_S = 1.0
_PHASES = {"AC_single_phase": 1, "AC_two_phase": 2, "AC_three_phase": 3}

_RUNNING_TRANSACTION = (
    "SELECT t.transaction_id FROM charger_transactions t JOIN sessions s ON s.id = t.session_id "
    "WHERE t.station_id = %s AND s.connector_id = %s AND s.stopped_at IS NULL "
    "ORDER BY s.started_at DESC NULLS LAST LIMIT 1"
)
_RATED = "SELECT max_amperage FROM connector_specs WHERE station_id = %s AND connector_id = %s"
_OUR_TX_PROFILE = (
    "SELECT profile FROM charging_profiles WHERE station_id = %s AND evse_id = %s "
    "AND profile_id = %s AND purpose = 'TxProfile'"
)


async def answer_needs(conn: StationConnection, payload: dict, unique_id: str) -> dict:
    """Accepted with a TxProfile to follow, or Rejected when the EVSE has no transaction."""
    evse_id = int(payload["evseId"])
    store = conn.services.store
    rows = await store.fetch_dicts(_RUNNING_TRANSACTION, (conn.station_id, evse_id))
    if not rows:
        return {
            "status": "Rejected",
            "statusInfo": status_info("NoTransaction", f"no transaction runs on EVSE {evse_id}"),
        }
    needs = payload["chargingNeeds"]
    params = needs.get("acChargingParameters") or needs.get("dcChargingParameters") or {}
    rated = await store.fetch_dicts(_RATED, (conn.station_id, evse_id))
    limits = [float(v) for v in (params.get("evMaxCurrent"), _first(rated)) if v is not None]
    limit = min(limits) if limits else UNKNOWN_LIMIT_A
    phases = _PHASES.get(needs.get("requestedEnergyTransfer", ""), 0)
    profile = profile_params(
        "tx",
        evse_id,
        [(0, limit)],
        datetime.now(UTC),
        phases,
        transaction_id=rows[0]["transaction_id"],
    )
    _, request = set_charging_profile(profile)
    conn.after_answer(unique_id, lambda: _send(conn, request, after_s=OFFER_AFTER_S))
    return {"status": "Accepted"}


async def offer_again(conn: StationConnection, evse_id: int) -> None:
    """Send the EVSE's TxProfile again (the EV asked for more than it allows)."""
    rows = await conn.services.store.fetch_dicts(
        _OUR_TX_PROFILE, (conn.station_id, evse_id, tx_profile_id(evse_id))
    )
    if not rows:
        log.info("%s: no profile of ours on EVSE %s to offer again", conn.station_id, evse_id)
        return
    profile = rows[0]["profile"]
    profile = orjson.loads(profile) if isinstance(profile, str | bytes) else profile
    await _send(conn, {"evseId": evse_id, "chargingProfile": profile})


async def _send(conn: StationConnection, request: dict, after_s: float = 0.0) -> None:
    if after_s:
        await asyncio.sleep(after_s)
    try:
        answer = await charging_profiles.sent_and_noted(
            conn,
            "SetChargingProfile",
            request,
            lambda: conn.call("SetChargingProfile", request),
        )
    except Exception as error:  # offline or refused: the EV charges within the charger's limits
        log.info("%s: EV schedule profile not set (%s)", conn.station_id, error)
        return
    if answer.get("status") != "Accepted":
        log.info("%s: EV schedule profile %s", conn.station_id, answer.get("status"))


def _first(rows: list[dict]) -> int | None:
    return rows[0]["max_amperage"] if rows else None
