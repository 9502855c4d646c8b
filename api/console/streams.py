"""A stream scoped to one session (Server-Sent Events): the console's session page, a driver's
own session, a guest's paid session. Each event is the whole view, computed on the server when
the live hub reports something about that session (or, until it is final, every few seconds:
the rating and receipt after the stop happen in the workflow, not at the charger)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import StreamingResponse
from fastapi.sse import format_sse_event

from api.console.render import kw, kwh, money, when

FINAL = frozenset({"Completed", "Rejected", "Expired", "PaymentFailed", "NeedsReview"})
RUNNING = frozenset({"Authorized", "Pending", "Charging"})
_REFRESH_S = 3.0  # while the session is not final
_KEEPALIVE_S = 15.0

Loader = Callable[[], Awaitable[dict[str, Any]]]


def view_of(session: dict[str, Any], **links: str | None) -> dict[str, Any]:
    """What a session page shows, formatted, from a session detail (operator or driver API)."""
    live = session.get("live") or {}
    state = live.get("state") or session.get("state")
    energy = live.get("energy_wh") if live else session.get("energy_wh")
    currency = live.get("currency") or session.get("currency")
    total = session.get("total_amount")
    cost = money(total, currency) if total is not None else money(live.get("cost_so_far"), currency)
    return {
        "session_id": session.get("id") or session.get("session_id"),
        "state": state,
        "energy": kwh(energy),
        "energy_wh": energy,
        "power": kw(live.get("power_w")) if state == "Charging" else "–",
        "cost": cost if (live or total is not None) else "–",
        "started_at": when(session.get("started_at")),
        "stopped_at": when(session.get("stopped_at")),
        "running": state in RUNNING,
        "final": state in FINAL,
        **links,
    }


async def _events(request: Request, load: Loader, name: str) -> AsyncIterator[bytes]:
    hub = request.app.state.live_hub
    queue = hub.subscribe()
    number = 0
    last: dict[str, Any] | None = None
    try:
        while True:
            view = await load()
            if view != last:
                number += 1
                data = orjson.dumps(view).decode()
                yield format_sse_event(data_str=data, event=name, id=str(number))
                last = view
            wait = _KEEPALIVE_S if view.get("final") and view.get("receipt_url") else _REFRESH_S
            deadline = asyncio.get_running_loop().time() + wait
            while True:
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    if wait == _KEEPALIVE_S:
                        yield b": keep-alive\n\n"
                    break
                try:
                    event = await asyncio.wait_for(queue.get(), remaining)
                except TimeoutError:
                    continue
                if event is None:
                    return
                if _concerns(event, view):
                    break  # something happened to what this view shows: recompute now
    finally:
        hub.unsubscribe(queue)


def _concerns(event: dict[str, Any], view: dict[str, Any]) -> bool:
    """A live event about the session a view names, or about the station of a job's view."""
    if event.get("session_id") and event.get("session_id") == view.get("session_id"):
        return True
    return bool(view.get("job") and event.get("station_id") == view.get("station_id"))


def session_stream(request: Request, load: Loader, name: str = "session") -> StreamingResponse:
    """The stream of what `load` describes (a session's view names it; a job's its station)."""
    return StreamingResponse(
        _events(request, load, name),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
