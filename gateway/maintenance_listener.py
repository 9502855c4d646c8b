"""Feeds station events to maintenance workflows; starts self-healing on faults and silence.

- Status notifications (diagnostics/log, firmware), boots, the link and connector statuses go
  to the running maintenance jobs of the station, found in `maintenance_jobs` (the workflows
  write their row before they send anything to the station, and any gateway may receive the
  station after a reboot).
- A Faulted connector, or a connected station silent for too long (a sweep over this gateway's
  stations), signals-with-start `healing-{station}`: one `SelfHealing` per station at a time,
  and none while an operator alert is open for the station.
- 2.0.1 device-model reports are stored.

Events are queued and delivered in order by one background task, never on the handler's path.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import deque
from datetime import UTC, datetime, timedelta

from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from domain.maintenance import (
    JOB_INTERESTS,
    SELF_HEALING,
    SIGNAL_STATION_EVENT,
    HealingPolicy,
    HealingRequest,
    HealingTrigger,
    JobKind,
    SignalKind,
    StationSignal,
    healing_workflow_id,
)
from gateway import events
from gateway.device_model_listener import DeviceModelReport, DeviceModelStore
from gateway.services import GatewayServices
from runtime.settings import Settings
from workflows import contract

log = logging.getLogger(__name__)

_RUNNING_JOBS = (
    "SELECT DISTINCT station_id, workflow_id, kind FROM maintenance_jobs "
    "WHERE station_id = ANY(%s) AND state = 'running'"
)
_BATCH = 500  # events whose stations' running jobs are read in one query
_SILENT_STATIONS = """
SELECT s.id FROM stations s
LEFT JOIN LATERAL (
    SELECT m.at FROM ocpp_messages m
    WHERE m.station_id = s.id AND m.direction = 'in' ORDER BY m.id DESC LIMIT 1
) last_in ON true
WHERE s.id = ANY(%s) AND s.connected
  AND GREATEST(s.last_seen_at, s.last_boot_at, last_in.at) < %s
  AND NOT EXISTS (
    SELECT 1 FROM maintenance_alerts a WHERE a.station_id = s.id AND a.resolved_at IS NULL
  )
"""
_OPEN_ALERT = (
    "SELECT id FROM maintenance_alerts WHERE station_id = %s AND resolved_at IS NULL LIMIT 1"
)


def healing_policy(settings: Settings) -> HealingPolicy:
    """The self-healing playbook configured by the `healing_*` settings."""
    return HealingPolicy(
        steps=[s.strip() for s in settings.healing_steps.split(",") if s.strip()],
        settle_s=settings.healing_settle_s,
        silent_after_s=settings.healing_silent_after_s,
    )


def station_signal(event: events.StationEvent) -> StationSignal | None:
    """The neutral signal for an event, or None when maintenance workflows do not care."""
    base = {"station_id": event.station_id, "at": event.at}
    match event:
        case events.DiagnosticsStatus():
            kind = SignalKind.DIAGNOSTICS_STATUS
            return StationSignal(
                kind=kind, status=event.status, request_id=event.request_id, **base
            )
        case events.FirmwareStatus():
            kind = SignalKind.FIRMWARE_STATUS
            return StationSignal(
                kind=kind, status=event.status, request_id=event.request_id, **base
            )
        case events.Booted():
            version = event.firmware_version
            return StationSignal(kind=SignalKind.BOOTED, firmware_version=version, **base)
        case events.Connected():
            return StationSignal(kind=SignalKind.CONNECTED, **base)
        case events.Disconnected():
            return StationSignal(kind=SignalKind.DISCONNECTED, **base)
        case events.ConnectorStatusChanged():
            connector = event.evse_id if event.evse_id is not None else event.connector_id
            kind = SignalKind.CONNECTOR_STATUS
            return StationSignal(kind=kind, status=event.status, connector_id=connector, **base)
    return None


class MaintenanceListener:
    """Subscribed on the gateway's event bus (`gateway/server.py`)."""

    def __init__(self, client: Client, services: GatewayServices, task_queue: str) -> None:
        self.client = client
        self.services = services
        self.task_queue = task_queue
        self.settings = services.settings
        self.policy = healing_policy(services.settings)  # replaceable (tests, live tuning)
        self.device_models = DeviceModelStore(services.store)
        self._queue: deque[events.StationEvent] = deque()
        self._drainer: asyncio.Task | None = None
        self._sweeper: asyncio.Task | None = None
        self._silent_triggered: dict[str, float] = {}  # station -> monotonic time

    def __call__(self, event: events.StationEvent) -> None:
        """Quick: queue the event for the background task."""
        if isinstance(event, events.MeterReading | events.SessionEvent):
            return
        self._queue.append(event)
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain(), name="maintenance-events")
        if isinstance(event, events.Connected) and (self._sweeper is None or self._sweeper.done()):
            self._sweeper = asyncio.create_task(self._sweep_loop(), name="maintenance-sweep")
        if isinstance(event, events.Disconnected) and not self.services.connections:
            if self._sweeper is not None:
                self._sweeper.cancel()

    async def close(self) -> None:
        """Stop the background tasks (call from `Gateway.stop`, before the store closes)."""
        for task in (self._sweeper, self._drainer):
            if task is not None and not task.done():
                task.cancel()
        self._queue.clear()

    # ---- delivery --------------------------------------------------------------------------

    async def _drain(self) -> None:
        # In order, a batch at a time: the running jobs of all the batch's stations in one query
        # (a burst of boots and statuses is one round trip per batch, not one per event). Every
        # event of the batch was queued before the query, so a job it concerns (its row is
        # written before it sends the station anything) is already visible to it.
        delay = 0.2
        while self._queue:
            if self.services.store.pool.closed:
                self._queue.clear()  # the gateway is stopping
                return
            batch = list(itertools.islice(self._queue, _BATCH))
            try:
                jobs = await self._running_jobs(batch)
                for event in batch:
                    await self._deliver(event, jobs.get(event.station_id, []))
                    self._queue.popleft()
            except Exception as err:  # the store is down: keep the rest, in order, and retry
                log.warning("maintenance: %d events not delivered yet (%s)", len(self._queue), err)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
                continue
            delay = 0.2

    async def _running_jobs(self, batch: list[events.StationEvent]) -> dict[str, list[dict]]:
        """The running maintenance jobs of the stations with an event a job may care about."""
        stations = sorted({e.station_id for e in batch if station_signal(e) is not None})
        if not stations:
            return {}
        jobs: dict[str, list[dict]] = {}
        for row in await self.services.store.fetch_dicts(_RUNNING_JOBS, (stations,)):
            jobs.setdefault(row["station_id"], []).append(row)
        return jobs

    async def _deliver(self, event: events.StationEvent, jobs: list[dict]) -> None:
        if isinstance(event, DeviceModelReport):
            await self.device_models.save_report(event)
            return
        signal = station_signal(event)
        if signal is None:
            return
        healing_running = False
        for job in jobs:
            kind = JobKind(job["kind"])
            healing_running |= kind == JobKind.SELF_HEALING
            if signal.kind in JOB_INTERESTS[kind]:
                await self._signal(job["workflow_id"], signal)
        faulted = signal.kind == SignalKind.CONNECTOR_STATUS and signal.status == "Faulted"
        if faulted and not healing_running and self.settings.healing_enabled:
            if await self._alert_open(event.station_id):
                return  # an operator is on it: no resets until the alert is resolved
            await self.start_healing(signal, HealingTrigger.FAULT)

    async def _alert_open(self, station_id: str) -> bool:
        return bool(await self.services.store.fetch_dicts(_OPEN_ALERT, (station_id,)))

    async def _signal(self, workflow_id: str, signal: StationSignal) -> None:
        """Through the station outbox: delivered in order, retried, never dropped (ADR-005)."""
        await self.services.bridge.outbox.put(
            signal.station_id, workflow_id, "station_event", signal
        )

    async def start_healing(self, signal: StationSignal, trigger: HealingTrigger) -> None:
        """Signal-with-start `healing-{station}`: starts it, or tells the running one."""
        await self.client.start_workflow(
            SELF_HEALING,
            HealingRequest(
                station_id=signal.station_id,
                trigger=trigger,
                connector_id=signal.connector_id,
                policy=self.policy,
            ),
            id=healing_workflow_id(signal.station_id),
            task_queue=self.task_queue,
            start_signal=SIGNAL_STATION_EVENT,
            start_signal_args=[signal],
            search_attributes=TypedSearchAttributes(
                [SearchAttributePair(contract.STATION_ID, signal.station_id)]
            ),
            static_summary=f"Self-healing of {signal.station_id} ({trigger.value})",
        )
        log.info("self-healing of %s started (%s)", signal.station_id, trigger.value)

    # ---- silence ---------------------------------------------------------------------------

    async def _sweep_loop(self) -> None:
        """While this gateway holds stations: look for silent ones every sweep interval."""
        while self.services.connections:
            await asyncio.sleep(self.settings.healing_sweep_interval_s)
            if not self.settings.healing_enabled:
                continue
            try:
                await self.sweep()
            except Exception:
                log.exception("maintenance: silence sweep failed")

    async def sweep(self) -> list[str]:
        """Start self-healing for this gateway's connected stations that went silent."""
        silent_after = self.policy.silent_after_s
        now = datetime.now(UTC)
        stations = list(self.services.connections)
        if not stations:
            return []
        rows = await self.services.store.fetch_dicts(
            _SILENT_STATIONS, (stations, now - timedelta(seconds=silent_after))
        )
        started: list[str] = []
        for row in rows:
            station_id = row["id"]
            last = self._silent_triggered.get(station_id)
            if last is not None and time.monotonic() - last < silent_after:
                continue  # already handled this silence
            self._silent_triggered[station_id] = time.monotonic()
            signal = StationSignal(kind=SignalKind.SILENT, station_id=station_id, at=now)
            await self.start_healing(signal, HealingTrigger.SILENT)
            started.append(station_id)
        return started
