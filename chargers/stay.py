"""`ampflow simulate --stay`: one charger that boots and stays connected, answering everything
the CSMS sends (remote starts, resets, firmware, diagnostics, ...), until it is stopped."""

from __future__ import annotations

import asyncio

from chargers.charger import Charger
from chargers.config import ChargerConfig


async def stay(config: ChargerConfig, *, announce=print) -> None:
    """Run until cancelled (Ctrl-C); the charger powers off cleanly, keeping its state."""
    charger = Charger(config)
    await charger.start()
    try:
        status = await charger.wait_boot_answer(timeout_s=60)
        announce(
            f"{config.station_id} (OCPP {config.version}) boot: {status}; "
            f"journal: {config.journal_file or 'in memory'}; Ctrl-C to stop"
        )
        await asyncio.Event().wait()
    finally:
        await charger.stop()
