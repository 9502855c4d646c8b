"""Forwards the station's link to its running sessions: disconnects start a session's offline
guard, reconnects stop it. The links queued meanwhile (a connect storm) are stored by one
statement, which looks up each station's sessions (both OCPP versions alike) and stores an
update for each in the station outbox; delivered from there in order (ADR-005). A store that is
away is waited for: no link is lost. (Connector statuses reach the sessions the same way,
stored with the status itself: `SessionBridge.connector_status`.)
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import deque

from domain.session import LinkUpdate
from gateway import events
from gateway.outbox import StationOutbox
from gateway.station_store import StationStore

log = logging.getLogger(__name__)

_MAX_BATCH = 500  # links in one statement


class SessionListener:
    def __init__(self, store: StationStore, outbox: StationOutbox) -> None:
        self.store = store
        self.outbox = outbox
        self._links: deque[events.StationEvent] = deque()
        self._drainer: asyncio.Task | None = None

    def __call__(self, event: events.StationEvent) -> None:
        if isinstance(event, events.Connected | events.Disconnected):
            # Off the connection's path (a reconnect storm is served at once), in order.
            self._links.append(event)
            if self._drainer is None or self._drainer.done():
                self._drainer = asyncio.create_task(self._drain_links(), name="session-links")

    async def _drain_links(self) -> None:
        # A connect storm's links share statements: whatever queued while one was written goes
        # in the next, in order. A link is ours alone (a station id checked at the handshake, our
        # clock's time), so a failed statement means the store is away: keep it, try again.
        attempt = 0
        while self._links:
            batch = list(itertools.islice(self._links, _MAX_BATCH))
            links = [(event.station_id, _link(event)) for event in batch]
            try:
                await self.outbox.put_links(links)
            except Exception as err:
                if self.store.pool.closed:
                    return  # the gateway is stopping
                log.warning("%d link updates not stored (%s)", len(batch), err)
                await asyncio.sleep(min(0.2 * 2**attempt, 10))
                attempt += 1
                continue
            attempt = 0
            for _ in batch:
                self._links.popleft()


def _link(event: events.StationEvent) -> LinkUpdate:
    return LinkUpdate(timestamp=event.at, online=isinstance(event, events.Connected))
