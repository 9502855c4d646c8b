"""A station outbox on real PostgreSQL whose rows are never delivered (as while Temporal is
behind), for tests of what the gateway stores: `async with stalled_outbox(...) as outbox`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from ampflow.load_setup import register_load_stations
from gateway.outbox import OutboxRow, StationOutbox
from gateway.station_store import StationStore


class Stalled:
    """A deliverer that never finishes: rows stay in the outbox."""

    async def __call__(self, row: OutboxRow) -> None:
        await asyncio.Event().wait()


@asynccontextmanager
async def stalled_outbox(
    database_url: str, prefix: str, stations: int
) -> AsyncIterator[StationOutbox]:
    """`stations` registered stations `{prefix}00000…`, and an outbox (no Temporal client)."""
    register_load_stations(
        database_url, prefix, stations, "stalled-outbox-secret-16", f"{prefix}TAG"
    )
    store = StationStore(database_url)
    await store.open()
    outbox = StationOutbox(None, store, Stalled())  # type: ignore[arg-type]  # no client
    try:
        yield outbox
    finally:
        await outbox.close()
        await store.close()
