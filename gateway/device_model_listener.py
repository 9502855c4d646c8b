"""Stores station device models: 2.0.1 NotifyReport parts (answers to GetBaseReport).

The 2.0.1 NotifyReport handler publishes a `DeviceModelReport` per part on the event bus; the
maintenance listener hands it to `DeviceModelStore` off the handler's path. Rows are upserted
per (station, component, variable), so a later report refreshes what an earlier one said.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import orjson

from domain.maintenance import DeviceModelEntry, device_model_entry
from gateway.events import StationEvent
from gateway.station_store import StationStore

_UPSERT = """
INSERT INTO station_device_model
    (station_id, component_key, variable_key, component, variable, attributes,
     characteristics, request_id, updated_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (station_id, component_key, variable_key) DO UPDATE SET
    component = EXCLUDED.component, variable = EXCLUDED.variable,
    attributes = EXCLUDED.attributes, characteristics = EXCLUDED.characteristics,
    request_id = EXCLUDED.request_id, updated_at = EXCLUDED.updated_at
"""


@dataclass(frozen=True, slots=True)
class DeviceModelReport(StationEvent):
    """One NotifyReport part: `report_data` is its `reportData` list as sent."""

    request_id: int
    seq_no: int
    tbc: bool = False
    report_data: list[dict] = field(default_factory=list)


def _json(value: object) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


class DeviceModelStore:
    def __init__(self, store: StationStore) -> None:
        self.store = store

    async def save(
        self,
        station_id: str,
        entries: list[DeviceModelEntry],
        at: datetime,
        request_id: int | None = None,
    ) -> None:
        rows = [
            (
                station_id,
                e.component_key[:200],
                e.variable_key[:200],
                _json(e.component),
                _json(e.variable),
                _json(e.attributes),
                _json(e.characteristics),
                request_id,
                at,
            )
            for e in entries
        ]
        if not rows:
            return
        async with self.store.pool.connection() as conn, conn.transaction():
            async with conn.cursor() as cur:
                await cur.executemany(_UPSERT, rows)

    async def save_report(self, report: DeviceModelReport) -> None:
        entries = [device_model_entry(item) for item in report.report_data]
        await self.save(report.station_id, entries, report.at, report.request_id)
