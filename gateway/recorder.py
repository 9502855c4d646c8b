"""Batched writes of the OCPP message log and raw meter samples.

Frames are appended to the log in the background (never slowing the socket). Meter samples use
group commit: a MeterValues answer waits until its batch is committed, so an acknowledged sample
is never lost, while one INSERT batch serves many stations.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime

from psycopg_pool import AsyncConnectionPool

log = logging.getLogger(__name__)

_LOG_INSERT = (
    "INSERT INTO ocpp_messages (station_id, direction, message_type, unique_id, action, "
    "payload, at) VALUES (%s, %s, %s, %s, %s, %s, %s)"
)
_SAMPLE_INSERT = (
    "INSERT INTO meter_samples (session_id, station_id, connector_id, transaction_id, "
    "timestamp, measurand, phase, location, context, unit, value, signed_data) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
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
        flush_interval_s: float = 0.05,
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
        self._frames.append((station_id, direction, message_type, unique_id, action, raw, at))
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

    async def _run(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wakeup.wait(), self.flush_interval_s * 4)
            except TimeoutError:
                pass
            self._wakeup.clear()
            if self._samples and not self._closing:
                await asyncio.sleep(self.flush_interval_s)  # let a batch gather
            await self._flush()
            if self._closing and not self._frames and not self._samples:
                return

    async def _flush(self) -> None:
        frames, self._frames = self._frames, []
        samples, self._samples = self._samples, []
        waiters, self._sample_waiters = self._sample_waiters, []
        if not frames and not samples:
            return
        try:
            async with self.pool.connection() as conn:
                async with conn.cursor() as cur:
                    if samples:
                        await cur.executemany(_SAMPLE_INSERT, samples)
                    if frames:
                        await cur.executemany(_LOG_INSERT, frames)
        except Exception as err:  # the database is down: fail the waiters, keep the frames
            log.error(
                "recorder flush failed (%d samples, %d frames): %s", len(samples), len(frames), err
            )
            self._frames[:0] = frames[-50_000:]
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_exception(err)
            await asyncio.sleep(0.5)
            return
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
