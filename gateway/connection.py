"""One charger's WebSocket: frames in, validated dispatch to the version's route table, frames out.

CALLs from the charger are handled one at a time in arrival order (as OCPP requires); answers to
our own CALLs are matched immediately, so a slow handler never blocks a command's result. The
frequent CALLs whose handlers only touch the store (Heartbeat, MeterValues, StatusNotification)
are answered on the reading task itself when nothing is queued before them and no command of
ours awaits its answer: no task per message.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from gateway import metrics, protocol
from gateway.protocol import CALL, CALLERROR, CALLRESULT, Frame, OcppError
from gateway.schemas import validate
from gateway.value_limits import check_payload

if TYPE_CHECKING:
    from gateway.services import GatewayServices

log = logging.getLogger(__name__)

Handler = Callable[["StationConnection", dict, str], Awaitable[dict]]

# A Pending station may boot, keep alive and report status; 2.0.1 also its NotifyReport, the
# answer to a GetBaseReport the CSMS may send while it is Pending (B02).
_ALLOWED_WHILE_PENDING = frozenset(
    {"BootNotification", "Heartbeat", "StatusNotification", "NotifyReport"}
)
# Answered on the reading task when nothing is queued before them: their handlers never wait on
# the station or a workflow (at most on a store write), so reading pauses only that long.
_INLINE_ACTIONS = frozenset({"Heartbeat", "MeterValues", "StatusNotification"})


class CommandError(Exception):
    """A command to a station failed: `kind` is offline | rejected | timeout | not_supported."""

    def __init__(self, kind: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.details = details


@dataclass(eq=False)
class StationConnection:
    """A connected station speaking one OCPP version."""

    station_id: str
    version: str
    ws: ServerConnection
    services: GatewayServices
    routes: dict[str, Handler]
    connected_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    registration_status: str = "Accepted"  # Pending: only boot, heartbeat and status allowed
    # An idle station costs no task, queue or lock: the CALL worker exists while CALLs are
    # queued, the lock once we send a command, and one sweep per gateway watches for silence.
    _calls: collections.deque[Frame] = field(default_factory=collections.deque)
    _worker: asyncio.Task | None = None
    _pending: dict[str, asyncio.Future[Frame]] = field(default_factory=dict)
    _call_lock: asyncio.Lock | None = None
    _ids: itertools.count = field(default_factory=itertools.count)
    _last_rx: float = field(default_factory=time.monotonic)
    _tokens: float | None = None  # rate-limit bucket; starts full
    _tokens_at: float = field(default_factory=time.monotonic)
    # What a handler asked to run once its CALL is answered (by the CALL's unique id).
    _after: dict[str, Callable[[], Awaitable[None]]] = field(default_factory=dict)
    # The socket this one took over from (closed once this one proves itself; see server.py).
    predecessor: StationConnection | None = None
    retired: bool = False  # replaced by a newer socket that spoke or outlived the grace
    spoke: bool = False  # has sent a frame
    _spoke_waiter: asyncio.Future[None] | None = None

    async def run(self) -> None:
        """Read frames until the socket closes (or goes silent for too long)."""
        _ensure_idle_sweep(self.services)
        try:
            async for raw in self.ws:
                self._last_rx = time.monotonic()
                if not self.spoke:
                    self._has_spoken()
                await self._receive(raw)
        except ConnectionClosed:
            pass
        finally:
            if self._worker is not None:
                self._worker.cancel()
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(CommandError("offline", "station disconnected"))

    async def wait_spoken(self) -> None:
        """Return once the station has sent a frame on this socket."""
        if not self.spoke:
            if self._spoke_waiter is None:
                self._spoke_waiter = asyncio.get_running_loop().create_future()
            await asyncio.shield(self._spoke_waiter)

    def _has_spoken(self) -> None:
        self.spoke = True
        if self._spoke_waiter is not None and not self._spoke_waiter.done():
            self._spoke_waiter.set_result(None)

    def open_predecessor(self) -> StationConnection | None:
        """The newest older socket of this station that is still open and not retired."""
        previous = self.predecessor
        while previous is not None and (previous.retired or previous.ws.state is not State.OPEN):
            previous = previous.predecessor
        return previous

    async def _receive(self, raw: str | bytes) -> None:
        now = datetime.now(UTC)
        text = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
        try:
            frame = protocol.parse_frame(text)
        except OcppError as err:
            self.services.recorder.log_frame(self.station_id, "in", text, now)
            log.warning("%s sent a malformed frame: %s", self.station_id, err.description)
            await self._send(protocol.call_error(protocol.error_unique_id(err), err, self.version))
            return
        self.services.recorder.log_frame(
            self.station_id, "in", text, now, frame.message_type, frame.unique_id, frame.action
        )
        if frame.message_type == CALL:
            if not self._take_token():
                await self._over_limit(frame)
                return
            idle = self._worker is None or self._worker.done()
            if idle and frame.action in _INLINE_ACTIONS and not self._calls and not self._pending:
                await self._answer(frame)  # nothing before it, no answer of ours awaited
                return
            self._calls.append(frame)
            if idle:
                self._worker = asyncio.create_task(
                    self._handle_calls(), name=f"calls-{self.station_id}"
                )
            return
        future = self._pending.pop(frame.unique_id, None)
        if future is None or future.done():
            log.warning("%s answered unknown call id %s; ignored", self.station_id, frame.unique_id)
            return
        future.set_result(frame)

    async def _handle_calls(self) -> None:
        while self._calls:
            await self._answer(self._calls.popleft())

    async def _answer(self, frame: Frame) -> None:
        """Handle one CALL and send its CALLRESULT or CALLERROR."""
        started = time.monotonic()
        try:
            response = await self._dispatch(frame)
        except OcppError as err:
            log.warning("%s %s -> %s: %s", self.station_id, frame.action, err.code, err.description)
            response = protocol.call_error(frame.unique_id, err, self.version)
        except Exception:
            log.exception("%s %s failed", self.station_id, frame.action)
            error = OcppError("InternalError", "internal error; please retry")
            response = protocol.call_error(frame.unique_id, error, self.version)
        await self._send(response, frame.unique_id, frame.action)
        metrics.call_answered(frame.action, response, started)
        if self._after:
            follow_up = self._after.pop(frame.unique_id, None)
            if follow_up is not None and response.startswith(f"[{CALLRESULT},"):
                _start_follow_up(self.station_id, follow_up)

    def after_answer(self, unique_id: str, follow_up: Callable[[], Awaitable[None]]) -> None:
        """Run `follow_up` once the CALL `unique_id` has been answered with a CALLRESULT (e.g. a
        CALL of ours the station must only get after our answer); never if it was refused."""
        self._after[unique_id] = follow_up

    async def _dispatch(self, frame: Frame) -> str:
        assert frame.action is not None
        validate(self.version, frame.action, frame.payload)
        check_payload(frame.payload)  # numbers we can store and reason about
        if self.registration_status != "Accepted" and frame.action not in _ALLOWED_WHILE_PENDING:
            raise OcppError("SecurityError", "station is not accepted yet (registration Pending)")
        handler = self.routes.get(frame.action)
        if handler is None:
            raise OcppError("NotSupported", f"{frame.action} is not supported by this CSMS")
        result = await handler(self, frame.payload, frame.unique_id)
        validate(self.version, frame.action, result, response=True)
        return protocol.call_result(frame.unique_id, result)

    def _take_token(self) -> bool:
        """Token bucket: `gateway_rate_limit_per_s` sustained, `gateway_rate_burst` at once."""
        settings = self.services.settings
        now = time.monotonic()
        if self._tokens is None:
            self._tokens = float(settings.gateway_rate_burst)
        elapsed, self._tokens_at = now - self._tokens_at, now
        self._tokens = min(
            settings.gateway_rate_burst, self._tokens + elapsed * settings.gateway_rate_limit_per_s
        )
        self._tokens -= 1
        return self._tokens >= 0

    async def _over_limit(self, frame: Frame) -> None:
        metrics.rate_limited(frame.action)
        settings = self.services.settings
        if (self._tokens or 0) < -settings.gateway_rate_burst:  # still flooding after being told
            log.warning(
                "%s floods (> %s msg/s); closing",
                self.station_id,
                settings.gateway_rate_limit_per_s,
            )
            await self.ws.close(1008, "rate limit exceeded")
            return
        error = OcppError("GenericError", "rate limit exceeded; slow down")
        await self._send(
            protocol.call_error(frame.unique_id, error, self.version), frame.unique_id, frame.action
        )

    async def call(self, action: str, payload: dict, timeout_s: float = 30.0) -> dict:
        """Send a CALL to the station and return its CALLRESULT payload (one at a time)."""
        try:
            validate(self.version, action, payload)
        except OcppError as err:
            if err.code == "NotImplemented":
                raise CommandError("not_supported", f"{action} is not in {self.version}") from err
            raise
        if self._call_lock is None:
            self._call_lock = asyncio.Lock()
        async with self._call_lock:
            unique_id = str(uuid.uuid4())
            future: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()
            self._pending[unique_id] = future
            try:
                await self._send(protocol.call(unique_id, action, payload), unique_id, action)
                frame = await asyncio.wait_for(future, timeout_s)
            except TimeoutError as err:
                raise CommandError("timeout", f"no answer to {action} in {timeout_s}s") from err
            except ConnectionClosed as err:
                raise CommandError("offline", "station disconnected") from err
            finally:
                self._pending.pop(unique_id, None)
        if frame.message_type == CALLERROR:
            raise CommandError(
                "rejected",
                f"{action}: {frame.error_code} {frame.error_description}",
                frame.error_details,
            )
        assert frame.message_type == CALLRESULT
        try:
            validate(self.version, action, frame.payload, response=True)
        except OcppError as err:
            raise CommandError("rejected", f"invalid {action} answer: {err.description}") from err
        return frame.payload

    async def _send(
        self, text: str, unique_id: str | None = None, action: str | None = None
    ) -> None:
        self.services.recorder.log_frame(
            self.station_id, "out", text, datetime.now(UTC), None, unique_id, action
        )
        try:
            await self.ws.send(text)
        except ConnectionClosed:
            log.info("%s: socket closed before a frame could be sent", self.station_id)


_FOLLOW_UPS: set[asyncio.Task] = set()  # running follow-ups (a task needs a reference)


def _start_follow_up(station_id: str, follow_up: Callable[[], Awaitable[None]]) -> None:
    async def run() -> None:
        try:
            await follow_up()
        except Exception:
            log.exception("%s: follow-up after an answer failed", station_id)

    task = asyncio.create_task(run(), name=f"follow-up-{station_id}")
    _FOLLOW_UPS.add(task)
    task.add_done_callback(_FOLLOW_UPS.discard)


_IDLE_SWEEPS: dict[int, asyncio.Task] = {}  # id(services) -> its sweep task
_CLOSING: set[asyncio.Task] = set()  # closes in flight (a task needs a reference)


def _ensure_idle_sweep(services: GatewayServices) -> None:
    """One task per gateway closes stations that sent nothing within the deadline."""
    task = _IDLE_SWEEPS.get(id(services))
    if task is None or task.done():
        _IDLE_SWEEPS[id(services)] = asyncio.create_task(_idle_sweep(services), name="idle-sweep")


async def _idle_sweep(services: GatewayServices) -> None:
    settings = services.settings
    limit = settings.gateway_idle_timeout_s or 2 * settings.heartbeat_interval_s + 60
    try:
        while services.connections:
            await asyncio.sleep(min(limit / 4, 5.0))
            now = time.monotonic()
            for conn in list(services.connections.values()):
                if now - conn._last_rx > limit:
                    log.warning("%s silent for %.0fs; closing", conn.station_id, limit)
                    task = asyncio.create_task(
                        conn.ws.close(1001, "no message within the heartbeat deadline")
                    )
                    _CLOSING.add(task)
                    task.add_done_callback(_CLOSING.discard)
    finally:
        _IDLE_SWEEPS.pop(id(services), None)
