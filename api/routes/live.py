"""The live view: `GET /live` (Server-Sent Events) and `GET /fleet` (the overview).

Gateways publish small JSON events with `pg_notify` on `ampflow_live`; each API process holds
one LISTEN connection (`LiveHub`, started with the first `/live` client, closed with the app)
and fans the events out to its SSE clients. Event types (the SSE `event:` field): `station`
(connected / disconnected / booted / firmware / diagnostics), `connector` (status, fault),
`meter` (energy and power of a session), `session` (started / stopped) and `alert` (raised,
acknowledged, resolved). A client that cannot keep up loses its stream (it reconnects).
NOTIFY is not durable: events sent while a client is away are not replayed — read `/fleet`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Annotated, Any

import orjson
import psycopg
from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import StreamingResponse
from fastapi.sse import format_sse_event
from pydantic import BaseModel
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from api.deps import OperatorDep, SessionDep
from domain.analytics import FleetOverview, LiveSession
from store import analytics_queries as q
from store.db import libpq_url
from store.monitoring_tables import LIVE_CHANNEL

log = logging.getLogger(__name__)

_KEEPALIVE_S = 15.0
_CLIENT_QUEUE = 1000  # events buffered per client before it is dropped as too slow


class LiveHub:
    """One LISTEN connection fanned out to in-process subscribers (reconnects on errors)."""

    def __init__(self, database_url: str, channel: str = LIVE_CHANNEL) -> None:
        self.url = libpq_url(database_url)
        self.channel = channel
        self.ready = asyncio.Event()
        self._subscribers: set[asyncio.Queue] = set()
        self._task: asyncio.Task | None = None

    def subscribe(self) -> asyncio.Queue:
        """A queue of events (dicts); `None` in it means the stream must end."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="live-hub")
        queue: asyncio.Queue = asyncio.Queue(_CLIENT_QUEUE)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue) -> None:
        self._subscribers.discard(queue)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
        for queue in list(self._subscribers):
            self._end(queue)

    async def _run(self) -> None:
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {self.channel}")
                    self.ready.set()
                    async for notify in conn.notifies():
                        self._fan_out(notify.payload)
            except asyncio.CancelledError:
                raise
            except Exception as err:
                self.ready.clear()
                log.warning("live: LISTEN connection lost (%s); reconnecting", err)
                await asyncio.sleep(1.0)

    def _fan_out(self, payload: str) -> None:
        """One notification: an event object, or an array of them (the gateway packs bursts)."""
        try:
            decoded = orjson.loads(payload)
        except orjson.JSONDecodeError:
            log.warning("live: ignored a malformed notification")
            return
        for event in decoded if isinstance(decoded, list) else [decoded]:
            if not isinstance(event, dict):
                continue
            for queue in list(self._subscribers):
                try:
                    queue.put_nowait(event)
                except asyncio.QueueFull:
                    self._end(queue)

    def _end(self, queue: asyncio.Queue) -> None:
        self._subscribers.discard(queue)
        with suppress(asyncio.QueueEmpty):
            while queue.full():
                queue.get_nowait()
        queue.put_nowait(None)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Give the app its hub (connected lazily) and close it at shutdown."""
    app.state.live_hub = LiveHub(app.state.db.url)
    try:
        yield
    finally:
        await app.state.live_hub.close()


router = APIRouter(tags=["live"], lifespan=lifespan)


def _wanted(event: dict[str, Any], stations: set[str] | None, types: set[str] | None) -> bool:
    if stations is not None and event.get("station_id") not in stations:
        return False
    return types is None or event.get("type") in types


def _sse(event: dict[str, Any], number: int) -> bytes:
    data = orjson.dumps(event).decode()
    return format_sse_event(data_str=data, event=event.get("type"), id=str(number))


async def _stream(
    hub: LiveHub, stations: set[str] | None, types: set[str] | None
) -> AsyncIterator[bytes]:
    """Ends when the client goes away (Starlette cancels it) or falls too far behind."""
    queue = hub.subscribe()
    try:
        await asyncio.wait_for(hub.ready.wait(), 10.0)
        yield _sse({"type": "ready"}, 0)  # listening: every later change is on this stream
        number = 0
        while True:
            try:
                event = await asyncio.wait_for(queue.get(), _KEEPALIVE_S)
            except TimeoutError:
                yield b": keep-alive\n\n"
                continue
            if event is None:
                return
            if _wanted(event, stations, types):
                number += 1
                yield _sse(event, number)
    finally:
        hub.unsubscribe(queue)


class LiveSnapshot(BaseModel):
    fleet: FleetOverview
    sessions: list[LiveSession]


@router.get(
    "/live",
    response_model=LiveSnapshot,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def live(
    request: Request,
    db: SessionDep,
    _: OperatorDep,
    station_id: Annotated[list[str] | None, Query()] = None,
    types: Annotated[
        str | None, Query(description="comma-separated: station,connector,meter,session,alert")
    ] = None,
):
    """With `Accept: text/event-stream`: the live event stream (SSE, keep-alive comments every
    15 s). Otherwise a JSON snapshot: the fleet overview and the charging sessions."""
    if "text/event-stream" not in request.headers.get("accept", ""):
        return await run_in_threadpool(_snapshot, db, station_id)
    db.close()  # the stream holds no database connection
    stations = set(station_id) if station_id else None
    kinds = {t.strip() for t in types.split(",") if t.strip()} if types else None
    return StreamingResponse(
        _stream(request.app.state.live_hub, stations, kinds),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _snapshot(db: Session, station_ids: list[str] | None) -> LiveSnapshot:
    conn = db.connection()
    return LiveSnapshot(fleet=q.fleet_overview(conn), sessions=q.live_sessions(conn, station_ids))


@router.get("/fleet")
def fleet(db: SessionDep, _: OperatorDep) -> FleetOverview:
    """Stations online / offline, connectors by status, active sessions, total power now."""
    return q.fleet_overview(db.connection())
