"""Batched writes of the OCPP message log and raw meter samples.

Frames are appended to the log in the background (never slowing the socket). Meter samples use
group commit: a MeterValues answer waits until its batch is committed, so an acknowledged sample
is never lost, while one INSERT batch serves many stations.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from datetime import datetime

import orjson
from psycopg_pool import AsyncConnectionPool

from domain.access import redact_secrets

log = logging.getLogger(__name__)

_LOG_COPY = (
    "COPY ocpp_messages (station_id, direction, message_type, unique_id, action, payload, at) "
    "FROM STDIN"
)
_TOUCH = "UPDATE stations SET last_seen_at = %s WHERE id = %s"
# One statement per batch: columns as arrays, unnested server-side (far cheaper than a
# statement per row); duplicates of an already stored reading are dropped.
_SAMPLE_INSERT = (
    "INSERT INTO meter_samples (session_id, station_id, connector_id, transaction_id, "
    "timestamp, measurand, phase, location, context, unit, value, signed_data) "
    "SELECT * FROM unnest(%s::varchar[], %s::varchar[], %s::int[], %s::varchar[], "
    "%s::timestamptz[], %s::varchar[], %s::varchar[], %s::varchar[], %s::varchar[], "
    "%s::varchar[], %s::float8[], %s::varchar[]) "
    "ON CONFLICT ON CONSTRAINT uq_meter_samples_reading DO NOTHING"
)


@dataclass(slots=True)
class SampleRow:
    """One sampled value ready to insert."""

    session_id: str | None
    station_id: str
    connector_id: int
    transaction_id: str
    timestamp: datetime
    measurand: str
    phase: str
    location: str
    context: str | None
    unit: str | None
    value: float
    signed_data: str | None

    def as_params(self) -> tuple:
        return (
            self.session_id,
            self.station_id,
            self.connector_id,
            self.transaction_id,
            self.timestamp,
            self.measurand,
            self.phase,
            self.location,
            self.context,
            self.unit,
            self.value,
            self.signed_data,
        )


class Recorder:
    """Collects rows and writes them in batches on one background task."""

    def __init__(
        self,
        pool: AsyncConnectionPool,
        *,
        flush_interval_s: float = 0.2,
        max_batch: int = 2000,
        log_frames: bool = True,
    ) -> None:
        self.pool = pool
        self.flush_interval_s = flush_interval_s
        self.max_batch = max_batch
        self.log_frames = log_frames
        self._frames: list[tuple] = []
        self._samples: list[tuple] = []
        self._sample_waiters: list[asyncio.Future[None]] = []
        self._seen: dict[str, datetime] = {}
        self._log_failures = 0
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._closing = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="recorder")

    async def close(self) -> None:
        """Write everything still queued, then stop."""
        self._closing = True
        self._wakeup.set()
        if self._task is not None:
            await self._task

    def log_frame(
        self,
        station_id: str,
        direction: str,
        raw: str,
        at: datetime,
        message_type: int | None = None,
        unique_id: str | None = None,
        action: str | None = None,
    ) -> None:
        """Queue one frame for the message log (returns at once)."""
        if not self.log_frames:
            return
        if _SECRET_HINT.search(raw):  # a station password in a configuration frame
            raw = _redacted(raw)
        row = (station_id, direction, message_type, _pg(unique_id), _pg(action), _pg(raw), at)
        self._frames.append(row)
        if len(self._frames) >= self.max_batch:
            self._wakeup.set()

    async def store_samples(self, rows: list[SampleRow]) -> None:
        """Queue samples and wait until they are committed (group commit)."""
        if not rows:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._samples.extend(row.as_params() for row in rows)
        self._sample_waiters.append(waiter)
        self._wakeup.set()
        await waiter

    def touch(self, station_id: str, at: datetime) -> None:
        """Remember that a station was seen; written with the next batch (not per heartbeat)."""
        self._seen[station_id] = at

    async def _run(self) -> None:
        # Group commit without an artificial delay: a batch is written as soon as the previous
        # one is done, so everything that arrived meanwhile goes out in one round trip.
        while True:
            try:
                await asyncio.wait_for(self._wakeup.wait(), self.flush_interval_s)
            except TimeoutError:
                pass
            self._wakeup.clear()
            await self._flush()
            if self._closing and not self._frames and not self._samples:
                return

    async def _flush(self) -> None:
        samples, self._samples = self._samples, []
        waiters, self._sample_waiters = self._sample_waiters, []
        if samples:
            await self._flush_samples(samples, waiters)
        frames, self._frames = self._frames, []
        seen, self._seen = self._seen, {}
        if frames or seen:
            await self._flush_log(frames, seen)

    async def _flush_samples(self, samples: list[tuple], waiters: list[asyncio.Future]) -> None:
        """Durably store samples (duplicates dropped), then release the waiting answers."""
        try:
            columns = [list(column) for column in zip(*_unique(samples), strict=True)]
            async with self.pool.connection() as conn:
                await conn.execute(_SAMPLE_INSERT, columns)
        except Exception as err:  # the database is down: the chargers get an error and retry
            log.error("storing %d meter samples failed: %s", len(samples), err)
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_exception(err)
            await asyncio.sleep(0.5)
            return
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def _flush_log(self, frames: list[tuple], seen: dict[str, datetime]) -> None:
        """The message log and last-seen times: COPY, without waiting for the disk flush
        (synchronous_commit off: a crash may lose the last instant of log, never a sample)."""
        try:
            async with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
                await cur.execute("SET LOCAL synchronous_commit TO off")
                if frames:
                    async with cur.copy(_LOG_COPY) as copy:
                        for row in frames:
                            await copy.write_row(row)
                if seen:
                    await cur.executemany(_TOUCH, [(at, sid) for sid, at in seen.items()])
        except Exception as err:  # keep the frames for a few more attempts (bounded)
            self._log_failures += 1
            if self._log_failures >= 3:
                log.error("dropping %d logged frames after 3 failures: %s", len(frames), err)
                self._log_failures = 0
                return
            log.error("writing %d logged frames failed: %s", len(frames), err)
            self._frames[:0] = frames[-50_000:]
            await asyncio.sleep(0.5)
            return
        self._log_failures = 0


def _unique(samples: list[tuple]) -> list[tuple]:
    """Drop repeats within one batch (ON CONFLICT cannot see rows of the same statement)."""
    seen: dict[tuple, tuple] = {}
    for row in samples:
        key = (row[1], row[2], row[3], row[4], row[5], row[6], row[7])
        seen.setdefault(key, row)
    return list(seen.values())


def _pg(value: str | None) -> str | None:
    """PostgreSQL text cannot hold NUL: keep it visible, escaped."""
    return value.replace("\x00", "\\u0000") if value and "\x00" in value else value


_SECRET_HINT = re.compile(r"authorizationkey|basicauthpassword", re.IGNORECASE)


def _redacted(raw: str) -> str:
    """The frame with station passwords replaced (the message log is read by operators)."""
    try:
        return orjson.dumps(redact_secrets(orjson.loads(raw))).decode()
    except orjson.JSONDecodeError:
        return "[withheld: not JSON, and it names a station password]"
