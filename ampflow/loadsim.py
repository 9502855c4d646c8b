"""A load simulator: many OCPP chargers (1.6 or 2.0.1) from one process, bounded in time.

Each simulated station connects, boots, heartbeats, and runs sessions (authorize → start →
meter values every `meter_interval` → stop). Frames are built by hand and sent with `orjson` over
plain `websockets` so one process can drive thousands of stations; latency is measured per action.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import random
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson
import websockets


@dataclass
class LoadConfig:
    url: str
    stations: int = 10
    sessions: int = 1  # per station
    meter_values: int = 5  # per session
    meter_interval_s: float = 1.0
    heartbeat_interval_s: float = 30.0
    version: str = "1.6"
    duration_s: float = 60.0
    station_prefix: str = "LOAD-"
    password: str = "load-secret"
    id_tag: str = "LOAD-TAG"
    connect_rate: float = 200.0  # new connections per second
    progress: bool = True


@dataclass
class LoadStats:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    connected: int = 0
    booted: int = 0
    sessions_done: int = 0
    messages: int = 0
    started_at: float = field(default_factory=time.monotonic)

    def table(self) -> str:
        elapsed = max(time.monotonic() - self.started_at, 1e-9)
        lines = [
            f"connections {self.connected}  boots {self.booted}  sessions {self.sessions_done}  "
            f"messages {self.messages}  ({self.messages / elapsed:.0f}/s over {elapsed:.1f}s)",
            f"{'action':<22}{'count':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}",
        ]
        for action, values in sorted(self.latencies.items()):
            ordered = sorted(values)
            lines.append(
                f"{action:<22}{len(ordered):>8}{_pct(ordered, 50):>9.1f}{_pct(ordered, 95):>9.1f}"
                f"{_pct(ordered, 99):>9.1f}{ordered[-1] * 1000 if ordered else 0:>9.1f}"
            )
        if self.errors:
            lines.append("errors: " + ", ".join(f"{k}={v}" for k, v in sorted(self.errors.items())))
        return "\n".join(lines)


def _pct(ordered: list[float], p: int) -> float:
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))] * 1000


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class SimStation:
    """One simulated charger speaking raw OCPP-J frames."""

    def __init__(self, config: LoadConfig, index: int, stats: LoadStats) -> None:
        self.config, self.stats = config, stats
        self.station_id = f"{config.station_prefix}{index:05d}"
        self.ids = itertools.count()
        self.ws = None
        self.pending: dict[str, asyncio.Future] = {}
        self.energy = 0
        self.v201 = config.version.startswith("2")

    async def call(self, action: str, payload: dict) -> dict:
        unique_id = str(next(self.ids))
        future = asyncio.get_running_loop().create_future()
        self.pending[unique_id] = future
        started = time.monotonic()
        await self.ws.send(orjson.dumps([2, unique_id, action, payload]).decode())
        frame = await asyncio.wait_for(future, 60)
        self.stats.latencies[action].append(time.monotonic() - started)
        self.stats.messages += 1
        if frame[0] == 4:
            self.stats.errors[f"{action}:{frame[2]}"] += 1
            return {}
        return frame[2]

    async def _reader(self) -> None:
        async for raw in self.ws:
            frame = orjson.loads(raw)
            if frame[0] in (3, 4):
                future = self.pending.pop(frame[1], None)
                if future is not None and not future.done():
                    future.set_result(frame)
            elif frame[0] == 2:  # a command from the CSMS: accept it
                await self.ws.send(orjson.dumps([3, frame[1], {"status": "Accepted"}]).decode())

    async def run(self, deadline: float) -> None:
        token = base64.b64encode(f"{self.station_id}:{self.config.password}".encode()).decode()
        subprotocol = "ocpp2.0.1" if self.v201 else "ocpp1.6"
        try:
            self.ws = await websockets.connect(
                f"{self.config.url.rstrip('/')}/{self.station_id}",
                subprotocols=[subprotocol],
                additional_headers={"Authorization": f"Basic {token}"},
                open_timeout=60,
                compression=None,
                ping_interval=None,
            )
        except Exception as err:
            self.stats.errors[f"connect:{type(err).__name__}"] += 1
            return
        self.stats.connected += 1
        reader = asyncio.create_task(self._reader())
        try:
            await self._boot()
            heartbeat = asyncio.create_task(self._heartbeats(deadline))
            for n in range(self.config.sessions):
                if time.monotonic() > deadline:
                    break
                await self._session(n, deadline)
            heartbeat.cancel()
        except (TimeoutError, websockets.ConnectionClosed) as err:
            self.stats.errors[type(err).__name__] += 1
        finally:
            reader.cancel()
            await self.ws.close()

    async def _boot(self) -> None:
        if self.v201:
            payload = {
                "chargingStation": {"model": "Load", "vendorName": "Ampflow"},
                "reason": "PowerUp",
            }
        else:
            payload = {"chargePointVendor": "Ampflow", "chargePointModel": "Load"}
        answer = await self.call("BootNotification", payload)
        if answer.get("status") == "Accepted":
            self.stats.booted += 1

    async def _heartbeats(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            await asyncio.sleep(self.config.heartbeat_interval_s * random.uniform(0.5, 1.0))
            await self.call("Heartbeat", {})

    async def _session(self, n: int, deadline: float) -> None:
        tag = self.config.id_tag
        if self.v201:
            await self.call("Authorize", {"idToken": {"idToken": tag, "type": "ISO14443"}})
            tx = f"{self.station_id}-{n}-{random.randrange(10**9)}"
            await self._tx201("Started", tx, 0, "Authorized", id_token=tag)
            for seq in range(1, self.config.meter_values + 1):
                await asyncio.sleep(self.config.meter_interval_s)
                self.energy += 250
                await self._tx201("Updated", tx, seq, "MeterValuePeriodic")
            await self._tx201("Ended", tx, self.config.meter_values + 1, "StopAuthorized")
        else:
            await self.call("Authorize", {"idTag": tag})
            started = await self.call(
                "StartTransaction",
                {"connectorId": 1, "idTag": tag, "meterStart": self.energy, "timestamp": _now()},
            )
            tx = started.get("transactionId")
            if tx is None:
                return
            for _ in range(self.config.meter_values):
                await asyncio.sleep(self.config.meter_interval_s)
                self.energy += 250
                await self.call(
                    "MeterValues",
                    {"connectorId": 1, "transactionId": tx, "meterValue": [self._reading_16()]},
                )
            await self.call(
                "StopTransaction",
                {
                    "transactionId": tx,
                    "meterStop": self.energy,
                    "timestamp": _now(),
                    "reason": "Local",
                },
            )
        self.stats.sessions_done += 1

    def _reading_16(self) -> dict:
        return {
            "timestamp": _now(),
            "sampledValue": [
                {
                    "value": str(self.energy),
                    "measurand": "Energy.Active.Import.Register",
                    "unit": "Wh",
                },
                {"value": "7400", "measurand": "Power.Active.Import", "unit": "W"},
            ],
        }

    async def _tx201(self, event: str, tx: str, seq: int, trigger: str, id_token=None) -> None:
        payload: dict = {
            "eventType": event,
            "timestamp": _now(),
            "triggerReason": trigger,
            "seqNo": seq,
            "transactionInfo": {"transactionId": tx},
            "evse": {"id": 1, "connectorId": 1},
            "meterValue": [
                {
                    "timestamp": _now(),
                    "sampledValue": [
                        {"value": float(self.energy), "measurand": "Energy.Active.Import.Register"}
                    ],
                }
            ],
        }
        if id_token:
            payload["idToken"] = {"idToken": id_token, "type": "ISO14443"}
        if event == "Ended":
            payload["transactionInfo"]["stoppedReason"] = "Local"
        await self.call("TransactionEvent", payload)


async def run_load(config: LoadConfig) -> LoadStats:
    """Run the load until every station is done or `duration_s` passes; returns the stats."""
    stats = LoadStats()
    deadline = time.monotonic() + config.duration_s
    tasks = []
    progress = asyncio.create_task(_progress(stats, config)) if config.progress else None
    for index in range(config.stations):
        station = SimStation(config, index, stats)
        tasks.append(asyncio.create_task(station.run(deadline)))
        await asyncio.sleep(1 / config.connect_rate)
    remaining = max(deadline - time.monotonic(), 0) + 5
    done, pending = await asyncio.wait(tasks, timeout=remaining)
    for task in pending:
        task.cancel()
    if progress:
        progress.cancel()
        print(file=sys.stderr)
    return stats


async def _progress(stats: LoadStats, config: LoadConfig) -> None:
    while True:
        await asyncio.sleep(1)
        bar = "#" * int(30 * stats.connected / max(config.stations, 1))
        print(
            f"\r[{bar:<30}] {stats.connected}/{config.stations} connected  "
            f"{stats.messages} messages  {stats.sessions_done} sessions",
            end="",
            file=sys.stderr,
            flush=True,
        )
