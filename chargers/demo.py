"""One charging session, start to finish, as `ampflow simulate` shows it.

The charger boots, reports Available, authorizes the card, starts, sends `meter_values` readings
`interval_s` apart (the meter integrates its power over real time, or faster with `speed`), stops
and powers off. What it was told is returned; `refused` names the step that was refused.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from chargers.charger import Charger
from chargers.config import ChargerConfig


@dataclass
class DemoSession:
    station_id: str
    boot_status: str | None = None
    authorize_status: str | None = None
    start_status: str | None = None
    transaction_id: str | int | None = None
    meter_start_wh: int = 0
    meter_stop_wh: int = 0
    started_at: datetime | None = None
    stopped_at: datetime | None = None

    @property
    def refused(self) -> str | None:
        """The refused step (boot, authorize, start), or None when the session went through."""
        for step, status in (
            ("boot", self.boot_status),
            ("authorize", self.authorize_status),
            ("start", self.start_status),
        ):
            if status != "Accepted":
                return step
        return None


async def run_demo_session(
    config: ChargerConfig,
    id_tag: str,
    *,
    connector: int = 1,
    meter_values: int = 5,
    interval_s: float = 0.5,
    skip_authorize: bool = False,
    boot_timeout_s: float = 30.0,
) -> DemoSession:
    """Run one session on a fresh charger; returns what it saw."""
    key = "SampledDataCtrlr/TxUpdatedInterval" if config.v201 else "MeterValueSampleInterval"
    config.configuration.setdefault(key, "0")  # the demo sends its readings itself
    result = DemoSession(config.station_id)
    charger = Charger(config)
    await charger.start()
    try:
        result.boot_status = await charger.wait_boot_answer(boot_timeout_s)
        if result.boot_status != "Accepted":
            return result
        await charger.wait_booted()
        if skip_authorize:
            result.authorize_status = "Accepted"
        else:
            result.authorize_status = await charger.sessions.authorize(id_tag)
            if result.authorize_status != "Accepted":
                return result
        await charger.sessions.plug(connector)
        tx = await charger.sessions.start(connector, id_tag)
        if tx is None:
            return result
        result.transaction_id, result.started_at = tx.transaction_id, tx.started_at
        result.meter_start_wh = tx.meter_start_wh
        refused = charger.journal.find("tx_refused")
        result.start_status = refused[-1]["status"] if refused else "Accepted"
        if tx.authorized:
            for _ in range(meter_values):
                await asyncio.sleep(interval_s)
                charger.sessions.send_meter_values(connector)
            await charger.sessions.stop(connector, "Local")
        result.meter_stop_wh = tx.meter_stop_wh or tx.meter_start_wh
        result.stopped_at = tx.stopped_at
        while len(charger.outbox) and charger.online:
            await asyncio.sleep(0.05)
        return result
    finally:
        await charger.stop()
