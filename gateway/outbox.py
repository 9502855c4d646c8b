"""The station outbox: what a charger reported, stored before it is answered, then delivered to
its session workflow in order (ADR-005 §3).

`put` writes a row (start, stop, status, link, or a station event for a maintenance job) in
PostgreSQL; a charger is answered only after
it returns. Each gateway drains rows in id order per station: the rows of its own stations at
once, and — in a periodic sweep — any station's rows left undelivered (a gateway that died or
lost Temporal). A station's head rows are leased while a gateway delivers them, so two gateways
never deliver one station out of order. Delivery failures are retried with back-off; nothing is
dropped. A row whose session no longer exists is recorded as a station event and closed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import BaseModel
from temporalio.client import Client

from domain.session import ConnectorStatusUpdate, LinkUpdate
from gateway.station_store import StationStore
from gateway.status_writes import StatusWrites

log = logging.getLogger(__name__)

_LEASE_S = 15  # a dead gateway's rows wait at most this long for another gateway
_SWEEP_INTERVAL_S = 2.0
_STALE_AFTER_S = 5  # a row this old with no live lease is adopted by any gateway
_BATCH = 100
_RETRY_MAX_S = 30.0
_POSTPONED_S = 0.5  # a postponed row is tried again after this long
# A link report (online or not) for each session that has not ended of each station in the
# batch: those with a `sessions` row, and those whose start still waits in the outbox. Rows go in
# the batch's order (a station's connect before its later disconnect).
_LINKS_FOR_SESSIONS = (
    "WITH r AS (SELECT * FROM jsonb_to_recordset(%s::jsonb) AS r(ord int, station varchar, "
    "payload jsonb)) "
    "INSERT INTO station_outbox (station_id, session_id, kind, payload) "
    "SELECT r.station, active.session_id, 'link', r.payload FROM r CROSS JOIN LATERAL ("
    "SELECT id AS session_id FROM sessions WHERE station_id = r.station "
    "AND state IN ('Pending', 'Charging') "
    "UNION SELECT session_id FROM station_outbox WHERE station_id = r.station "
    "AND kind = 'start' AND delivered_at IS NULL"
    ") active ORDER BY r.ord, active.session_id RETURNING station_id"
)
_REPORTS = ("status", "link")  # what a session hears of its station (not starts or stops)
_PRUNE_EVERY = 150  # sweeps (about five minutes)


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: int
    station_id: str
    session_id: str
    kind: str
    message_id: str | None
    payload: dict[str, Any]


# Delivers one row to Temporal; raises to retry later (transient), returns to close the row.
Deliverer = Callable[[OutboxRow], Awaitable[None]]


class Undeliverable(Exception):
    """The row can never be delivered (its session is gone): close it and tell operators."""


class Postponed(Exception):
    """Not the row's fault: this gateway has enough of its kind in flight already. Tried again
    shortly, in order, without counting an attempt or logging a failure."""


class StationOutbox:
    """Durable, ordered delivery of station reports to session workflows."""

    def __init__(self, client: Client, store: StationStore, deliver: Deliverer) -> None:
        self.client = client
        self.store = store
        self.deliver = deliver
        self.owner = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self._draining: dict[str, asyncio.Task] = {}
        self._closed = False  # closed: no new drains (the pools are about to close)
        self._again: set[str] = set()
        self._inline: dict[int, str] = {}  # row -> station: rows their writer is delivering
        self._sweeper: asyncio.Task | None = None
        self._statuses = StatusWrites(store.fast)

    # ---- writing -------------------------------------------------------------------------

    async def put(
        self,
        station_id: str,
        session_id: str,
        kind: str,
        payload: BaseModel | dict,
        message_id: str | None = None,
        *,
        inline: bool = False,
    ) -> int:
        """Store a report (committed when this returns); `inline`: the caller delivers it."""
        data = payload.model_dump(mode="json") if isinstance(payload, BaseModel) else payload
        async with self.store.fast.connection() as conn:  # what the charger's answer waits for
            cur = await conn.execute(
                "INSERT INTO station_outbox (station_id, session_id, kind, message_id, payload, "
                "lease_owner, lease_until) VALUES (%s, %s, %s, %s, %s, %s, "
                "CASE WHEN %s THEN now() + make_interval(secs => %s) END) RETURNING id",
                (
                    station_id,
                    session_id,
                    kind,
                    message_id.replace("\x00", "")[:64] if message_id else None,
                    _jsonb(data),
                    self.owner if inline else None,
                    inline,
                    _LEASE_S * 2,
                ),
            )
            row = await cur.fetchone()
        assert row is not None
        if inline:
            self._inline[row[0]] = station_id
        else:
            self.kick(station_id)
        return row[0]

    async def put_links(self, links: list[tuple[str, LinkUpdate]]) -> dict[str, int]:
        """Store, in one statement, a report of each station's link for each of its sessions
        that has not ended; returns how many each station got (stations without a session are
        left out).

        A session whose start still waits in this outbox counts too: answered from the fallback,
        it has no `sessions` row until its workflow runs, and its report goes after its start.
        Off the charger's path (a connect or disconnect is not answered), on the session pool."""
        rows = [
            {"ord": index, "station": station_id, "payload": update.model_dump(mode="json")}
            for index, (station_id, update) in enumerate(links)
        ]
        async with self.store.pool.connection() as conn:
            cur = await conn.execute(_LINKS_FOR_SESSIONS, (orjson.dumps(rows).decode(),))
            reported = await cur.fetchall()
        stored: dict[str, int] = {}
        for (station_id,) in reported:
            stored[station_id] = stored.get(station_id, 0) + 1
        for station_id in stored:
            self.kick(station_id)
        return stored

    async def record_status(
        self, station_id: str, connector_id: int, update: ConnectorStatusUpdate
    ) -> int:
        """Store a connector's last status and, in the same statement, a report of it for each
        session on that connector (as `put_links`): one commit for the charger's answer
        to wait for, shared with the statuses of other stations that arrive meanwhile
        (`gateway.status_writes`). Returns how many reports the station got (0: none)."""
        stored = await self._statuses.write(station_id, connector_id, update)
        if stored:
            self.kick(station_id)
        return stored

    async def delivered(self, row_id: int, station_id: str) -> None:
        """The caller delivered its inline row: close it and let the rest of the station go."""
        self._inline.pop(row_id, None)
        await self._close([row_id], None)
        self.kick(station_id)

    async def note(self, row_id: int, facts: dict) -> None:
        """Add facts to a stored row (e.g. the fallback answer a start was given)."""
        async with self.store.pool.connection() as conn:
            await conn.execute(
                "UPDATE station_outbox SET payload = payload || %s::jsonb WHERE id = %s",
                (_jsonb(facts), row_id),
            )

    def release(self, row_id: int, station_id: str) -> None:
        """The caller gave up delivering its inline row: the drain takes it over."""
        self._inline.pop(row_id, None)
        self.kick(station_id)

    # ---- draining ------------------------------------------------------------------------

    def kick(self, station_id: str) -> None:
        """Drain this station's rows now (in this process, one drain per station)."""
        if self._closed:  # shutting down: the rows stay for this gateway's next start or another
            return
        task = self._draining.get(station_id)
        if task is not None and not task.done():
            self._again.add(station_id)
            return
        self._draining[station_id] = asyncio.create_task(
            self._drain(station_id), name=f"outbox-{station_id}"
        )

    def start(self) -> None:
        if self._sweeper is None:
            self._sweeper = asyncio.create_task(self._sweep(), name="outbox-sweep")

    async def close(self) -> None:
        """Stop delivering and hand this gateway's leases back (the rows stay for others)."""
        await self._statuses.close()
        self._closed = True
        tasks = [t for t in [self._sweeper, *self._draining.values()] if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._draining.clear()
        self._sweeper = None
        try:
            async with self.store.delivery.connection() as conn:
                await conn.execute(
                    "UPDATE station_outbox SET lease_owner = NULL, lease_until = NULL "
                    "WHERE lease_owner = %s AND delivered_at IS NULL",
                    (self.owner,),
                )
        except Exception as err:  # the store is down: the leases lapse by themselves
            log.info("outbox leases not handed back: %s", err)

    async def _drain(self, station_id: str) -> None:
        delay = 0.2
        try:
            while True:
                self._again.discard(station_id)
                rows = await self._claim(station_id)
                if not rows:
                    if station_id in self._again:
                        continue
                    return
                delivered: list[int] = []  # closed together: one round trip per batch
                postponed = False
                try:
                    for row in rows:
                        if row.id in self._inline:
                            return  # its writer is delivering it; it kicks us when done
                        try:
                            await self.deliver(row)
                        except Postponed as err:
                            log.debug("outbox %s %s postponed: %s", row.kind, row.session_id, err)
                            postponed = True
                            await asyncio.sleep(_POSTPONED_S)
                            break  # keep the order: retry from this row
                        except Undeliverable as err:  # a report after its session ended: usual
                            level = logging.INFO if row.kind in _REPORTS else logging.WARNING
                            log.log(level, "outbox %s %s: %s", row.kind, row.session_id, err)
                            await self._close([row.id], str(err))
                            continue
                        except Exception as err:  # Temporal unreachable, the worker down, ...
                            log.warning(
                                "outbox %s to %s not delivered (%s); retrying in %.1fs",
                                row.kind,
                                row.session_id,
                                err,
                                delay,
                            )
                            await self._failed(row.id, str(err))
                            await asyncio.sleep(delay)
                            delay = min(delay * 2, _RETRY_MAX_S)
                            break  # keep the order: retry from this row
                        delivered.append(row.id)
                        delay = 0.2
                finally:  # a delivered row not closed (store down, cancelled) is sent again:
                    if delivered:  # deliveries are idempotent (ids, message ids, versions)
                        await self._close(delivered, None)
                # Fewer rows than a batch and no new row since: the station's queue is empty
                # (rows other gateways left behind reach us through the sweep).
                if (
                    len(rows) < _BATCH
                    and station_id not in self._again
                    and not postponed
                    and not delay > 0.2
                ):
                    return
        except asyncio.CancelledError:
            raise
        except Exception:  # the store is down: the sweep picks the station up again
            log.exception("outbox drain of %s stopped", station_id)
        finally:
            if self._draining.get(station_id) is asyncio.current_task():
                del self._draining[station_id]

    async def _claim(self, station_id: str) -> list[OutboxRow]:
        """Lease the station's first pending rows, unless another gateway holds its head
        (one statement: the head's lease is checked and the batch leased atomically)."""
        async with self.store.delivery.connection() as conn:
            cur = await conn.execute(
                "WITH head AS (SELECT id, lease_owner, lease_until FROM station_outbox "
                "WHERE station_id = %s AND delivered_at IS NULL ORDER BY id LIMIT %s "
                "FOR UPDATE), "
                "first AS (SELECT lease_owner, lease_until FROM head ORDER BY id LIMIT 1) "
                "UPDATE station_outbox o SET lease_owner = %s, lease_until = CASE "
                "WHEN o.id = ANY(%s) THEN o.lease_until "  # inline rows keep their writer's
                "ELSE now() + make_interval(secs => %s) END FROM head "
                "WHERE o.id = head.id AND NOT EXISTS (SELECT 1 FROM first "
                "WHERE first.lease_until > now() AND first.lease_owner IS DISTINCT FROM %s) "
                "RETURNING o.id, o.session_id, o.kind, o.message_id, o.payload",
                (station_id, _BATCH, self.owner, self._inline_of(station_id), _LEASE_S, self.owner),
            )
            found = await cur.fetchall()
        found.sort(key=lambda r: r[0])
        return [OutboxRow(r[0], station_id, r[1], r[2], r[3], r[4]) for r in found]

    def _inline_of(self, station_id: str) -> list[int]:
        """The station's rows its writers are delivering (only these keep their lease)."""
        return [row_id for row_id, station in self._inline.items() if station == station_id]

    async def _close(self, row_ids: list[int], error: str | None) -> None:
        async with self.store.delivery.connection() as conn:
            await conn.execute(
                "UPDATE station_outbox SET delivered_at = now(), lease_owner = NULL, "
                "last_error = COALESCE(%s, last_error) WHERE id = ANY(%s)",
                (error, row_ids),
            )

    async def _failed(self, row_id: int, error: str) -> None:
        async with self.store.delivery.connection() as conn:
            await conn.execute(
                "UPDATE station_outbox SET attempts = attempts + 1, last_error = %s WHERE id = %s",
                (error[:500], row_id),
            )

    async def _sweep(self) -> None:
        """Adopt stations whose rows wait with no live lease (their gateway died or gave up)."""
        sweeps = 0
        while True:
            await asyncio.sleep(_SWEEP_INTERVAL_S)
            try:
                stations = await self.store.fetch_dicts(
                    "SELECT DISTINCT station_id FROM station_outbox WHERE delivered_at IS NULL "
                    "AND created_at < now() - make_interval(secs => %s) "
                    "AND (lease_until IS NULL OR lease_until < now() OR lease_owner = %s)",
                    (_STALE_AFTER_S, self.owner),
                )
                for row in stations:
                    self.kick(row["station_id"])
                sweeps += 1
                if sweeps % _PRUNE_EVERY == 0:  # delivered rows are kept a day for operators
                    async with self.store.delivery.connection() as conn:
                        await conn.execute(
                            "DELETE FROM station_outbox "
                            "WHERE delivered_at < now() - interval '1 day'"
                        )
            except asyncio.CancelledError:
                raise
            except Exception as err:
                log.warning("outbox sweep failed: %s", err)


def _jsonb(data: dict) -> str:
    """JSON that PostgreSQL's jsonb accepts: it cannot hold U+0000, which chargers may send."""
    return orjson.dumps(data).decode().replace("\\u0000", "\\ufffd")
