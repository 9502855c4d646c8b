"""A charger simulator speaking OCPP 1.6J (the `ocpp` library in the charge-point role).

It runs boot -> status -> authorize -> start -> N meter values -> stop against a gateway, and is
used by the README demo and the end-to-end tests.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import websockets
from ocpp.v16 import ChargePoint, call

log = logging.getLogger(__name__)


@dataclass
class SimulatedSession:
    """What the charger saw during one simulated session."""

    station_id: str
    boot_status: str | None = None
    authorize_status: str | None = None
    start_status: str | None = None
    transaction_id: int | None = None
    meter_start_wh: int = 0
    meter_stop_wh: int = 0
    started_at: datetime | None = None
    stopped_at: datetime | None = None
    responses: list[tuple[str, dict]] = field(default_factory=list)


def basic_auth_header(station_id: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{station_id}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


class SimulatedChargePoint(ChargePoint):
    """An OCPP 1.6 charge point (the library validates every frame both ways)."""

    async def call(self, payload, suppress=False, unique_id=None, skip_schema_validation=False):
        """Like the library's `call`, but a CALLERROR raises instead of returning None."""
        return await super().call(payload, suppress, unique_id, skip_schema_validation)


def _iso(at: datetime) -> str:
    return at.isoformat(timespec="seconds").replace("+00:00", "Z")


async def run_session(
    url: str,
    station_id: str,
    password: str,
    id_tag: str,
    *,
    connector_id: int = 1,
    meter_values: int = 5,
    wh_per_interval: int = 1500,
    interval_s: float = 0.0,
    sample_spacing: timedelta = timedelta(minutes=1),
    meter_start_wh: int = 10_000,
    skip_authorize: bool = False,
) -> SimulatedSession:
    """Connect, charge once and disconnect; returns what the charger was told.

    Sample timestamps advance by `sample_spacing` (simulated time), so a session of a few
    seconds of wall-clock can represent an hour of charging.
    """
    result = SimulatedSession(station_id=station_id, meter_start_wh=meter_start_wh)
    async with websockets.connect(
        f"{url.rstrip('/')}/{station_id}",
        subprotocols=["ocpp1.6"],
        additional_headers=basic_auth_header(station_id, password),
        open_timeout=10,
    ) as ws:
        cp = SimulatedChargePoint(station_id, ws, response_timeout=30)
        reader = asyncio.create_task(cp.start())
        try:
            await _charge(
                cp,
                result,
                id_tag,
                connector_id,
                meter_values,
                wh_per_interval,
                interval_s,
                sample_spacing,
                meter_start_wh,
                skip_authorize,
            )
        finally:
            reader.cancel()
    return result


async def _charge(
    cp: SimulatedChargePoint,
    result: SimulatedSession,
    id_tag: str,
    connector_id: int,
    meter_values: int,
    wh_per_interval: int,
    interval_s: float,
    spacing: timedelta,
    meter_start_wh: int,
    skip_authorize: bool,
) -> None:
    boot = await cp.call(
        call.BootNotification(
            charge_point_vendor="Ampflow",
            charge_point_model="Simulator",
            firmware_version="sim-1.0",
        )
    )
    result.boot_status = boot.status
    await cp.call(
        call.StatusNotification(connector_id=connector_id, error_code="NoError", status="Available")
    )
    if not skip_authorize:
        auth = await cp.call(call.Authorize(id_tag=id_tag))
        result.authorize_status = auth.id_tag_info["status"]
        if result.authorize_status != "Accepted":
            return
    await cp.call(
        call.StatusNotification(connector_id=connector_id, error_code="NoError", status="Preparing")
    )
    started_at = datetime.now(UTC).replace(microsecond=0)
    start = await cp.call(
        call.StartTransaction(
            connector_id=connector_id,
            id_tag=id_tag,
            meter_start=meter_start_wh,
            timestamp=_iso(started_at),
        )
    )
    result.transaction_id = start.transaction_id
    result.start_status = start.id_tag_info["status"]
    result.started_at = started_at
    energy = meter_start_wh
    at = started_at
    if result.start_status == "Accepted":
        await cp.call(
            call.StatusNotification(
                connector_id=connector_id, error_code="NoError", status="Charging"
            )
        )
        for _ in range(meter_values):
            if interval_s:
                await asyncio.sleep(interval_s)
            energy += wh_per_interval
            at += spacing
            power_w = wh_per_interval * 3600 / max(spacing.total_seconds(), 1)
            await cp.call(
                call.MeterValues(
                    connector_id=connector_id,
                    transaction_id=start.transaction_id,
                    meter_value=[
                        {
                            "timestamp": _iso(at),
                            "sampledValue": [
                                {
                                    "value": str(energy),
                                    "measurand": "Energy.Active.Import.Register",
                                    "unit": "Wh",
                                    "context": "Sample.Periodic",
                                },
                                {
                                    "value": f"{power_w:.1f}",
                                    "measurand": "Power.Active.Import",
                                    "unit": "W",
                                    "context": "Sample.Periodic",
                                },
                            ],
                        }
                    ],
                )
            )
    stopped_at = at + spacing if result.start_status == "Accepted" else at
    await cp.call(
        call.StopTransaction(
            meter_stop=energy,
            timestamp=_iso(stopped_at),
            transaction_id=start.transaction_id,
            reason="Local",
            id_tag=id_tag,
        )
    )
    result.meter_stop_wh = energy
    result.stopped_at = stopped_at
    await cp.call(
        call.StatusNotification(connector_id=connector_id, error_code="NoError", status="Available")
    )
