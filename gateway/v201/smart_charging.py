"""K. Smart charging: NotifyEVChargingNeeds and NotifyEVChargingSchedule (K15-K17),
NotifyChargingLimit (K12), ClearedChargingLimit (K13).

The EV's needs are published (`events.EVChargingNeeds`: its maximum current caps its share at a
managed site, `gateway/site_load_listener.py`). At a station of a managed site they are
answered Accepted (the site's `SiteLoad` workflow sends the profile); elsewhere the CSMS offers
what the connector and the EV can take (`gateway/v201/ev_schedule.py`).

The EV's own schedule is stored (a station event) and checked against the profiles the charger
accepted from us on that EVSE (`gateway/charging_profiles.py`): Accepted when it stays within,
Rejected with the reason when it asks for more — then the site's workflow (or, unmanaged,
`ev_schedule`) sends its profile again (renegotiation, K15.FR.13 / K16.FR.08 / K17.FR.13).
Where we set no profile there is nothing to exceed: Accepted (the charger checked it already,
K15.FR.07). External limits set at the station are acknowledged and recorded.
"""

from __future__ import annotations

from datetime import UTC, datetime

from domain.ev_schedules import ev_schedule_excess
from gateway import charging_profiles, events
from gateway.connection import StationConnection
from gateway.timestamps import parse
from gateway.v201 import ev_schedule
from gateway.v201.common import status_info

_MANAGED = (
    "SELECT 1 FROM stations s JOIN site_load_limits l ON l.location_id = s.location_id "
    "WHERE s.id = %s"
)


async def notify_ev_charging_needs(conn: StationConnection, payload: dict, unique_id: str) -> dict:
    needs = payload["chargingNeeds"]
    params = needs.get("acChargingParameters") or needs.get("dcChargingParameters") or {}
    departure = needs.get("departureTime")
    await conn.services.events.publish(
        events.EVChargingNeeds(
            conn.station_id,
            datetime.now(UTC),
            payload["evseId"],
            max_current_a=params.get("evMaxCurrent"),
            phases=None,
            departure=parse(departure) if departure else None,
        )
    )
    if await _managed(conn):
        return {"status": "Accepted"}
    return await ev_schedule.answer_needs(conn, payload, unique_id)


async def notify_charging_limit(conn: StationConnection, payload: dict, unique_id: str) -> dict:
    await conn.services.store.record_event(
        conn.station_id,
        "ChargingLimitSet",
        {
            "source": payload["chargingLimit"]["chargingLimitSource"],
            "evseId": payload.get("evseId"),
        },
    )
    return {}


async def cleared_charging_limit(conn: StationConnection, payload: dict, unique_id: str) -> dict:
    await conn.services.store.record_event(
        conn.station_id,
        "ChargingLimitCleared",
        {"source": payload["chargingLimitSource"], "evseId": payload.get("evseId")},
    )
    return {}


async def notify_ev_charging_schedule(
    conn: StationConnection, payload: dict, unique_id: str
) -> dict:
    evse_id, schedule = payload["evseId"], payload["chargingSchedule"]
    await charging_profiles.settled(conn)  # our profile it answered just now is stored
    offered = await charging_profiles.offered(conn.services.store, conn.station_id, evse_id)
    excess = ev_schedule_excess(schedule, parse(payload["timeBase"]), offered, evse_id)
    status = "Accepted" if excess is None else "Rejected"
    await conn.services.store.record_event(
        conn.station_id,
        "EVChargingSchedule",
        {
            "evseId": evse_id,
            "timeBase": payload["timeBase"],
            "chargingSchedule": schedule,
            "status": status,
            "reason": excess,
        },
    )
    if excess is None:
        return {"status": "Accepted"}
    await conn.services.events.publish(
        events.EVScheduleRejected(conn.station_id, datetime.now(UTC), evse_id, excess)
    )
    if not await _managed(conn):
        conn.after_answer(unique_id, lambda: ev_schedule.offer_again(conn, evse_id))
    return {"status": "Rejected", "statusInfo": status_info("ExceedsLimit", excess)}


async def _managed(conn: StationConnection) -> bool:
    """Whether the station's site has load management (its workflow sends the profiles)."""
    return bool(await conn.services.store.fetch_dicts(_MANAGED, (conn.station_id,)))
