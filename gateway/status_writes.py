"""Group commit of connector statuses: the StatusNotifications of many stations, one statement.

A status is answered only once it is committed, with a report for each session on its
connector (ADR-005 §3, §6). In a connect-and-boot storm a thousand chargers send two or three
statuses each within seconds, and one commit per status queued them behind each other's WAL
flush. Here the statuses that arrive while a batch commits go out together in the next one: a
status alone waits no longer than before, and a storm shares round trips and flushes. A batch
that fails on its data is written again status by status, so a bad status fails only its own
answer; one that fails because the database is away fails at once, every status alike.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import orjson
import psycopg
from psycopg_pool import AsyncConnectionPool

from domain.session import ConnectorStatusUpdate

log = logging.getLogger(__name__)

_WRITERS = 2  # batches committing at once (one `fast` connection each)
_MAX_BATCH = 500
# Each status: the connector's row (the last status of a connector in the batch wins), and a
# report for each session on that connector that has not ended — with a `sessions` row, or
# with its start still waiting in the outbox (as `StationOutbox.put_links`).
_STATUSES_FOR_SESSIONS = (
    "WITH r AS (SELECT * FROM jsonb_to_recordset(%s::jsonb) AS r(ord int, station varchar, "
    "connector int, status varchar, error_code varchar, at timestamptz, payload jsonb)), "
    "latest AS (SELECT DISTINCT ON (station, connector) station, connector, status, error_code, "
    "at FROM r ORDER BY station, connector, ord DESC), "
    "connector AS (INSERT INTO connectors (station_id, connector_id, status, error_code, "
    "updated_at) SELECT station, connector, status, error_code, at FROM latest "
    "ON CONFLICT (station_id, connector_id) DO UPDATE SET status = EXCLUDED.status, "
    "error_code = EXCLUDED.error_code, updated_at = EXCLUDED.updated_at) "
    "INSERT INTO station_outbox (station_id, session_id, kind, payload) "
    "SELECT r.station, active.session_id, 'status', r.payload FROM r CROSS JOIN LATERAL ("
    "SELECT id AS session_id FROM sessions WHERE station_id = r.station "
    "AND state IN ('Pending', 'Charging') AND connector_id = r.connector "
    "UNION SELECT session_id FROM station_outbox WHERE station_id = r.station "
    "AND kind = 'start' AND delivered_at IS NULL "
    "AND (payload->'request'->>'connector_id')::int = r.connector"
    ") active ORDER BY r.ord, active.session_id RETURNING station_id"
)


@dataclass(slots=True)
class _Status:
    station_id: str
    connector_id: int
    update: ConnectorStatusUpdate
    stored: asyncio.Future[int]


class StatusWrites:
    """Connector statuses written in batches; each caller waits for its own commit."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool
        self._queue: list[_Status] = []
        self._queued = asyncio.Event()
        self._runner: asyncio.Task | None = None
        self._flushing: set[asyncio.Task] = set()
        self._closed = False

    async def write(self, station_id: str, connector_id: int, update: ConnectorStatusUpdate) -> int:
        """Store the status and its sessions' reports; returns, once committed, how many reports
        the station got in its batch (0: none to deliver)."""
        if self._closed:
            raise RuntimeError("status writes closed (the gateway is stopping)")
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._run(), name="status-writes")
        stored: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._queue.append(_Status(station_id, connector_id, update, stored))
        self._queued.set()
        return await stored

    async def close(self) -> None:
        """Finish the batches being committed; refuse what still waits (the pool is closing)."""
        self._closed = True
        if self._runner is not None:
            self._runner.cancel()
        await asyncio.gather(*self._flushing, return_exceptions=True)
        waiting, self._queue = self._queue, []
        for status in waiting:
            _settle(status, error=RuntimeError("the gateway is stopping"))

    async def _run(self) -> None:
        # As the recorder's samples: a batch goes as soon as a writer is free, with everything
        # that arrived meanwhile; no artificial delay.
        writers = asyncio.Semaphore(_WRITERS)
        while True:
            await self._queued.wait()
            await writers.acquire()
            batch, self._queue = self._queue[:_MAX_BATCH], self._queue[_MAX_BATCH:]
            if not self._queue:
                self._queued.clear()
            if not batch:
                writers.release()
                continue
            task = asyncio.create_task(self._flush(batch))
            self._flushing.add(task)
            task.add_done_callback(self._flushing.discard)
            task.add_done_callback(lambda _: writers.release())

    async def _flush(self, batch: list[_Status]) -> None:
        try:
            stored = await self._write_batch(batch)
        except Exception as err:
            if len(batch) == 1 or not isinstance(err, psycopg.DataError | psycopg.IntegrityError):
                # The database is away (or the like): each alone would fail the same way, one
                # wait after another. They all fail now; their chargers retry.
                for status in batch:
                    _settle(status, error=err)
                return
            log.warning("%d statuses failed together (%s); writing each alone", len(batch), err)
            for status in batch:
                try:  # the same statement, a batch of one
                    count = (await self._write_batch([status])).get(status.station_id, 0)
                except Exception as one_error:
                    _settle(status, error=one_error)
                else:
                    _settle(status, count)
            return
        for status in batch:
            _settle(status, stored.get(status.station_id, 0))

    async def _write_batch(self, batch: list[_Status]) -> dict[str, int]:
        rows = [
            {
                "ord": index,
                "station": status.station_id,
                "connector": status.connector_id,
                "status": status.update.status,
                "error_code": status.update.error_code,
                "at": status.update.timestamp,
                "payload": status.update.model_dump(mode="json"),
            }
            for index, status in enumerate(batch)
        ]
        # jsonb cannot hold U+0000 (chargers may send it), as `outbox._jsonb`
        data = orjson.dumps(rows).decode().replace("\\u0000", "\\ufffd")
        async with self._pool.connection() as conn:  # what the chargers' answers wait for
            cur = await conn.execute(_STATUSES_FOR_SESSIONS, (data,))
            reported = await cur.fetchall()
        stored: dict[str, int] = {}
        for (station_id,) in reported:
            stored[station_id] = stored.get(station_id, 0) + 1
        return stored


def _settle(status: _Status, count: int = 0, *, error: Exception | None = None) -> None:
    if status.stored.done():  # its caller stopped waiting (the socket closed)
        return
    if error is not None:
        status.stored.set_exception(error)
    else:
        status.stored.set_result(count)
