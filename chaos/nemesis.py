"""Jepsen's nemesis: faults on a schedule that is a pure function of the seed (FoundationDB).

`schedule(seed, seconds)` lists every fault of a run (when, what, which process or link, for how
long) before anything starts; `Nemesis.run` applies them: SIGKILL of a gateway, a worker, the
API, the Temporal server or PostgreSQL (the supervisor restarts it after the fault's downtime),
cut or slowed links gateway/worker -> Temporal and worker -> PostgreSQL, and the fake Stripe
answering 500, timing out, or losing the answer after doing the work.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

from chaos.cluster import Cluster

log = logging.getLogger(__name__)

KILL_ROLES = ("gateway", "worker", "api", "temporal", "postgres")
LINK_FAULTS = ("cut-temporal", "delay-temporal", "cut-db", "delay-db")
STRIPE_FAULTS = ("stripe-500", "stripe-timeout", "stripe-lost")


@dataclass(frozen=True)
class Fault:
    at_s: float  # seconds after the start of the run
    kind: str  # kill-<role> | cut-temporal | delay-temporal | cut-db | delay-db | stripe-*
    target: str  # process or link name ("" for the fake Stripe)
    duration_s: float  # downtime of a killed process, length of a link fault
    amount: float = 0.0  # delay seconds of a slowed link; requests hit by a Stripe fault


def schedule(seed: int, seconds: float, mean_gap_s: float = 6.0) -> list[Fault]:
    """Every fault of a run, from the seed alone. Kills are about half of the faults, spread
    evenly over the five roles."""
    rng = random.Random(f"{seed}:nemesis")
    faults: list[Fault] = []
    at = rng.uniform(2.0, mean_gap_s)
    while at < seconds:
        roll = rng.random()
        if roll < 0.55:
            role = rng.choice(KILL_ROLES)
            target = {
                "gateway": rng.choice(["gateway-1", "gateway-2"]),
                "worker": rng.choice(["worker-1", "worker-2"]),
            }.get(role, role)
            down = (
                rng.uniform(2.0, 10.0)
                if role in ("temporal", "postgres")
                else rng.uniform(0.5, 6.0)
            )
            faults.append(Fault(at, f"kill-{role}", target, down))
        elif roll < 0.8:
            kind = rng.choice(LINK_FAULTS)
            if kind.endswith("temporal"):
                target = rng.choice(["gateway-1", "gateway-2", "worker-1", "worker-2"])
            else:
                target = rng.choice(["worker-1", "worker-2"])
            faults.append(Fault(at, kind, target, rng.uniform(3.0, 20.0), rng.uniform(0.2, 2.0)))
        else:
            kind = rng.choice(STRIPE_FAULTS)
            faults.append(Fault(at, kind, "", 0.0, float(rng.randint(1, 3))))
        at += rng.expovariate(1 / mean_gap_s)
    return faults


class Nemesis:
    """Applies a schedule to a cluster; counts what it did per kind."""

    def __init__(self, cluster: Cluster, faults: list[Fault], log_path: Path | None = None) -> None:
        self.cluster = cluster
        self.log_path = log_path  # every fault applied, one JSON line each (nemesis.jsonl)
        self.faults = faults
        self.counts: collections.Counter[str] = collections.Counter()
        self.history: list[dict] = []  # (wall time, fault) of every fault applied
        self._pending: set[asyncio.Task] = set()

    async def run(self) -> None:
        started = time.monotonic()
        for fault in self.faults:
            await asyncio.sleep(max(0.0, started + fault.at_s - time.monotonic()))
            try:
                await self._apply(fault)
            except Exception as err:  # a fault that could not be applied is reported, not fatal
                log.warning("fault %s failed: %r", fault, err)
                continue
            self.counts[fault.kind] += 1
            self.history.append({"t": _stamp(), **fault.__dict__})
            if self.log_path is not None:
                with self.log_path.open("a") as out:
                    out.write(json.dumps(self.history[-1]) + "\n")

    async def heal(self) -> None:
        """End every link fault now (processes come back through the supervisor)."""
        for task in list(self._pending):
            task.cancel()
        for proxy in [*self.cluster.temporal_links.values(), *self.cluster.db_links.values()]:
            proxy.delay_s = 0.0
            proxy.restore()
        self.cluster.down_until.clear()

    async def _apply(self, fault: Fault) -> None:
        if fault.kind.startswith("kill-"):
            self.cluster.kill(fault.target, fault.duration_s)
        elif fault.kind in LINK_FAULTS:
            links = (
                self.cluster.temporal_links if "temporal" in fault.kind else self.cluster.db_links
            )
            proxy = links[fault.target]
            if fault.kind.startswith("cut"):
                proxy.cut()
            else:
                proxy.delay_s = fault.amount
            self._later(fault.duration_s, proxy)
        else:
            await self._stripe(fault)

    def _later(self, seconds: float, proxy) -> None:
        async def restore() -> None:
            await asyncio.sleep(seconds)
            proxy.restore()
            proxy.delay_s = 0.0

        task = asyncio.create_task(restore())
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _stripe(self, fault: Fault) -> None:
        rule: dict = {"path_prefix": "/v1/payment_intents", "count": int(fault.amount)}
        if fault.kind == "stripe-500":
            rule |= {"status": 500}
        elif fault.kind == "stripe-lost":
            rule |= {"status": 500, "after_processing": True}
        else:  # answered only after the client gave up, the work done or not
            rule |= {"status": 0, "delay_s": 35.0, "after_processing": fault.amount > 1}
        async with httpx.AsyncClient(base_url=self.cluster.stripe_url, timeout=5) as fake:
            with contextlib.suppress(httpx.HTTPError):
                (await fake.post("/_fake/fail", json=rule)).raise_for_status()


def _stamp() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
