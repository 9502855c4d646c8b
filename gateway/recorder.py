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

from domain.access import SECRET_CONFIG_NAMES, redact_secrets

log = logging.getLogger(__name__)

# The log batch as one JSON parameter too: one array per frame (orjson in C; formatting COPY
# rows in Python cost the gateway about a tenth of its time on Heartbeats). Read as jsonb, so
# the server parses each frame once (with json, every `->>` parsed it again: twice the cost).
_LOG_INSERT = (
    "INSERT INTO ocpp_messages (station_id, direction, message_type, unique_id, action, "
    "payload, at) SELECT f->>0, f->>1, (f->>2)::int, f->>3, f->>4, f->>5, (f->>6)::timestamptz "
    "FROM jsonb_array_elements(%s::jsonb) AS f"
)
# Last-seen times: one statement per batch (a row per station), not one statement per station.
_TOUCH = (
    "UPDATE stations AS s SET last_seen_at = (t->>1)::timestamptz "
    "FROM jsonb_array_elements(%s::jsonb) AS t WHERE s.id = t->>0"
)
# One statement per batch: the rows as one JSON array of arrays (serialized in C by orjson from
# plain tuples, about 6x faster than from the dataclass, half the text; parsed once server-side
# as jsonb); duplicates of an already stored reading are dropped.
_SAMPLE_INSERT = (
    "INSERT INTO meter_samples (session_id, station_id, connector_id, transaction_id, "
    "timestamp, measurand, phase, location, context, unit, value, signed_data) "
    "SELECT r->>0, r->>1, (r->>2)::int, r->>3, (r->>4)::timestamptz, r->>5, r->>6, r->>7, "
    "r->>8, r->>9, (r->>10)::float8, r->>11 FROM jsonb_array_elements(%s::jsonb) AS r "
    "ON CONFLICT ON CONSTRAINT uq_meter_samples_reading DO NOTHING"
)
_SAMPLE_WRITERS = 3  # sample batches committing at once (one connection each)
_JSON_NUL = b"\\u0000"  # how orjson writes U+0000, which PostgreSQL text cannot hold


@dataclass(slots=True)
class SampleRow:
    """One sampled value ready to insert (its fields are the columns, by name)."""

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

    def columns(self) -> tuple:
        """The row's values in column order (`_SAMPLE_INSERT`)."""
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

    def reading_key(self) -> tuple:
        """What makes two rows the same reading (`uq_meter_samples_reading`)."""
        return (
            self.station_id,
            self.connector_id,
            self.transaction_id,
            self.timestamp,
            self.measurand,
            self.phase,
            self.location,
        )


class Recorder:
    """Collects rows and writes them in batches on two background tasks: meter samples (whose
    answers wait for the commit) and the message log (which nothing waits for), each on its own
    connection, so a large log batch never delays an acknowledgement."""

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
        self._samples: list[SampleRow] = []
        self._sample_waiters: list[asyncio.Future[None]] = []
        self._seen: dict[str, datetime] = {}
        self._log_failures = 0
        self._samples_queued = asyncio.Event()
        self._log_full = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._closing = False

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._run_samples(), name="recorder-samples"),
            asyncio.create_task(self._run_log(), name="recorder-log"),
        ]

    async def close(self) -> None:
        """Write everything still queued, then stop."""
        self._closing = True
        self._samples_queued.set()
        self._log_full.set()
        await asyncio.gather(*self._tasks)

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
        if _may_name_a_secret(raw):  # a station password in a configuration frame
            raw = _redacted(raw)
        row = (station_id, direction, message_type, _pg(unique_id), _pg(action), _pg(raw), at)
        self._frames.append(row)
        if len(self._frames) >= self.max_batch:
            self._log_full.set()

    async def store_samples(self, rows: list[SampleRow]) -> None:
        """Queue samples and wait until they are committed (group commit)."""
        if not rows:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._samples.extend(rows)
        self._sample_waiters.append(waiter)
        self._samples_queued.set()
        await waiter

    def touch(self, station_id: str, at: datetime) -> None:
        """Remember that a station was seen; written with the next batch (not per heartbeat)."""
        self._seen[station_id] = at

    async def _run_samples(self) -> None:
        # Group commit without an artificial delay: a batch is written as soon as a writer is
        # free, so everything that arrived meanwhile goes out in one round trip. Several batches
        # may be committing at once (the disk flush is the wait, not the CPU); each batch takes
        # its rows in key order, so two of them never wait on each other's rows in a cycle.
        writers = asyncio.Semaphore(_SAMPLE_WRITERS)
        flushing: set[asyncio.Task] = set()
        while True:
            await self._samples_queued.wait()
            await writers.acquire()
            self._samples_queued.clear()
            samples, self._samples = self._samples, []
            waiters, self._sample_waiters = self._sample_waiters, []
            if not samples:
                writers.release()
            else:
                task = asyncio.create_task(self._flush_samples(samples, waiters))
                flushing.add(task)
                task.add_done_callback(flushing.discard)
                task.add_done_callback(lambda _: writers.release())
            if self._closing and not self._samples:
                await asyncio.gather(*flushing)
                return

    async def _run_log(self) -> None:
        # Nothing waits for the log: a batch every `flush_interval_s`, sooner when it is full.
        while True:
            try:
                await asyncio.wait_for(self._log_full.wait(), self.flush_interval_s)
            except TimeoutError:
                pass
            self._log_full.clear()
            frames, self._frames = self._frames, []
            seen, self._seen = self._seen, {}
            if frames or seen:
                await self._flush_log(frames, seen)
            if self._closing and not self._frames and not self._seen:
                return

    async def _flush_samples(self, samples: list[SampleRow], waiters: list[asyncio.Future]) -> None:
        """Durably store samples (duplicates dropped), then release the waiting answers."""
        try:
            async with self.pool.connection() as conn:
                await conn.execute(_SAMPLE_INSERT, (_as_json(samples),))
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
        """The message log and last-seen times, without waiting for the disk flush
        (synchronous_commit off: a crash may lose the last instant of log, never a sample)."""
        try:
            async with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
                await cur.execute("SET LOCAL synchronous_commit TO off")
                if frames:
                    await cur.execute(_LOG_INSERT, (orjson.dumps(frames).decode(),))
                if seen:
                    await cur.execute(_TOUCH, (orjson.dumps(sorted(seen.items())).decode(),))
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


def _as_json(samples: list[SampleRow]) -> str:
    """The batch as one JSON array with one array per row (columns in `_SAMPLE_INSERT`'s
    order), in key order, U+0000 escaped as text (`_pg`)."""
    keyed: dict[tuple, SampleRow] = {}
    for row in samples:  # repeats within one batch (ON CONFLICT cannot see its own rows)
        keyed.setdefault(row.reading_key(), row)
    rows = [keyed[key].columns() for key in sorted(keyed)]
    encoded = orjson.dumps(rows)
    if _JSON_NUL in encoded:  # rare (a hostile station): clean the strings, then encode again
        encoded = orjson.dumps([tuple(map(_pg_value, row)) for row in rows])
    return encoded.decode()


def _pg_value(value: object) -> object:
    return _pg(value) if isinstance(value, str) else value


def _pg(value: str | None) -> str | None:
    """PostgreSQL text cannot hold NUL: keep it visible, escaped."""
    return value.replace("\x00", "\\u0000") if value and "\x00" in value else value


def _may_name_a_secret(raw: str) -> bool:
    """A quick look before parsing: a secret's name, in any case, or a JSON escape that could
    spell one (an IGNORECASE regex over every frame cost a MeterValues several microseconds)."""
    lowered = raw.lower()
    return "\\u" in lowered or any(name in lowered for name in SECRET_CONFIG_NAMES)


_JSON_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")


def _redacted(raw: str) -> str:
    """The frame with station passwords replaced (the message log is read by operators); as
    sent when there was nothing to replace."""
    try:
        frame = orjson.loads(raw)
    except orjson.JSONDecodeError:  # judged with its escapes decoded, as a parser would read it
        lowered = _JSON_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), raw).lower()
        if any(name in lowered for name in SECRET_CONFIG_NAMES):
            return "[withheld: not JSON, and it names a station password]"
        return raw
    redacted = redact_secrets(frame)
    return raw if redacted == frame else orjson.dumps(redacted).decode()
