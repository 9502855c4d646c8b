"""A small, strict OCPP-J client layer over one WebSocket: CALL / CALLRESULT / CALLERROR.

One `Rpc` per connection. Outgoing CALLs are serialised (one outstanding CALL at a time, as
OCPP-J asks), validated against the official schemas when `strict`, and answered or timed out;
incoming CALLs are validated, dispatched to the charger's handler, and always answered — with a
CALLRESULT whose payload is validated too, or a CALLERROR (never a traceback on the wire).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import orjson
from websockets.exceptions import ConnectionClosed

from chargers import schemas
from chargers.journal import Journal

log = logging.getLogger(__name__)

CALL, CALLRESULT, CALLERROR = 2, 3, 4

# A handler answers a CALL's payload with the response payload and an optional follow-up
# coroutine, started only after the response is on the wire.
Answer = tuple[dict, Coroutine[Any, Any, None] | None]
Dispatcher = Callable[[str, dict], Awaitable[Answer]]
# Told of every answered or timed-out CALL: action, seconds, error code (None when answered).
Observer = Callable[[str, float, str | None], None]


class CallError(Exception):
    """The other side answered a CALL with a CALLERROR."""

    def __init__(self, action: str, code: str, description: str = "") -> None:
        super().__init__(f"{action}: {code} {description}".strip())
        self.action, self.code, self.description = action, code, description


class CallTimeout(Exception):
    """No answer within the timeout."""


class OcppFault(Exception):
    """Raised by a handler to answer a CALLERROR with this code."""

    def __init__(self, code: str, description: str = "") -> None:
        super().__init__(description or code)
        self.code, self.description = code, description


class Rpc:
    """The RPC layer of one connection."""

    def __init__(
        self,
        ws,
        version: str,
        journal: Journal,
        dispatch: Dispatcher,
        *,
        next_id: Callable[[], str],
        timeout_s: float = 30.0,
        strict: bool = True,
        observer: Observer | None = None,
        spawn: Callable[[Coroutine[Any, Any, None]], object] | None = None,
    ) -> None:
        self.ws, self.version, self.journal = ws, version, journal
        self.dispatch, self.next_id = dispatch, next_id
        self.timeout_s, self.strict, self.observer = timeout_s, strict, observer
        self.spawn = spawn or asyncio.ensure_future
        self.pending: dict[str, tuple[str, asyncio.Future]] = {}
        self._lock: asyncio.Lock | None = None  # created on first use (cheap idle chargers)
        self.closed = False
        # Answers to no CALL of ours (e.g. to a raw frame), by message id; bounded.
        self.unmatched: dict[str, list] = {}
        self._arrival: asyncio.Event | None = None

    # ---- outgoing --------------------------------------------------------------------------

    async def call(
        self,
        action: str,
        payload: dict,
        *,
        timeout_s: float | None = None,
        duplicate: bool = False,
        unique_id: str | None = None,
        strict: bool | None = None,
    ) -> dict:
        """Send a CALL and return the CALLRESULT payload; raises `CallError`, `CallTimeout` or
        `ConnectionClosed`. `duplicate` sends the frame twice with one id (a field quirk);
        `unique_id` reuses a message id (a retransmission); `strict` overrides the validation."""
        strict = self.strict if strict is None else strict
        if strict:
            schemas.validate(self.version, action, payload)
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self.closed:
                raise ConnectionClosed(None, None)
            unique_id = unique_id or self.next_id()
            future = asyncio.get_running_loop().create_future()
            self.pending[unique_id] = (action, future)
            frame = orjson.dumps([CALL, unique_id, action, payload]).decode()
            sent = time.monotonic()
            self.journal.write("call", id=unique_id, action=action, payload=payload)
            try:
                await self.ws.send(frame)
                if duplicate:
                    await self.ws.send(frame)
                return await self._answer(action, unique_id, future, sent, timeout_s, strict)
            finally:
                self.pending.pop(unique_id, None)

    async def send_raw(self, frame: str | bytes) -> None:
        """Send `frame` as it is (a text frame for `str`, binary for `bytes`): the escape hatch
        of hostile-station tests. Answers that match no CALL of ours are kept in `unmatched`."""
        await self.ws.send(frame)

    async def unmatched_answer(self, unique_id: str, timeout_s: float = 10.0) -> list:
        """The CALLRESULT / CALLERROR with `unique_id` that matched no CALL of ours."""

        async def arrived() -> list:
            while unique_id not in self.unmatched:
                if self._arrival is None:
                    self._arrival = asyncio.Event()
                await self._arrival.wait()
            return self.unmatched.pop(unique_id)

        return await asyncio.wait_for(arrived(), timeout_s)

    async def _answer(self, action, unique_id, future, sent, timeout_s, strict) -> dict:
        try:
            kind, body = await asyncio.wait_for(future, timeout_s or self.timeout_s)
        except TimeoutError:
            self.journal.write("timeout", id=unique_id, action=action)
            self._observe(action, sent, "Timeout")
            raise CallTimeout(f"{action}: no answer") from None
        if kind == CALLERROR:
            code, description = body
            self.journal.write("error", id=unique_id, action=action, code=code, text=description)
            self._observe(action, sent, code)
            raise CallError(action, code, description)
        self.journal.write("result", id=unique_id, action=action, payload=body)
        self._observe(action, sent, None)
        if strict:
            schemas.validate(self.version, action, body, response=True)
        return body

    def _observe(self, action: str, sent: float, error: str | None) -> None:
        if self.observer is not None:
            self.observer(action, time.monotonic() - sent, error)

    # ---- incoming --------------------------------------------------------------------------

    async def run(self) -> None:
        """Read frames until the connection closes; fails every pending CALL then."""
        try:
            async for raw in self.ws:
                await self._on_frame(raw)
        except ConnectionClosed:
            pass
        finally:
            self.closed = True
            for _, future in list(self.pending.values()):
                if not future.done():
                    future.set_exception(ConnectionClosed(None, None))

    async def _on_frame(self, raw: str | bytes) -> None:
        try:
            message = orjson.loads(raw)
        except orjson.JSONDecodeError:
            message = None
        if not isinstance(message, list) or len(message) < 3 or not isinstance(message[1], str):
            await self._bad_frame(raw, "-1", _rpc_error(self.version), "not an OCPP-J message")
            return
        kind, unique_id = message[0], message[1]
        if kind == CALL and len(message) == 4:
            await self._on_call(unique_id, message[2], message[3])
        elif kind in (CALLRESULT, CALLERROR):
            entry = self.pending.get(unique_id)
            if entry is None or entry[1].done():
                self.journal.write("late_answer", id=unique_id)
                self._keep_unmatched(unique_id, message)
                return
            if kind == CALLRESULT:
                entry[1].set_result((CALLRESULT, message[2]))
            else:
                description = message[3] if len(message) > 3 else ""
                entry[1].set_result((CALLERROR, (message[2], description)))
        elif kind == CALL:
            await self._bad_frame(raw, unique_id, _formation(self.version), "CALL has 4 elements")
        else:
            code = "NotSupported" if self.version == schemas.V16 else "MessageTypeNotSupported"
            await self._bad_frame(raw, unique_id, code, f"message type {kind!r}")

    def _keep_unmatched(self, unique_id: str, message: list) -> None:
        if len(self.unmatched) >= 100:
            self.unmatched.pop(next(iter(self.unmatched)))
        self.unmatched[unique_id] = message
        if self._arrival is not None:
            self._arrival.set()
            self._arrival = None

    async def _bad_frame(self, raw: str | bytes, unique_id: str, code: str, why: str) -> None:
        """Answer a frame that is not a usable OCPP-J message (id "-1" when unreadable)."""
        self.journal.write("bad_frame", frame=str(raw)[:200], code=code)
        await self._send(orjson.dumps([CALLERROR, unique_id, code, why, {}]))

    async def _on_call(self, unique_id: str, action: Any, payload: Any) -> None:
        self.journal.write("command", id=unique_id, action=action, payload=payload)
        followup = None
        try:
            if not isinstance(action, str) or action not in schemas.known_actions(self.version):
                raise OcppFault("NotImplemented", f"unknown action {action!r}")
            if not isinstance(payload, dict):
                raise OcppFault(_formation(self.version), "payload must be an object")
            try:
                schemas.validate(self.version, action, payload)
            except schemas.SchemaError as err:
                raise OcppFault(err.code, str(err)) from err
            response, followup = await self.dispatch(action, payload)
            try:
                schemas.validate(self.version, action, response, response=True)
            except schemas.SchemaError as err:  # our bug: say so, never send it
                log.error("invalid %s response %r: %s", action, response, err)
                self.journal.write("bug", action=action, response=response, error=str(err))
                raise OcppFault("InternalError", "the charger built an invalid answer") from err
        except OcppFault as fault:
            self.journal.write(
                "command_error",
                id=unique_id,
                action=action,
                code=fault.code,
                text=fault.description,
            )
            if followup is not None:
                followup.close()
            await self._send(
                orjson.dumps([CALLERROR, unique_id, fault.code, fault.description[:255], {}])
            )
            return
        except Exception as err:  # a handler bug must never break the connection
            log.exception("handler for %s failed", action)
            self.journal.write("bug", action=action, error=repr(err))
            if followup is not None:
                followup.close()
            await self._send(
                orjson.dumps([CALLERROR, unique_id, "InternalError", str(err)[:255], {}])
            )
            return
        self.journal.write("answer", id=unique_id, action=action, payload=response)
        await self._send(orjson.dumps([CALLRESULT, unique_id, response]))
        if followup is not None:
            self.spawn(followup)

    async def _send(self, frame: bytes) -> None:
        try:
            await self.ws.send(frame.decode())
        except ConnectionClosed:
            pass


def _rpc_error(version: str) -> str:
    return "FormationViolation" if version == schemas.V16 else "RpcFrameworkError"


def _formation(version: str) -> str:
    return "FormationViolation" if version == schemas.V16 else "FormatViolation"
