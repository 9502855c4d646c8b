"""J. Meter values: MeterValues (J01), readings outside transactions (those come with
TransactionEvent)."""

from __future__ import annotations

from gateway import events
from gateway.connection import StationConnection
from gateway.meter_values import live_update, sample_rows


async def meter_values(conn: StationConnection, payload: dict, unique_id: str) -> dict:
    """Store every sampled value (evseId 0 is the main meter) and publish the newest reading."""
    evse_id = payload["evseId"]
    rows = sample_rows(conn.station_id, evse_id, None, None, payload["meterValue"])
    await conn.services.recorder.store_samples(rows)
    update = live_update(rows)
    if update is not None:
        await conn.services.events.publish(
            events.MeterReading(
                conn.station_id,
                update.timestamp,
                evse_id,
                None,
                update.energy_wh,
                update.power_w,
                update.soc_percent,
            )
        )
    return {}
