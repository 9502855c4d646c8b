"""Forwards station events that matter to running sessions: connector status and the link.

Status changes feed idle detection; disconnects start a session's offline guard, reconnects stop
it. The sessions of a station are looked up in the store (both OCPP versions alike).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque

from temporalio.client import Client
from temporalio.service import RPCError

from domain.session import ConnectorStatusUpdate, LinkUpdate
from gateway import events
from gateway.station_store import StationStore
from workflows import contract

log = logging.getLogger(__name__)


class SessionListener:
    def __init__(self, client: Client, store: StationStore) -> None:
        self.client = client
        self.store = store
        self._links: deque[events.StationEvent] = deque()
        self._drainer: asyncio.Task | None = None

    async def __call__(self, event: events.StationEvent) -> None:
        if isinstance(event, events.ConnectorStatusChanged):
            await self._status(event)
        elif isinstance(event, events.Connected | events.Disconnected):
            # Off the connection's path (a reconnect storm is served at once), in order.
            self._links.append(event)
            if self._drainer is None or self._drainer.done():
                self._drainer = asyncio.create_task(self._drain_links(), name="session-links")

    async def _drain_links(self) -> None:
        while self._links:
            event = self._links.popleft()
            online = isinstance(event, events.Connected)
            try:
                sessions = await self.store.active_sessions(event.station_id)
            except Exception as err:  # the store is closing (gateway stop) or down
                log.info("no link update for %s: %s", event.station_id, err)
                continue
            for session_id, _ in sessions:
                await self._signal(
                    session_id, contract.SIGNAL_LINK, LinkUpdate(timestamp=event.at, online=online)
                )

    async def _status(self, event: events.ConnectorStatusChanged) -> None:
        update = ConnectorStatusUpdate(
            timestamp=event.at, status=event.status, error_code=event.error_code
        )
        connector = event.evse_id if event.evse_id is not None else event.connector_id
        for session_id, session_connector in await self.store.active_sessions(event.station_id):
            if session_connector == connector:
                await self._signal(session_id, contract.SIGNAL_CONNECTOR_STATUS, update)

    async def _signal(self, session_id: str, name: str, payload) -> None:
        try:
            await self.client.get_workflow_handle(session_id).signal(name, payload)
        except RPCError as err:
            log.info("could not signal %s to %s: %s", name, session_id, err)
