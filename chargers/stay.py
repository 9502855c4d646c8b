"""`ampflow simulate --stay`: one charger that boots and stays connected, answering everything
the CSMS sends (remote starts, resets, firmware, diagnostics, ...), until Ctrl-C or SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import signal

from chargers.charger import Charger
from chargers.config import ChargerConfig


async def stay(config: ChargerConfig, *, announce=print, handle_signals: bool = True) -> None:
    """Run until cancelled or signalled; the charger powers off cleanly, keeping its state."""
    charger = Charger(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM) if handle_signals else ()
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    await charger.start()
    try:
        status = await charger.wait_boot_answer(timeout_s=60)
        announce(
            f"{config.station_id} (OCPP {config.version}) boot: {status}; "
            f"journal: {config.journal_file or 'in memory'}; Ctrl-C to stop"
        )
        await stop.wait()
    finally:
        await charger.stop()
        for sig in signals:
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)
