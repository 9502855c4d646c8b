"""Feeds the live view, the status history and the immediate alerts from station events.

Subscribed on the gateway's event bus (`gateway/server.py`). Events are queued and written by
one background task in batches, each batch in one transaction, at most `_BATCHES_PER_S` batches
a second (an event after a quiet spell is written at once); a connector's readings queued in
between are coalesced to its newest when it has every value the older one had (a charger
sending MeterValues back to back costs one notice per batch):
- every connector status → `connector_status_history`, every connect / disconnect →
  `station_link_history` (the base of utilization and uptime);
- the last meter reading per session → `live_meters` (power derived from the last two energy
  readings when the charger sends none), removed when the session stops;
- `connector_faulted` alerts are raised on Faulted and resolved by the connector's next status;
  a reconnect resolves `station_offline` (raised by the `AlertSweep` workflow);
- a small JSON object per event, packed into arrays of a few kB, each one `pg_notify` on
  `ampflow_live`, fanned out by every API process to its `/live` clients (several gateways can
  publish; NOTIFY is delivered at commit).
The listener also signals-with-start the `AlertSweep` workflow (the time-based alerts and the
webhook delivery): once at the first event, and again whenever it raised an alert.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime

import orjson
from temporalio.client import Client

from domain import alerts
from domain.alerts import ALERT_SWEEP, SIGNAL_WAKE, AlertRaise, SweepInput, alert_sweep_id
from gateway import events
from gateway.services import GatewayServices
from store.monitoring_tables import LIVE_CHANNEL, RAISE_ALERT, RESOLVE_ALERTS

log = logging.getLogger(__name__)

_INSERT_STATUS = (
    "INSERT INTO connector_status_history (station_id, connector_id, status, error_code, at) "
    "VALUES (%s, %s, %s, %s, %s)"
)
_INSERT_LINK = (
    "INSERT INTO station_link_history (station_id, online, close_code, at) VALUES (%s, %s, %s, %s)"
)
_UPSERT_METER = (
    "INSERT INTO live_meters (session_id, station_id, connector_id, energy_wh, power_w, "
    "soc_percent, at, received_at) VALUES (%s, %s, %s, %s, %s, %s, %s, now()) "
    "ON CONFLICT (session_id) DO UPDATE SET connector_id = EXCLUDED.connector_id, "
    "energy_wh = COALESCE(EXCLUDED.energy_wh, live_meters.energy_wh), "
    "power_w = EXCLUDED.power_w, soc_percent = COALESCE(EXCLUDED.soc_percent, "
    "live_meters.soc_percent), at = EXCLUDED.at, received_at = now() "
    "WHERE live_meters.at <= EXCLUDED.at"
)
_DELETE_METER = "DELETE FROM live_meters WHERE session_id = %s"
_NOTIFY = f"SELECT pg_notify('{LIVE_CHANNEL}', %s)"
_NOTIFY_BYTES = 7000  # a NOTIFY payload must stay under 8,000 bytes
_MAX_READINGS = 100_000  # sessions whose last reading is kept in memory (power derivation)
# At most this many batches a second: the readings a connector sends in between are coalesced
# to its newest (the live view shows the newest; `meter_samples` keeps every one). An event
# after a quiet spell is written at once.
_BATCHES_PER_S = 4


@dataclass
class LiveBatch:
    """What one batch of events writes (built by `plan`, a pure function)."""

    statuses: list[tuple] = field(default_factory=list)
    links: list[tuple] = field(default_factory=list)
    meters: dict[str, tuple] = field(default_factory=dict)  # session → upsert row (last wins)
    ended: list[str] = field(default_factory=list)
    alert_ops: list[AlertRaise | str] = field(default_factory=list)  # raise, or resolve a key
    notifications: list[str] = field(default_factory=list)


def _iso(at: datetime) -> str:
    return at.isoformat()


def _notice(kind: str, source: events.StationEvent, **fields) -> str:
    body = {"type": kind, "station_id": source.station_id, "at": _iso(source.at), **fields}
    return orjson.dumps(body).decode()


def notification_chunks(notices: list[str]) -> list[str]:
    """Notices (JSON objects) packed into JSON arrays of at most `_NOTIFY_BYTES` each, so a
    burst of readings costs a few NOTIFYs rather than one per reading (a notice too large to
    share goes alone)."""
    chunks: list[str] = []
    current: list[str] = []
    size = 2
    for notice in notices:
        if current and size + len(notice) + 1 > _NOTIFY_BYTES:
            chunks.append("[" + ",".join(current) + "]")
            current, size = [], 2
        current.append(notice)
        size += len(notice) + 1
    if current:
        chunks.append("[" + ",".join(current) + "]")
    return chunks


def derived_power(
    previous: tuple[datetime, int] | None, at: datetime, energy_wh: int | None
) -> float | None:
    """Average power (W) between two energy register readings, or None."""
    if previous is None or energy_wh is None:
        return None
    seconds = (at - previous[0]).total_seconds()
    if seconds <= 0 or energy_wh < previous[1]:
        return None
    return (energy_wh - previous[1]) * 3600.0 / seconds


def plan(
    batch: list[events.StationEvent], readings: OrderedDict[str, tuple[datetime, int]]
) -> LiveBatch:
    """Turn events into rows, alert changes and notifications (updates `readings`)."""
    out = LiveBatch()
    for event in batch:
        try:
            _plan_one(event, readings, out)
        except Exception:
            log.exception("live: could not handle %s", type(event).__name__)
    return out


def _plan_one(
    event: events.StationEvent,
    readings: OrderedDict[str, tuple[datetime, int]],
    out: LiveBatch,
) -> None:
    match event:
        case events.ConnectorStatusChanged():
            connector = event.evse_id if event.evse_id is not None else event.connector_id
            row = (event.station_id, connector, event.status, event.error_code, event.at)
            out.statuses.append(row)
            key = alerts.connector_fault_key(event.station_id, connector)
            if event.status == "Faulted":
                out.alert_ops.append(
                    alerts.connector_faulted(event.station_id, connector, event.error_code)
                )
            else:
                out.alert_ops.append(key)
            fault = alerts.fault_of(event.error_code) if event.status == "Faulted" else None
            out.notifications.append(
                _notice(
                    "connector",
                    event,
                    connector_id=connector,
                    status=event.status,
                    error_code=event.error_code,
                    fault=fault,
                )
            )
        case events.Connected():
            out.links.append((event.station_id, True, None, event.at))
            offline = alerts.alert_key(alerts.AlertCause.STATION_OFFLINE, event.station_id)
            out.alert_ops.append(offline)
            out.notifications.append(
                _notice("station", event, event="connected", online=True, version=event.version)
            )
        case events.Disconnected():
            out.links.append((event.station_id, False, event.close_code, event.at))
            out.notifications.append(
                _notice(
                    "station",
                    event,
                    event="disconnected",
                    online=False,
                    close_code=event.close_code,
                )
            )
        case events.Booted():
            out.notifications.append(
                _notice(
                    "station",
                    event,
                    event="booted",
                    vendor=event.vendor,
                    model=event.model,
                    firmware_version=event.firmware_version,
                )
            )
        case events.MeterReading():
            _meter(event, readings, out)
        case events.SessionEvent():
            if event.kind == "stopped":
                out.ended.append(event.session_id)
                out.meters.pop(event.session_id, None)
                readings.pop(event.session_id, None)
            out.notifications.append(
                _notice(
                    "session",
                    event,
                    event=event.kind,
                    session_id=event.session_id,
                    connector_id=event.connector_id,
                )
            )
        case events.FirmwareStatus() | events.DiagnosticsStatus():
            kind = "firmware" if isinstance(event, events.FirmwareStatus) else "diagnostics"
            out.notifications.append(_notice("station", event, event=kind, status=event.status))


def _meter(
    event: events.MeterReading,
    readings: OrderedDict[str, tuple[datetime, int]],
    out: LiveBatch,
) -> None:
    power = event.power_w
    if event.session_id is not None:
        if power is None:
            power = derived_power(readings.get(event.session_id), event.at, event.energy_wh)
        if event.energy_wh is not None:
            readings[event.session_id] = (event.at, event.energy_wh)
            readings.move_to_end(event.session_id)
            while len(readings) > _MAX_READINGS:
                readings.popitem(last=False)
        out.meters[event.session_id] = (
            event.session_id,
            event.station_id,
            event.connector_id,
            event.energy_wh,
            power,
            event.soc_percent,
            event.at,
        )
    out.notifications.append(
        _notice(
            "meter",
            event,
            session_id=event.session_id,
            connector_id=event.connector_id,
            energy_wh=event.energy_wh,
            power_w=power,
            soc_percent=event.soc_percent,
        )
    )


class PendingEvents:
    """Events waiting for the next batch, in arrival order; a connector's newer reading of the
    same session replaces its queued one when it has every value that one had (the live view
    shows the newest)."""

    def __init__(self) -> None:
        self._events: list[events.StationEvent | None] = []  # None: a replaced reading
        # (station, connector, session) → indexes of its readings still queued
        self._queued_readings: dict[tuple, list[int]] = {}

    def __bool__(self) -> bool:
        return bool(self._events)

    def put(self, event: events.StationEvent) -> None:
        if type(event) is events.MeterReading:
            key = (event.station_id, event.connector_id, event.session_id)
            kept = []
            for older in self._queued_readings.get(key, ()):
                if _covers(event, self._events[older]):  # type: ignore[arg-type]
                    self._events[older] = None
                else:
                    kept.append(older)
            kept.append(len(self._events))
            self._queued_readings[key] = kept
        self._events.append(event)

    def take(self) -> list[events.StationEvent]:
        """Everything queued (replaced readings left out); the queue is empty after."""
        taken, self._events, self._queued_readings = self._events, [], {}
        return [event for event in taken if event is not None]


def _covers(newer: events.MeterReading, older: events.MeterReading) -> bool:
    """The newer reading has every value the older one has (energy, power, SoC): the older one
    can go. A power-only reading does not replace an energy reading (power is derived from
    consecutive energy readings)."""
    return (
        (older.energy_wh is None or newer.energy_wh is not None)
        and (older.power_w is None or newer.power_w is not None)
        and (older.soc_percent is None or newer.soc_percent is not None)
    )


class LiveListener:
    """Subscribed on the gateway's event bus; quick on the handler's path, writes in batches."""

    def __init__(self, client: Client, services: GatewayServices, task_queue: str) -> None:
        self.client = client
        self.services = services
        self.task_queue = task_queue
        self._queue = PendingEvents()
        self._readings: OrderedDict[str, tuple[datetime, int]] = OrderedDict()
        self._drainer: asyncio.Task | None = None
        self._tasks: set[asyncio.Task] = set()
        self._sweep_started = False
        self._closed = False

    def __call__(self, event: events.StationEvent) -> None:
        """Queue the event for the background writer."""
        if self._closed:
            return
        self._queue.put(event)
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain(), name="live-events")
        if not self._sweep_started and self.services.settings.alert_sweep_interval_s > 0:
            self._sweep_started = True
            self._spawn(self.wake_sweep())

    async def close(self) -> None:
        """Write what is queued, then stop (call from `Gateway.stop`, before the store closes)."""
        self._closed = True
        if self._drainer is not None:
            await asyncio.gather(self._drainer, return_exceptions=True)
        for task in list(self._tasks):
            task.cancel()

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self._queue:
            started = loop.time()
            batch = self._queue.take()
            if self.services.store.pool.closed:
                return
            try:
                raised = await self._write(plan(batch, self._readings))
            except Exception:
                log.exception("live: could not write %d events", len(batch))
                raised = 0
            if raised and self.services.settings.alert_webhook_url:
                self._spawn(self.wake_sweep())
            pause = 1 / _BATCHES_PER_S - (loop.time() - started)
            if pause > 0 and not self._closed:
                await asyncio.sleep(pause)  # what arrives meanwhile waits for the next batch

    async def _write(self, batch: LiveBatch) -> int:
        """One transaction; returns how many alerts were raised."""
        raised = 0
        async with self.services.store.pool.connection() as conn, conn.transaction():
            async with conn.cursor() as cur:
                if batch.statuses:
                    await cur.executemany(_INSERT_STATUS, batch.statuses)
                if batch.links:
                    await cur.executemany(_INSERT_LINK, batch.links)
                if batch.meters:
                    await cur.executemany(_UPSERT_METER, list(batch.meters.values()))
                if batch.ended:
                    await cur.executemany(_DELETE_METER, [(s,) for s in batch.ended])
                for keys, alert in _alert_steps(batch.alert_ops):
                    if keys:
                        params = {"keys": keys, "actor": "system", "note": "the cause cleared"}
                        await cur.execute(RESOLVE_ALERTS, params)
                    if alert is not None:
                        await cur.execute(RAISE_ALERT, alert.sql_params())
                        raised += len(await cur.fetchall())
                if batch.notifications:
                    chunks = notification_chunks(batch.notifications)
                    await cur.executemany(_NOTIFY, [(chunk,) for chunk in chunks])
        return raised

    async def wake_sweep(self) -> None:
        """Signal-with-start `alert-sweep-{queue}`: starts it, or asks it to deliver webhooks."""
        try:
            await self.client.start_workflow(
                ALERT_SWEEP,
                SweepInput(),
                id=alert_sweep_id(self.task_queue),
                task_queue=self.task_queue,
                start_signal=SIGNAL_WAKE,
                static_summary="Time-based alerts and webhook delivery",
            )
        except Exception as err:
            log.warning("live: could not wake the alert sweep: %s", err)

    def _spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _alert_steps(ops: list[AlertRaise | str]) -> list[tuple[list[str], AlertRaise | None]]:
    """Alert changes in event order, consecutive resolutions merged into one statement."""
    steps: list[tuple[list[str], AlertRaise | None]] = []
    keys: list[str] = []
    for op in ops:
        if isinstance(op, str):
            keys.append(op)
        else:
            steps.append((keys, op))
            keys = []
    if keys:
        steps.append((keys, None))
    return steps
