"""K. Smart charging: NotifyEVChargingNeeds (K15-K17), NotifyChargingLimit (K12),
ClearedChargingLimit (K13).

This CSMS computes no charging schedules. The EV's needs are answered Rejected ("service not
available": the station charges without a CSMS schedule) rather than Accepted, which would
promise a SetChargingProfile. External limits set at the station are acknowledged and recorded.
"""

from __future__ import annotations

from gateway.connection import StationConnection
from gateway.v201.common import status_info


async def notify_ev_charging_needs(conn: StationConnection, payload: dict, unique_id: str) -> dict:
    return {
        "status": "Rejected",
        "statusInfo": status_info("NoSmartCharging", "this CSMS provides no charging schedules"),
    }


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
