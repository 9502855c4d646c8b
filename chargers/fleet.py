"""A fleet of virtual chargers in one process, with sessions drawn from simple distributions.

Each station `{prefix}{i:05d}` (OCPP 1.6, 2.0.1, or alternating with `mixed`: odd numbers 1.6,
even 2.0.1) connects at `connect_rate` per second, boots and heartbeats, and runs sessions:

- **arrivals**: the idle time before the next EV arrives is exponential with mean `arrival_s`
  (a Poisson process per connector);
- **dwell**: an EV charges for a time uniform on [dwell_s / 2, 3 × dwell_s / 2];
- **power**: the EV accepts 3.7, 7.4, 11 or 22 kW with probabilities 0.2, 0.3, 0.3, 0.2, capped by
  the charger's `max_power_w`; the meter integrates it over time (under any charging profile).

Meter values go every `meter_interval_s`. Everything is drawn from one `random.Random(seed)`,
so a run's schedule is reproducible from its seed. `FleetStats.table()` is the per-action
latency table `ampflow simulate --stations` prints.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from chargers.charger import Charger
from chargers.config import Behaviour, ChargerConfig

EV_POWER_KW = ((3.7, 0.2), (7.4, 0.3), (11.0, 0.3), (22.0, 0.2))


@dataclass
class FleetConfig:
    url: str
    stations: int = 10
    version: str = "1.6"  # 1.6 | 2.0.1 | mixed
    sessions: int | None = 1  # per station; None: as many as the duration allows
    duration_s: float | None = 60.0  # None: until cancelled
    arrival_s: float = 5.0
    dwell_s: float = 10.0
    meter_interval_s: int = 1
    max_power_w: float = 22_000.0
    station_prefix: str = "LOAD-"
    digits: int = 5  # LOAD-00000; 0 for VC-1
    first_number: int = 0
    password: str = "load-secret-0123456789"
    id_tag: str = "LOAD-TAG"
    tag_per_station: bool = False  # each station's driver has its own card: {id_tag}-{number}
    state_dir: Path | None = None
    connect_rate: float = 200.0
    speed: float = 1.0
    seed: int | None = None
    journal_dir: Path | None = None
    strict: bool = True
    progress: bool = True

    def number(self, index: int) -> int:
        return index + self.first_number

    def station_id(self, index: int) -> str:
        return f"{self.station_prefix}{self.number(index):0{self.digits}d}"

    def tag(self, index: int) -> str:
        return f"{self.id_tag}-{self.number(index)}" if self.tag_per_station else self.id_tag

    def version_of(self, index: int) -> str:
        if self.version == "mixed":  # odd station numbers 1.6, even 2.0.1
            return "1.6" if self.number(index) % 2 else "2.0.1"
        return self.version


@dataclass
class FleetStats:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    # when each answer came, in seconds since the start (same order as `latencies`)
    answered_at: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    connected: int = 0
    booted: int = 0
    sessions_done: int = 0
    messages: int = 0
    started_at: float = field(default_factory=time.monotonic)

    def observe(self, action: str, seconds: float, error: str | None) -> None:
        self.messages += 1
        self.latencies[action].append(seconds)
        self.answered_at[action].append(time.monotonic() - self.started_at)
        if error is not None:
            self.errors[f"{action}:{error}"] += 1

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


def ev_power_w(rng: random.Random, max_power_w: float) -> float:
    kw = rng.choices([p for p, _ in EV_POWER_KW], weights=[w for _, w in EV_POWER_KW])[0]
    return min(kw * 1000, max_power_w)


class Fleet:
    """The chargers of a fleet run and the drivers that use them."""

    def __init__(self, config: FleetConfig) -> None:
        self.config = config
        self.seed = config.seed if config.seed is not None else random.randrange(2**32)
        self.rng = random.Random(self.seed)
        self.stats = FleetStats()
        self.chargers: list[Charger] = []

    def _charger(self, index: int) -> Charger:
        config = self.config
        station_id = config.station_id(index)
        version = config.version_of(index)
        interval = str(max(int(config.meter_interval_s), 1))
        key = (
            "SampledDataCtrlr/TxUpdatedInterval"
            if version == "2.0.1"
            else "MeterValueSampleInterval"
        )
        journal = config.journal_dir / f"{station_id}.jsonl" if config.journal_dir else None
        state = config.state_dir / f"{station_id}.state.json" if config.state_dir else None
        return Charger(
            ChargerConfig(
                station_id=station_id,
                password=config.password,
                url=config.url,
                version=version,
                max_power_w=config.max_power_w,
                speed=config.speed,
                strict=config.strict,
                journal_file=journal,
                state_file=state,
                journal_keep=0 if journal is None else 100,
                configuration={key: interval},
                behaviour=Behaviour(reconnect_min_s=1.0, reconnect_max_s=30.0),
            ),
            observer=self.stats.observe,
            rng=random.Random(self.rng.randrange(2**32)),
        )

    async def _drive(self, charger: Charger, deadline: float, tag: str) -> None:
        """One EV after another at connector 1 until the sessions or the time run out."""
        config, rng = self.config, charger.rng
        try:
            await charger.wait_booted(timeout_s=max(deadline - time.monotonic(), 1))
        except TimeoutError:
            return
        done = 0
        while config.sessions is None or done < config.sessions:
            await charger.clock.sleep(
                rng.expovariate(1 / config.arrival_s) if config.arrival_s else 0
            )
            if time.monotonic() > deadline:
                return
            charger.connectors[1].ev_max_w = ev_power_w(rng, config.max_power_w)
            if charger.sessions.active():  # a remote start is using the connector
                continue
            tx = await charger.sessions.start_local(tag, 1)
            if tx is None:
                self.stats.errors["start:refused"] += 1
                await charger.clock.sleep(max(config.arrival_s, 1.0))
                continue
            await charger.clock.sleep(rng.uniform(config.dwell_s / 2, 3 * config.dwell_s / 2))
            await charger.sessions.stop(1, "Local")
            done += 1
            self.stats.sessions_done += 1

    async def run(self, on_progress: Callable[[FleetStats], None] | None = None) -> FleetStats:
        """Run until every driver is done or `duration_s` passes; returns the stats. With
        `config.progress`, `on_progress` (the CLI's progress display) gets them every second."""
        config = self.config
        deadline = time.monotonic() + (config.duration_s or float("inf"))
        progress = None
        if config.progress and on_progress is not None:
            progress = asyncio.create_task(self._progress(on_progress))
        drivers: list[asyncio.Task] = []
        try:
            for index in range(config.stations):
                charger = self._charger(index)
                self.chargers.append(charger)
                await charger.start()
                tag = config.tag(index)
                drivers.append(asyncio.create_task(self._drive(charger, deadline, tag)))
                await asyncio.sleep(1 / config.connect_rate)
            left = max(deadline - time.monotonic(), 0) + 5
            await asyncio.wait(drivers, timeout=None if config.duration_s is None else left)
            for driver in drivers:
                driver.cancel()
            await self._drain(10.0)
        finally:
            for driver in drivers:
                driver.cancel()
            self._count(final=True)
            stops = [asyncio.ensure_future(c.stop()) for c in self.chargers]
            if stops:  # bounded, so a run always ends by itself
                await asyncio.wait(stops, timeout=30.0)
            if progress is not None:
                progress.cancel()
        return self.stats

    async def _drain(self, timeout_s: float) -> None:
        """Give queued transaction messages a moment to reach the CSMS."""
        end = time.monotonic() + timeout_s
        while time.monotonic() < end and any(len(c.outbox) and c.online for c in self.chargers):
            await asyncio.sleep(0.1)

    def _count(self, final: bool = False) -> None:
        self.stats.connected = sum(1 for c in self.chargers if c.connections)
        self.stats.booted = sum(1 for c in self.chargers if c.accepted_boots)
        if final:
            for charger in self.chargers:
                if not charger.connections:
                    reason = f"HTTP {charger.refused}" if charger.refused else "unreachable"
                    self.stats.errors[f"connect:{reason}"] += 1
                elif not charger.accepted_boots:
                    self.stats.errors[f"boot:{charger.boot_status}"] += 1

    async def _progress(self, report: Callable[[FleetStats], None]) -> None:
        while True:
            await asyncio.sleep(1)
            self._count()
            report(self.stats)


async def run_fleet(config: FleetConfig) -> FleetStats:
    return await Fleet(config).run()


def demo_network(
    url: str,
    count: int,
    password: str,
    data_dir: Path | None,
    *,
    arrival_s: float = 180.0,
    dwell_s: float = 900.0,
    meter_interval_s: int = 30,
) -> FleetConfig:
    """`ampflow dev --demo N`: VC-1 … VC-N (odd 1.6, even 2.0.1), each with its own card
    VC-TAG-n, EVs arriving all day (mean idle `arrival_s`, charging dwell_s/2 … 3·dwell_s/2),
    journals and state kept under `data_dir`."""
    return FleetConfig(
        url=url,
        stations=count,
        version="mixed",
        sessions=None,
        duration_s=None,
        arrival_s=arrival_s,
        dwell_s=dwell_s,
        meter_interval_s=meter_interval_s,
        station_prefix="VC-",
        digits=0,
        first_number=1,
        password=password,
        id_tag="VC-TAG",
        tag_per_station=True,
        journal_dir=data_dir,
        state_dir=data_dir,
        connect_rate=20.0,
        progress=False,
    )
