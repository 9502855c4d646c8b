"""Feeds the `SiteLoad` workflows from station events (subscribed in `gateway/server.py`).

Only stations at a managed site (a `site_load_limits` row for their location) count; which
those are is read from the store at most every `_MAP_TTL_S`. Events are queued and sent by one
background task in order, as signals-with-start of `site-load-{site}` (a workflow that was not
running is started). Meter readings are coalesced: the newest per connector, at most one batch
per site per `_METER_FLUSH_S`. A session start carries the charger's transaction id (2.0.1:
its own, from `charger_transactions`; 1.6: our session number) for the TxProfile.
"""

from __future__ import annotations

import asyncio
import logging
import time

from temporalio.client import Client

from domain import site_load as sl
from domain.site_load_messages import (
    EvNeeds,
    LinkSignal,
    MeterBatch,
    MeterSample,
    Renegotiate,
    SessionSignal,
    SiteLoadInput,
    StatusSignal,
)
from gateway import events
from gateway.protocol import OCPP201
from gateway.services import GatewayServices

log = logging.getLogger(__name__)

_MAP_TTL_S = 5.0
_METER_FLUSH_S = 1.0
_MANAGED = (
    "SELECT s.id, s.location_id FROM stations s "
    "JOIN site_load_limits l ON l.location_id = s.location_id"
)
_CHARGER_TX = (
    "SELECT transaction_id FROM charger_transactions WHERE station_id = %s AND session_id = %s"
)


class SiteLoadListener:
    def __init__(self, client: Client, services: GatewayServices, task_queue: str) -> None:
        self.client = client
        self.services = services
        self.task_queue = task_queue
        self._sites: dict[str, str] = {}
        self._loaded_at = -1e9
        self._queue: list[events.StationEvent] = []
        self._meters: dict[str, dict[tuple[str, str], MeterSample]] = {}
        self._drainer: asyncio.Task | None = None
        self._flusher: asyncio.Task | None = None
        self._closed = False

    def __call__(self, event: events.StationEvent) -> None:
        fresh = time.monotonic() - self._loaded_at <= _MAP_TTL_S
        if fresh and event.station_id not in self._sites:
            return  # not at a managed site (the common case: no queue, no task)
        if self._closed or not isinstance(
            event,
            events.SessionEvent
            | events.ConnectorStatusChanged
            | events.MeterReading
            | events.Connected
            | events.Disconnected
            | events.EVChargingNeeds
            | events.EVScheduleRejected,
        ):
            return
        self._queue.append(event)
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain(), name="site-load-events")

    async def close(self) -> None:
        self._closed = True
        for task in (self._drainer, self._flusher):
            if task is not None:
                task.cancel()

    async def site_of(self, station_id: str) -> str | None:
        """The managed site of a station (None: not at a managed site)."""
        if time.monotonic() - self._loaded_at > _MAP_TTL_S:
            rows = await self.services.store.fetch_dicts(_MANAGED, ())
            self._sites = {row["id"]: row["location_id"] for row in rows}
            self._loaded_at = time.monotonic()
        return self._sites.get(station_id)

    async def _drain(self) -> None:
        while self._queue:
            batch, self._queue = self._queue, []
            for event in batch:
                try:
                    await self._handle(event)
                except Exception as err:
                    log.warning("site load: could not forward %s: %s", type(event).__name__, err)

    async def _handle(self, event: events.StationEvent) -> None:
        if self.services.store.pool.closed:
            return
        site = await self.site_of(event.station_id)
        if site is None:
            return
        match event:
            case events.MeterReading():
                if event.power_w is None:
                    return
                sample = MeterSample(
                    station_id=event.station_id,
                    connector_id=event.connector_id,
                    session_id=event.session_id,
                    power_w=event.power_w,
                    at=event.at,
                )
                key = (event.station_id, event.session_id or str(event.connector_id))
                self._meters.setdefault(site, {})[key] = sample
                if self._flusher is None or self._flusher.done():
                    self._flusher = asyncio.create_task(self._flush_meters(), name="site-meters")
            case events.SessionEvent():
                await self._signal(site, sl.SIGNAL_SESSION, await self._session(event))
            case events.ConnectorStatusChanged():
                connector = event.evse_id if event.evse_id is not None else event.connector_id
                signal = StatusSignal(
                    station_id=event.station_id,
                    connector_id=connector,
                    status=event.status,
                    at=event.at,
                )
                await self._signal(site, sl.SIGNAL_STATUS, signal)
            case events.Connected() | events.Disconnected():
                connected = isinstance(event, events.Connected)
                signal = LinkSignal(
                    station_id=event.station_id,
                    connected=connected,
                    version=event.version if isinstance(event, events.Connected) else None,
                    at=event.at,
                )
                await self._signal(site, sl.SIGNAL_LINK, signal)
            case events.EVChargingNeeds():
                needs = EvNeeds(
                    station_id=event.station_id,
                    connector_id=event.evse_id,
                    max_current_a=event.max_current_a,
                    phases=event.phases,
                    departure=event.departure,
                )
                await self._signal(site, sl.SIGNAL_EV_NEEDS, needs)
            case events.EVScheduleRejected():
                again = Renegotiate(
                    station_id=event.station_id, connector_id=event.evse_id, reason=event.reason
                )
                await self._signal(site, sl.SIGNAL_RENEGOTIATE, again)

    async def _session(self, event: events.SessionEvent) -> SessionSignal:
        transaction_id = None
        if event.kind == "started":
            conn = self.services.connections.get(event.station_id)
            if conn is not None and conn.version == OCPP201:
                rows = await self.services.store.fetch_dicts(
                    _CHARGER_TX, (event.station_id, event.session_id)
                )
                transaction_id = rows[0]["transaction_id"] if rows else None
            else:
                transaction_id = event.session_id.rsplit("-", 1)[-1]
        return SessionSignal(
            station_id=event.station_id,
            session_id=event.session_id,
            kind=event.kind,
            connector_id=event.connector_id,
            transaction_id=transaction_id,
            at=event.at,
        )

    async def _flush_meters(self) -> None:
        await asyncio.sleep(_METER_FLUSH_S)
        pending, self._meters = self._meters, {}
        for site, samples in pending.items():
            try:
                await self._signal(
                    site, sl.SIGNAL_METERS, MeterBatch(samples=list(samples.values()))
                )
            except Exception as err:
                log.warning("site load: could not forward meter values of %s: %s", site, err)
        if self._meters and not self._closed:
            self._flusher = asyncio.create_task(self._flush_meters(), name="site-meters")

    async def _signal(self, site: str, name: str, arg) -> None:
        """Signal-with-start the site's workflow."""
        await signal_site(self.client, self.task_queue, site, name, arg, self.services.settings)


async def signal_site(client: Client, task_queue: str, site: str, name: str, arg, settings) -> None:
    """Signal `site-load-{site}`, starting it when it is not running (also used by the API)."""
    await client.start_workflow(
        sl.SITE_LOAD,
        SiteLoadInput(site_id=site, rebalance_s=settings.site_load_rebalance_s),
        id=sl.site_load_id(site),
        task_queue=task_queue,
        start_signal=name,
        start_signal_args=[arg],
        static_summary=f"Load management of site {site}",
    )
