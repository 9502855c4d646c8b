"""Reports a 2.0.1 charger sends after an operator's request, kept as received.

- N02 NotifyMonitoringReport (after GetMonitoringReport)
- O04 NotifyDisplayMessages (after GetDisplayMessages)
- N09 NotifyCustomerInformation (after CustomerInformation)
- K09 ReportChargingProfiles (after GetChargingProfiles)
- L03 PublishFirmwareStatusNotification (a local controller publishing firmware)

Each part is stored in `station_reports` before it is answered (the answers carry nothing), and
the operator reads the assembled report from the API (`/stations/{id}/reports`).
"""

from __future__ import annotations

import orjson

from gateway.connection import StationConnection

_INSERT = (
    "INSERT INTO station_reports (station_id, kind, request_id, seq_no, tbc, data) "
    "VALUES (%s, %s, %s, %s, %s, %s)"
)


async def _store(conn: StationConnection, kind: str, payload: dict) -> dict:
    request_id = payload.get("requestId")
    async with conn.services.store.fast.connection() as db:
        await db.execute(
            _INSERT,
            (
                conn.station_id,
                kind,
                request_id,
                payload.get("seqNo"),
                bool(payload.get("tbc", False)),
                # jsonb cannot hold \u0000: drop it from what the charger sent
                orjson.dumps(payload).decode().replace("\\u0000", ""),
            ),
        )
    return {}


async def notify_monitoring_report(conn: StationConnection, payload: dict, unique_id: str) -> dict:
    return await _store(conn, "NotifyMonitoringReport", payload)


async def notify_display_messages(conn: StationConnection, payload: dict, unique_id: str) -> dict:
    return await _store(conn, "NotifyDisplayMessages", payload)


async def notify_customer_information(
    conn: StationConnection, payload: dict, unique_id: str
) -> dict:
    return await _store(conn, "NotifyCustomerInformation", payload)


async def report_charging_profiles(conn: StationConnection, payload: dict, unique_id: str) -> dict:
    return await _store(conn, "ReportChargingProfiles", payload)


async def publish_firmware_status(conn: StationConnection, payload: dict, unique_id: str) -> dict:
    return await _store(conn, "PublishFirmwareStatusNotification", payload)
