"""Re-sends the local authorization list in full when a station that holds one boots.

A rebooted or replaced charger may have lost its list, so a boot wakes the station's
`LocalListSync` with `full=True` (stations that never accepted a list get theirs from the sync
that enabling the list started). Subscribe it in `gateway/server.py`:
`self.services.events.subscribe(LocalListListener(client, self.store, task_queue))`.
The work runs in its own task, never on the handler's path.
"""

from __future__ import annotations

import asyncio
import logging

import psycopg
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError

from domain.access import (
    LOCAL_LIST_SYNC,
    SIGNAL_LOCAL_LIST_CHANGED,
    LocalListChanged,
    LocalListSyncInput,
    local_list_workflow_id,
)
from gateway import events
from gateway.station_store import StationStore
from workflows import contract

log = logging.getLogger(__name__)

_HOLDS_A_LIST = "SELECT enabled AND version > 0 FROM local_lists WHERE station_id = %s"


class LocalListListener:
    def __init__(
        self, client: Client, store: StationStore, task_queue: str, retry_s: int = 300
    ) -> None:
        self.client = client
        self.store = store
        self.task_queue = task_queue
        self.retry_s = retry_s
        self._tasks: set[asyncio.Task] = set()

    def __call__(self, event: events.StationEvent) -> None:
        if isinstance(event, events.Booted) and event.holds_local_list:  # else nothing to send
            task = asyncio.create_task(self.resend(event.station_id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def resend(self, station_id: str) -> None:
        """Wake the station's list sync with a full push, if it holds an accepted list."""
        try:
            async with self.store.pool.connection() as conn:
                row = await (await conn.execute(_HOLDS_A_LIST, (station_id,))).fetchone()
            if not row or not row[0]:
                return
            change = LocalListChanged(full=True, requested_by="boot")
            await self.client.start_workflow(
                LOCAL_LIST_SYNC,
                LocalListSyncInput(
                    station_id=station_id, full=True, requested_by="boot", retry_s=self.retry_s
                ),
                id=local_list_workflow_id(station_id),
                task_queue=self.task_queue,
                start_signal=SIGNAL_LOCAL_LIST_CHANGED,
                start_signal_args=[change],
                search_attributes=TypedSearchAttributes(
                    [SearchAttributePair(contract.STATION_ID, station_id)]
                ),
            )
        except (RPCError, OSError, psycopg.Error) as err:
            log.warning("could not re-send the local list of %s: %s", station_id, err)
