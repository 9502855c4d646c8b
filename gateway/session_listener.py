"""Forwards the station's link to its running sessions: disconnects start a session's offline
guard, reconnects stop it. The sessions of a station are looked up in the store (both OCPP
versions alike) by the same statement that stores an update for each in the station outbox;
delivered from there in order (ADR-005) — never dropped. (Connector statuses reach the sessions
the same way, stored with the status itself: `SessionBridge.connector_status`.)
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque

from domain.session import LinkUpdate
from gateway import events
from gateway.outbox import StationOutbox
from gateway.station_store import StationStore

log = logging.getLogger(__name__)


class SessionListener:
    def __init__(self, store: StationStore, outbox: StationOutbox) -> None:
        self.store = store
        self.outbox = outbox
        self._links: deque[events.StationEvent] = deque()
        self._drainer: asyncio.Task | None = None

    async def __call__(self, event: events.StationEvent) -> None:
        if isinstance(event, events.Connected | events.Disconnected):
            # Off the connection's path (a reconnect storm is served at once), in order.
            self._links.append(event)
            if self._drainer is None or self._drainer.done():
                self._drainer = asyncio.create_task(self._drain_links(), name="session-links")

    async def _drain_links(self) -> None:
        while self._links:
            event = self._links.popleft()
            update = LinkUpdate(timestamp=event.at, online=isinstance(event, events.Connected))
            attempt = 0
            while True:
                try:
                    await self.outbox.put_for_sessions(event.station_id, "link", update)
                    break
                except Exception as err:  # the store is down: keep the event, try again
                    if self.store.pool.closed:
                        return  # the gateway is stopping
                    log.warning("link update for %s not stored (%s)", event.station_id, err)
                    await asyncio.sleep(min(0.2 * 2**attempt, 10))
                    attempt += 1
