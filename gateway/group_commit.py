"""Group commit: the same write for many stations, one statement per batch.

In a connect-and-boot storm a thousand chargers each want the same few writes within seconds
(their route, their boot, their statuses), and one statement per write queued them behind each
other's WAL flush and the few connections of the pool. Here the writes that arrive while a batch
commits go out together in the next: a write alone waits no longer than before, and a storm
shares round trips and flushes. A batch that fails on its data is written again item by item,
so a bad item fails only its own caller; one that fails because the database is away fails at
once, every item alike.

The statement takes one parameter, a JSON array of the items (each with its `ord`, its place in
the batch), and returns rows whose first column is an item's `key` field: each caller gets the
rows of its key.

`ampflow_gateway_group_commit_seconds{name}` counts each batch and its time from asking for a
connection to the commit's answer (what its callers waited for once it left the queue).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

import orjson
import psycopg
from prometheus_client import Histogram
from psycopg_pool import AsyncConnectionPool

log = logging.getLogger(__name__)

_WRITERS = 2  # batches committing at once (one connection each)
_MAX_BATCH = 500
BATCHES = Histogram(
    "ampflow_gateway_group_commit_seconds",
    "Batches of a group commit (status, route and boot writes) and how long each took",
    ["name"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


@dataclass(slots=True)
class _Item:
    data: dict[str, Any]
    rows: asyncio.Future[list[tuple]]


class GroupCommit:
    """Items written in batches by `statement`; each caller waits for its own commit."""

    def __init__(self, pool: AsyncConnectionPool, statement: str, key: str, name: str) -> None:
        self._pool = pool
        self._statement = statement
        self._key = key
        self._name = name
        self._queue: list[_Item] = []
        self._queued = asyncio.Event()
        self._runner: asyncio.Task | None = None
        self._flushing: set[asyncio.Task] = set()
        self._closed = False
        self._batches = BATCHES.labels(name)

    async def write(self, data: dict[str, Any]) -> list[tuple]:
        """Store `data` (JSON-able, with the `key` field); returns, once committed, the rows the
        statement returned for its key."""
        if self._closed:
            raise RuntimeError(f"{self._name} closed (the gateway is stopping)")
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._run(), name=self._name)
        rows: asyncio.Future[list[tuple]] = asyncio.get_running_loop().create_future()
        self._queue.append(_Item(data, rows))
        self._queued.set()
        return await rows

    async def close(self) -> None:
        """Finish the batches being committed; refuse what still waits (the pool is closing)."""
        self._closed = True
        if self._runner is not None:
            self._runner.cancel()
        await asyncio.gather(*self._flushing, return_exceptions=True)
        waiting, self._queue = self._queue, []
        for item in waiting:
            _settle(item, error=RuntimeError("the gateway is stopping"))

    async def _run(self) -> None:
        # A batch goes as soon as a writer is free, with everything that arrived meanwhile; no
        # artificial delay.
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

    async def _flush(self, batch: list[_Item]) -> None:
        try:
            rows = await self._write_batch(batch)
        except Exception as err:
            if len(batch) == 1 or not isinstance(err, psycopg.DataError | psycopg.IntegrityError):
                # The database is away (or the like): each alone would fail the same way, one
                # wait after another. They all fail now; their chargers retry.
                for item in batch:
                    _settle(item, error=err)
                return
            log.warning(
                "%s: %d failed together (%s); writing each alone", self._name, len(batch), err
            )
            for item in batch:
                try:  # the same statement, a batch of one
                    one = await self._write_batch([item])
                except Exception as one_error:
                    _settle(item, error=one_error)
                else:
                    _settle(item, one.get(item.data[self._key], []))
            return
        for item in batch:
            _settle(item, rows.get(item.data[self._key], []))

    async def _write_batch(self, batch: list[_Item]) -> dict[Any, list[tuple]]:
        items = [{**item.data, "ord": index} for index, item in enumerate(batch)]
        # jsonb cannot hold U+0000 (chargers may send it), as `outbox._jsonb`
        data = orjson.dumps(items).decode().replace("\\u0000", "\\ufffd")
        began = time.monotonic()
        async with self._pool.connection() as conn:  # what the chargers' answers wait for
            cur = await conn.execute(self._statement, (data,))
            returned = await cur.fetchall()
            self._batches.observe(time.monotonic() - began)
        rows: dict[Any, list[tuple]] = {}
        for row in returned:
            rows.setdefault(row[0], []).append(tuple(row))
        return rows


def _settle(
    item: _Item, rows: list[tuple] | None = None, *, error: Exception | None = None
) -> None:
    if item.rows.done():  # its caller stopped waiting (the socket closed)
        return
    if error is not None:
        item.rows.set_exception(error)
    else:
        item.rows.set_result(rows or [])
