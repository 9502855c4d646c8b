"""One chaos run: cluster, fleet, clients and nemesis for N minutes, settle, then the checker.

    report = await run_chaos(ChaosOptions(minutes=3, seed=42, run_dir=Path("/tmp/chaos-42")))

Bounded in time: faults stop at `minutes`, the clients finish their sessions, the system gets
at most `settle_s` to finish what it owes (sessions final, holds settled), then everything is
SIGKILLed. The seed decides the nemesis schedule and every client's choices.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from chaos import fleet
from chaos.checker import Evidence, Verdict, check, read_guest_links
from chaos.clients import Notes, StationClient, make_charger
from chaos.cluster import ADMIN_KEY, STATION_PASSWORD, STRIPE_KEY, Cluster
from chaos.history import read_all
from chaos.nemesis import Fault, Nemesis, schedule


@dataclass
class ChaosOptions:
    minutes: float
    seed: int
    run_dir: Path
    copies: int = 1  # stations per kind (12 kinds)
    settle_s: float = 240.0
    mean_gap_s: float = 6.0  # mean time between faults
    progress_s: float = 15.0
    code_dir: Path | None = None  # the roles' source tree (default: this one)
    faults: list[Fault] | None = None  # a fixed fault list instead of the seed's schedule


@dataclass
class ChaosProgress:
    """Where a run is, for a progress display (`run_chaos(tick=...)`, every second)."""

    phase: str  # "faults" while faults are injected, then "settling"
    elapsed_s: float  # of the fault phase
    total_s: float
    sessions: int  # sessions the clients started
    faults: int


@dataclass
class ChaosReport:
    seed: int
    run_dir: Path
    sessions: int = 0  # completed charger transactions (journals)
    faults: dict[str, int] = field(default_factory=dict)
    restarts: dict[str, int] = field(default_factory=dict)
    verdict: Verdict = field(default_factory=Verdict)
    settled_in_s: float | None = None

    @property
    def sigkills(self) -> int:
        return sum(n for kind, n in self.faults.items() if kind.startswith("kill-"))

    def text(self) -> str:
        lines = [
            f"seed: {self.seed}",
            f"run directory: {self.run_dir}",
            f"sessions run (completed charger transactions): {self.sessions}",
            f"faults injected: {sum(self.faults.values())} (SIGKILLs: {self.sigkills})",
            *(f"  {kind}: {n}" for kind, n in sorted(self.faults.items())),
            "settled in: "
            + (f"{self.settled_in_s:.0f}s" if self.settled_in_s is not None else "did not settle"),
            f"invariant violations: {len(self.verdict.violations)}",
            *(f"  VIOLATION {v}" for v in self.verdict.violations),
            *(f"  note: {n}" for n in self.verdict.notes),
        ]
        return "\n".join(lines)


async def run_chaos(
    options: ChaosOptions,
    say: Callable[[str], None] = print,
    tick: Callable[[ChaosProgress], None] | None = None,
) -> ChaosReport:
    report = ChaosReport(options.seed, options.run_dir)
    cluster = Cluster(options.run_dir, options.code_dir)
    say(f"chaos run, seed {options.seed}, {options.minutes} min, in {options.run_dir}")
    chargers = []
    try:
        await cluster.start()
        plans = fleet.plan(options.copies)
        drivers = await asyncio.to_thread(
            fleet.seed,
            cluster.database_url,
            cluster.stripe_url,
            STRIPE_KEY,
            plans,
            STATION_PASSWORD,
        )
        say(
            f"cluster up: 2 gateways, 2 workers, api, temporal, postgres, stripe; "
            f"{len(plans)} stations"
        )
        journals = options.run_dir / "journals"
        import random

        for plan in plans:
            rng = random.Random(f"{options.seed}:{plan.station_id}:charger")
            chargers.append(make_charger(plan, cluster, journals, rng))
        for charger in chargers:
            await charger.start()
        await asyncio.gather(*(c.wait_booted(timeout_s=60) for c in chargers))
        cluster.start_supervisor()
        notes = Notes(options.run_dir / "clients.jsonl")
        clients = [
            StationClient(plan, charger, cluster, notes, options.seed)
            for plan, charger in zip(plans, chargers, strict=True)
        ]
        faults = (
            options.faults
            if options.faults is not None
            else schedule(options.seed, options.minutes * 60, options.mean_gap_s)
        )
        nemesis = Nemesis(cluster, faults, options.run_dir / "nemesis.jsonl")
        await _drive(options, clients, nemesis, say, tick)
        report.faults = dict(nemesis.counts)
        if tick is not None:
            total_s = options.minutes * 60
            sessions = sum(c.sessions for c in clients)
            tick(ChaosProgress("settling", total_s, total_s, sessions, sum(report.faults.values())))
        say("faults stopped; settling")
        report.settled_in_s = await _settle(cluster, chargers, options.settle_s, say)
        evidence = await _evidence(cluster, plans, drivers, options.run_dir)
        (options.run_dir / "evidence.json").write_text(  # the checker can be run again offline
            json.dumps(
                {"copies": options.copies, "drivers": drivers, **dataclasses.asdict(evidence)}
            )
        )
        for charger in chargers:
            await charger.stop()
        chargers = []
        notes.close()
        histories = read_all(journals)
        report.verdict = check(plans, drivers, histories, evidence)
        report.sessions = report.verdict.completed
        report.restarts = dict(cluster.restarts)
    finally:
        for charger in chargers:
            with contextlib.suppress(Exception):
                await charger.stop()
        await cluster.stop()
    return report


async def _drive(options: ChaosOptions, clients, nemesis: Nemesis, say, tick=None) -> None:
    stop = asyncio.Event()
    tasks = [asyncio.create_task(c.run(stop)) for c in clients]
    faults = asyncio.create_task(nemesis.run())
    started = time.monotonic()
    end = started + options.minutes * 60
    ticks = asyncio.create_task(_ticks(tick, clients, nemesis, started, end)) if tick else None
    while time.monotonic() < end:
        await asyncio.sleep(min(options.progress_s, max(0.0, end - time.monotonic())))
        kills = sum(n for k, n in nemesis.counts.items() if k.startswith("kill-"))
        say(
            f"[{time.monotonic() - started:5.0f}s] sessions started "
            f"{sum(c.sessions for c in clients)}"
            f", faults {sum(nemesis.counts.values())} (SIGKILLs {kills})"
        )
    if ticks is not None:
        ticks.cancel()
    faults.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await faults
    await nemesis.heal()
    stop.set()
    await asyncio.wait(tasks, timeout=90)


async def _ticks(tick, clients, nemesis: Nemesis, started: float, end: float) -> None:
    """Progress for a display, every second of the fault phase (output only)."""
    while True:
        now = min(time.monotonic(), end)
        tick(
            ChaosProgress(
                "faults",
                now - started,
                end - started,
                sum(c.sessions for c in clients),
                sum(nemesis.counts.values()),
            )
        )
        await asyncio.sleep(1)


async def _settle(cluster: Cluster, chargers, settle_s: float, say) -> float | None:
    """Wait until every process is up, every charger's outbox is empty, every session is final
    and no hold is open; None if that did not happen within `settle_s`."""
    from chaos.checker import FINAL

    started = time.monotonic()
    while time.monotonic() - started < settle_s:
        await asyncio.sleep(5)
        try:
            alive = all(cluster.alive(n) for n in ["postgres", "temporal", *cluster.roles])
            queued = sum(len(c.outbox) for c in chargers)
            rows = await _sessions(cluster)
            open_sessions = [r for r in rows if r["state"] not in FINAL]
            records = await _stripe_records(cluster)
        except (httpx.HTTPError, ValueError):
            continue
        holds = [
            p for p in records["payment_intents"].values() if p["status"] == "requires_capture"
        ]
        say(
            f"settling: processes up {alive}, queued {queued}, open sessions {len(open_sessions)}"
            f", open holds {len(holds)}"
        )
        if alive and not queued and not open_sessions and not holds:
            return time.monotonic() - started
    return None


async def _sessions(cluster: Cluster, station: str | None = None) -> list[dict]:
    rows: list[dict] = []
    async with httpx.AsyncClient(
        base_url=cluster.api_url, headers={"X-API-Key": ADMIN_KEY}, timeout=30
    ) as api:
        while True:
            params: dict = {"limit": 1000, "offset": len(rows)}
            if station:
                params["station_id"] = station
            page = (await api.get("/sessions", params=params)).raise_for_status().json()
            rows += page
            if len(page) < 1000:
                return rows


async def _stripe_records(cluster: Cluster) -> dict:
    async with httpx.AsyncClient(base_url=cluster.stripe_url, timeout=30) as fake:
        return (await fake.get("/_fake/records")).raise_for_status().json()


async def _evidence(cluster: Cluster, plans, drivers: dict[str, int], run_dir: Path) -> Evidence:
    sessions: dict[str, list[dict]] = collections.defaultdict(list)
    for row in await _retry(lambda: _sessions(cluster)):
        sessions[row["station_id"]].append(row)
    balances = {}
    async with httpx.AsyncClient(
        base_url=cluster.api_url, headers={"X-API-Key": ADMIN_KEY}, timeout=30
    ) as api:
        for plan in plans:
            if plan.kind == "ledger":
                driver = drivers[plan.station_id]

                async def account(driver: int = driver) -> dict:
                    return (await api.get(f"/drivers/{driver}/account")).raise_for_status().json()

                balances[driver] = (await _retry(account))["balance"]
    records = await _retry(lambda: _stripe_records(cluster))
    return Evidence(records, dict(sessions), balances, read_guest_links(run_dir / "clients.jsonl"))


async def _retry(fetch, attempts: int = 30):
    for _ in range(attempts - 1):
        try:
            return await fetch()
        except (httpx.HTTPError, ValueError):
            await asyncio.sleep(2)
    return await fetch()
