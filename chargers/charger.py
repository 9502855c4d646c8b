"""One virtual charger: connection, boot, heartbeat, reboots, and the parts that do the work.

    async with Charger(ChargerConfig(station_id="VC-1", password="...", url=...)) as charger:
        await charger.wait_booted()
        tx = await charger.sessions.start_local("TAG-1", connector=1)
        ...

The charger connects (HTTP Basic auth, subprotocol `ocpp1.6` / `ocpp2.0.1`), boots (retrying
while Pending or Rejected), heartbeats, answers every CALL through its version's handlers, and
reconnects with exponential back-off (jittered) whenever the connection is lost or refused.
Reset and firmware updates close the socket and boot again, as hardware does.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import inspect
import itertools
import logging
import random
import secrets
from collections.abc import Callable, Coroutine
from typing import Any

import websockets
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from chargers import schemas
from chargers.clock import Clock, iso
from chargers.config import ChargerConfig
from chargers.connector import Connector, Meter
from chargers.journal import Journal
from chargers.outbox import Outbox
from chargers.rpc import Answer, CallError, CallTimeout, Observer, Rpc
from chargers.sessions import Sessions
from chargers.smart import Profile, ProfileStore
from chargers.state import PersistentState
from chargers.variables import Configuration

log = logging.getLogger(__name__)
# What a Pending station may still send (the CSMS may ask for a base report while Pending, B02).
_SENT_WHILE_PENDING = frozenset({"NotifyReport"})
_STOP_WAIT_S = 10.0  # longest wait for the connection task at power-off


class Charger:
    """A virtual charger (OCPP 1.6J or 2.0.1) that behaves like hardware."""

    def __init__(
        self,
        config: ChargerConfig,
        *,
        observer: Observer | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.station_id = config.station_id
        self.version = config.version
        self.observer = observer
        self.rng = rng or random.Random()
        self.clock = Clock(config.speed, config.clock_skew_s)
        self.journal = Journal(config.station_id, config.journal_file, config.journal_keep)
        self.state = PersistentState.load(config.state_file, config.firmware_version)
        for key, value in config.configuration.items():  # persisted changes win
            self.state.configuration.setdefault(key, value)
        identity = {"NumberOfConnectors": str(config.connectors)}
        if config.v201:
            identity = {"SecurityCtrlr/Identity": config.station_id}
        self.settings = Configuration(config.v201, self.state.configuration, identity)
        self.profiles = ProfileStore(config.max_power_w, config.voltage_v, config.phases)
        now = self.clock.now()
        for entry in self.state.profiles:
            self.profiles.install(Profile.parse(entry["connector"], entry["raw"], now))
        self.connectors = {
            n: Connector(
                n,
                Meter(self.state.meter_wh.get(str(n), config.meter_start_wh), now),
                ev_max_w=config.max_power_w,
                inoperative=n in self.state.inoperative,
            )
            for n in range(1, config.connectors + 1)
        }
        if config.v201:
            from chargers.v201 import Protocol201

            self.protocol: Any = Protocol201(self)
        else:
            from chargers.v16 import Protocol16

            self.protocol = Protocol16(self)
        self.outbox = Outbox(self)
        self.sessions = Sessions(self)
        self.rpc: Rpc | None = None
        self.boot_status: str | None = None
        self.boot_reason = "PowerUp"
        self.heartbeat_s = self.settings.number("heartbeat_s")
        self.refused: int | None = None  # HTTP status of the last refused handshake
        self.connections = 0  # successful WebSocket handshakes since power on
        self._ids = itertools.count(1)
        self._boot_token = secrets.token_hex(3)
        self._tasks: set[asyncio.Task] = set()
        self._main: asyncio.Task | None = None
        self._online: asyncio.Event | None = None
        self._network: asyncio.Event | None = None
        self._boot_event: asyncio.Event | None = None
        self.accepted_boots = 0
        self._ws = None
        self._reboot: str | None = None  # the boot reason after a requested reboot
        self._stopping = False
        # Test hooks: answers given instead of the protocol's own (see `answer_with`).
        self.overrides: dict[str, Callable[[dict], Any]] = {}

    # ---- lifecycle -------------------------------------------------------------------------

    @property
    def v201(self) -> bool:
        return self.config.v201

    @property
    def online(self) -> bool:
        return self._online is not None and self._online.is_set()

    async def start(self) -> None:
        """Power on: connect and boot in the background (see `wait_booted`)."""
        self._online, self._network = asyncio.Event(), asyncio.Event()
        self._boot_event = asyncio.Event()
        self._network.set()
        self.state.boots += 1
        self.save_state()
        self.journal.write("power_on", version=self.version, firmware=self.state.firmware_version)
        self._main = asyncio.create_task(self._run(), name=f"charger-{self.station_id}")

    async def wait_booted(self, count: int = 1, timeout_s: float = 30.0) -> None:
        """Wait until `count` boots (since power on) have been accepted."""

        async def booted() -> None:
            while self.accepted_boots < count:
                assert self._boot_event is not None, "start() first"
                await self._boot_event.wait()

        await asyncio.wait_for(booted(), timeout_s)

    async def wait_boot_answer(self, timeout_s: float = 30.0) -> str:
        """Wait for the first answer to BootNotification (Accepted, Pending or Rejected), or for
        a refused handshake (then "Refused")."""

        async def answered() -> str:
            while self.boot_status is None and self.refused is None:
                await asyncio.sleep(0.02)
            return self.boot_status or "Refused"

        return await asyncio.wait_for(answered(), timeout_s)

    async def wait_online(self) -> None:
        assert self._online is not None
        await self._online.wait()

    async def stop(self) -> None:
        """Power off: stop the tasks, close the socket, keep the state and the journal."""
        self._stopping = True
        for task in list(self._tasks):
            task.cancel()
        if self._main is not None:
            self._main.cancel()
            # bounded: a socket stuck in its closing handshake must not keep the charger on
            done, _ = await asyncio.wait([self._main], timeout=_STOP_WAIT_S)
            for task in done:  # its error (if any) is the power-off's, not worth a warning
                if not task.cancelled():
                    task.exception()
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.close()
        for connector in self.connectors.values():
            connector.meter.advance(self.clock.now())
        self.save_state()
        self.journal.write("power_off")
        self.journal.close()

    async def __aenter__(self) -> Charger:
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task:
        """Run `coro` in the background for as long as the charger lives."""
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            err = task.exception()
            if not isinstance(err, ConnectionClosed | CallError | CallTimeout):
                log.error("%s: background task failed: %r", self.station_id, err)
                self.journal.write("bug", error=repr(err))

    def next_id(self) -> str:
        return f"{self._boot_token}-{next(self._ids)}"

    def save_state(self) -> None:
        self.state.meter_wh = {str(n): c.meter.register_wh for n, c in self.connectors.items()}
        self.state.profiles = [
            {"connector": p.connector, "raw": p.raw} for p in self.profiles.profiles
        ]
        self.state.inoperative = sorted(
            {n for n, c in self.connectors.items() if c.inoperative} | self._station_inoperative()
        )
        self.state.save(self.config.state_file)

    def _station_inoperative(self) -> set[int]:
        return {0} if 0 in self.state.inoperative else set()

    # ---- the network ----------------------------------------------------------------------

    async def go_offline(self, seconds: float | None = None) -> None:
        """Lose the network (the socket is cut without a close frame) for `seconds`
        (None: until `go_online`)."""
        assert self._network is not None
        self._network.clear()
        if self._online is not None:
            self._online.clear()  # nothing reaches the CSMS from now on
        if self.rpc is not None:
            self.rpc.closed = True
        self.journal.write("network_down", seconds=seconds)
        if self._ws is not None:
            transport = getattr(self._ws, "transport", None)
            if transport is not None:
                transport.abort()
        if seconds is not None:
            self.spawn(self._network_back(seconds))

    async def _network_back(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        self.go_online()

    def go_online(self) -> None:
        assert self._network is not None
        if not self._network.is_set():
            self.journal.write("network_up")
            self._network.set()

    async def _run(self) -> None:
        behaviour = self.config.behaviour
        backoff = behaviour.reconnect_min_s
        assert self._network is not None
        while not self._stopping:
            await self._network.wait()
            try:
                ws = await websockets.connect(
                    f"{self.config.url.rstrip('/')}/{self.station_id}",
                    subprotocols=[schemas.SUBPROTOCOLS[self.version]],
                    additional_headers=basic_auth_header(self.station_id, self._password()),
                    open_timeout=30,
                    ping_interval=None,  # the CSMS pings; chargers answer
                    compression=None,
                    max_size=2**22,
                    **({"ssl": self.config.ssl_context} if self.config.ssl_context else {}),
                )
            except (OSError, InvalidHandshake, TimeoutError) as err:
                self.refused = err.response.status_code if isinstance(err, InvalidStatus) else None
                self.journal.write("connect_failed", error=repr(err)[:200], status=self.refused)
                self._next_url()
                await asyncio.sleep(backoff * self.rng.uniform(0.5, 1.0))
                backoff = min(backoff * 2, behaviour.reconnect_max_s)
                continue
            backoff = behaviour.reconnect_min_s
            self.refused = None
            try:
                await self._connection(ws)
            finally:
                self._ws, self.rpc = None, None
                assert self._online is not None
                self._online.clear()
                with contextlib.suppress(Exception):
                    await ws.close()
            if self._reboot is not None:
                await asyncio.sleep(self.clock.real_seconds(1.0))  # booting takes a moment
                if behaviour.meter_reset_on_reboot:
                    for connector in self.connectors.values():
                        self.reset_meter(connector.id)
                continue
            if not self._stopping:
                await asyncio.sleep(backoff * self.rng.uniform(0.5, 1.0))

    def _next_url(self) -> None:
        """After a failed connect, move to the next CSMS URL of the priority list (if any)."""
        urls = [self.config.url, *self.config.backup_urls]
        if len(urls) > 1:
            self.config.url, self.config.backup_urls = urls[1], tuple(urls[2:] + urls[:1])
            self.journal.write("url_changed", url=self.config.url)

    async def _connection(self, ws) -> None:
        self._ws = ws
        self.connections += 1
        self.journal.write("connected", subprotocol=ws.subprotocol)
        self._boot_token = secrets.token_hex(3)
        rpc = Rpc(
            ws,
            self.version,
            self.journal,
            self._dispatch,
            next_id=self.next_id,
            timeout_s=self.config.message_timeout_s,
            strict=self.config.strict,
            observer=self.observer,
            spawn=self.spawn,
        )
        self.rpc = rpc
        reader = asyncio.create_task(rpc.run())
        drops = self.spawn(self._random_drop()) if self.config.behaviour.drop_mean_s else None
        try:
            if await self._boot(rpc, reader):
                await self._heartbeats(rpc, reader)
        except (ConnectionClosed, CallTimeout, CallError) as err:
            self.journal.write("connection_error", error=repr(err)[:200])
        finally:
            if drops is not None:
                drops.cancel()
            with contextlib.suppress(Exception):
                await ws.close()
            await asyncio.gather(reader, return_exceptions=True)
            self.journal.write("disconnected", code=getattr(ws, "close_code", None))

    async def _boot(self, rpc: Rpc, reader: asyncio.Task) -> bool:
        reason = self._reboot or self.boot_reason
        self._reboot = None
        while not reader.done():
            result = await rpc.call("BootNotification", self.protocol.boot_payload(reason))
            self.boot_status = result["status"]
            self.journal.write(
                "boot", status=self.boot_status, firmware=self.state.firmware_version, reason=reason
            )
            interval = result.get("interval") or 0
            if self.boot_status == "Accepted":
                if interval:
                    self.heartbeat_s = interval
                    key = "OCPPCommCtrlr/HeartbeatInterval" if self.v201 else "HeartbeatInterval"
                    self.settings.values[key] = str(interval)
                else:
                    self.heartbeat_s = self.settings.number("heartbeat_s")
                break
            done, _ = await asyncio.wait({reader}, timeout=self.clock.real_seconds(interval or 10))
        else:
            return False
        assert self._online is not None and self._boot_event is not None
        self._online.set()
        self.accepted_boots += 1
        event, self._boot_event = self._boot_event, asyncio.Event()
        event.set()
        await self.protocol.after_boot()
        return True

    async def _heartbeats(self, rpc: Rpc, reader: asyncio.Task) -> None:
        while not reader.done():
            wait = self.clock.real_seconds(max(self.heartbeat_s, 1))
            done, _ = await asyncio.wait({reader}, timeout=wait)
            if done:
                return
            with contextlib.suppress(CallError, CallTimeout):
                await rpc.call("Heartbeat", {})

    async def _random_drop(self) -> None:
        behaviour = self.config.behaviour
        assert behaviour.drop_mean_s
        await asyncio.sleep(
            self.clock.real_seconds(self.rng.expovariate(1 / behaviour.drop_mean_s))
        )
        await self.go_offline(self.clock.real_seconds(behaviour.drop_offline_s))

    # ---- test hooks: explicit messages, raw frames, chosen answers --------------------------

    def answer_with(self, action: str, handler: Callable[[dict], Any] | None) -> None:
        """Answer `action` with `handler(payload)` (a response payload, or a payload and a
        coroutine run once the answer is on the wire; or an awaitable of either) instead of the
        charger's own behaviour; raising `OcppFault` answers a CALLERROR; None restores the
        charger's own. The answer is still validated against the schema."""
        if handler is None:
            self.overrides.pop(action, None)
        else:
            self.overrides[action] = handler

    async def _dispatch(self, action: str, payload: dict) -> Answer:
        handler = self.overrides.get(action)
        if handler is None:
            return await self.protocol.dispatch(action, payload)
        answer = handler(payload)
        if inspect.isawaitable(answer):  # a slow answer (the CSMS may time out meanwhile)
            answer = await answer
        return answer if isinstance(answer, tuple) else (answer, None)

    async def call(
        self,
        action: str,
        payload: dict,
        *,
        unique_id: str | None = None,
        strict: bool | None = None,
        timeout_s: float | None = None,
    ) -> dict:
        """Send one CALL now and return the answer's payload; raises `CallError` on a
        CALLERROR, `CallTimeout`, or `ConnectionError` when not connected. `unique_id` reuses a
        message id; `strict=False` sends a payload the schema forbids (hostile-station tests)."""
        rpc = self.rpc
        if rpc is None or rpc.closed:
            raise ConnectionError(f"{self.station_id} is not connected")
        return await rpc.call(
            action, payload, unique_id=unique_id, strict=strict, timeout_s=timeout_s
        )

    async def send_raw(
        self, frame: str | bytes, *, answer_id: str | None = None, timeout_s: float = 10.0
    ) -> list | None:
        """Send `frame` untouched on the open socket (the escape hatch for malformed and hostile
        frames); with `answer_id`, wait for and return the frame answering it."""
        rpc = self.rpc
        if rpc is None or rpc.closed:
            raise ConnectionError(f"{self.station_id} is not connected")
        self.journal.write("raw", frame=str(frame)[:200])
        await rpc.send_raw(frame)
        if answer_id is None:
            return None
        return await rpc.unmatched_answer(answer_id, timeout_s)

    # ---- sending outside transactions -------------------------------------------------------

    def _password(self) -> str:
        """The Basic-auth password: the one the CSMS set last (1.6 AuthorizationKey, 2.0.1
        SecurityCtrlr.BasicAuthPassword), else the one it was installed with."""
        key = "SecurityCtrlr/BasicAuthPassword" if self.v201 else "AuthorizationKey"
        return self.settings.get(key) or self.config.password

    async def send(self, action: str, payload: dict) -> dict | None:
        """A CALL outside the transaction flow: only while online (Accepted), except the answers
        a Pending station may send (2.0.1 NotifyReport, B02); None if it fails."""
        rpc = self.rpc
        pending_reply = (
            action in _SENT_WHILE_PENDING and self._network is not None and self._network.is_set()
        )
        if rpc is None or not (self.online or pending_reply):
            self.journal.write("not_sent", action=action, why="offline")
            return None
        try:
            return await rpc.call(action, payload)
        except (CallError, CallTimeout, ConnectionClosed):
            return None

    async def status(self, connector: Connector, status: str | None = None) -> None:
        """Set the connector's status and report it (late, with the quirk)."""
        before = self.protocol.reported_status(connector)
        if status is not None:
            connector.status = status
        after = self.protocol.reported_status(connector)
        if before == after and status is not None and self.v201:
            return  # 2.0.1 reports Occupied once, not every 1.6-style step
        late = self.config.behaviour.late_status_s
        if late:
            self.spawn(self._late_status(connector, after, late))
        else:
            await self.send("StatusNotification", self.protocol.status_payload(connector, after))

    async def _late_status(self, connector: Connector, status: str, delay: float) -> None:
        await self.clock.sleep(delay)
        await self.send("StatusNotification", self.protocol.status_payload(connector, status))

    def now_iso(self) -> str:
        return iso(self.clock.now())

    def reset_meter(self, connector_id: int) -> None:
        """The connector's energy register restarts from 0 (a meter fault or replacement)."""
        connector = self.connectors[connector_id]
        connector.meter.reset(self.clock.now())
        if connector.transaction is not None:
            connector.transaction.last_wh = 0
        self.journal.write("meter_reset", connector=connector_id)
        self.save_state()

    # ---- reboots ---------------------------------------------------------------------------

    async def fault(
        self, connector_id: int, error_code: str = "OtherError", clears_on: set[str] | None = None
    ) -> None:
        """The connector fails (Faulted, a running transaction stops). It recovers on
        `recover`, or by itself on what `clears_on` names: "probe" (a triggered
        StatusNotification), "soft" or "hard" (a reset of that kind)."""
        connector = self.connectors[connector_id]
        if connector.transaction is not None:
            await self.sessions.stop(connector_id, "Other")
        connector.fault = {"error_code": error_code, "clears_on": sorted(clears_on or ())}
        self.journal.write("fault", connector=connector_id, errorCode=error_code)
        await self.status(connector, "Faulted")

    async def recover(self, connector_id: int, *, report: bool = True) -> None:
        """The fault is gone: the connector is back to its idle status."""
        connector = self.connectors[connector_id]
        if connector.fault is None:
            return
        connector.fault = None
        connector.status = self.sessions.idle_status(connector)
        self.journal.write("recovered", connector=connector_id)
        if report:
            await self.status(connector)

    def clears(self, event: str) -> list[int]:
        """Recover the connectors whose fault clears on `event` (without reporting)."""
        cleared = [
            c.id for c in self.connectors.values() if c.fault and event in c.fault["clears_on"]
        ]
        for connector_id in cleared:
            connector = self.connectors[connector_id]
            connector.fault = None
            connector.status = self.sessions.idle_status(connector)
            self.journal.write("recovered", connector=connector_id, by=event)
        return cleared

    async def reboot(self, reason: str, *, hard: bool, kind: str | None = None) -> None:
        """Close the connection and boot again with `reason` (2.0.1 BootReason). A soft reboot
        stops transactions first; a hard one cuts them (their stop is sent after the boot).
        `kind` (soft / hard, default from `hard`) is what a fault may clear on."""
        self.journal.write("reboot", reason=reason, hard=hard)
        self.clears(kind or ("hard" if hard else "soft"))
        await self.sessions.stop_all(self.protocol.reset_reason(hard), graceful=not hard)
        self._reboot = reason
        for connector in self.connectors.values():
            connector.meter.advance(self.clock.now())
            connector.reservation = None
        self.save_state()
        self._boot_token = secrets.token_hex(3)
        if self._ws is not None:
            await self._ws.close()


def basic_auth_header(station_id: str, password: str) -> dict[str, str]:
    """The HTTP Basic `Authorization` header a station sends with its WebSocket handshake."""
    token = base64.b64encode(f"{station_id}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}
