"""authorize_latency: Authorize and StartTransaction through the session workflow's updates.

The gateway (`benchmarks.serve_gateway`) and the session worker (`ampflow.processes.run_worker`)
each run in their own process on a fresh PostgreSQL + Temporal dev server.

1. Saturated: `--concurrency` stations each send Authorize after Authorize (closed loop) for
   `--saturate-seconds`; the same concurrency drives bare Temporal update-with-start on the same
   dev server (a trivial workflow whose update handler returns at once, run by its own worker
   process). Ratio ampflow / bare. Run first, so an overloaded open-loop step cannot spoil it.
2. Open loop: Authorize sends are scheduled on a clock at `--rates` authorizations/s (default
   5, 20, 50) for `--seconds` each, whatever the answers; each Authorize comes from a distinct
   connected station (hand-built OCPP 1.6 frames), which then sends its StartTransaction as soon
   as the Authorize is answered. p50/p99 of both, per rate. Before each step the benchmark
   waits until an Authorize is answered within a second again (the last step's backlog gone).

Targets (printed): Authorize p99 < 250 ms at 20/s; Ampflow saturated ≥ 70 % of bare.
Writes benchmarks/results/authorize_latency.json. `--profile gateway|worker` records the
process with py-spy during the 20/s step and the saturated run and prints own/inclusive time.

    .venv/bin/python -m benchmarks.authorize_latency
    .venv/bin/python -m benchmarks.authorize_latency --rates 5 20 50 --seconds 15 --profile worker
Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import subprocess
import sys
import time
import uuid
from collections import Counter

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from temporalio.client import Client, WithStartWorkflowOperation
    from temporalio.common import WorkflowIDConflictPolicy

    from ampflow.devstack import free_port, stop_process
    from ampflow.load_setup import register_load_stations
    from benchmarks.gateway_capacity import (
        RawStation,
        connect_all,
        finish_profiles,
        now_iso,
        print_profile,
        raise_nofile,
        start_profiles,
        start_server,
    )
    from benchmarks.infra import scrape_decisions, stack, summary_ms, write_result

PREFIX, PASSWORD, ID_TAG = "AUTH-", "bench-station-secret-16", "AUTH-TAG"
TARGET_P99_MS_AT_20 = 250.0
TARGET_SATURATED_SHARE = 0.70
TARGET_P99_MS_AT_50 = 1000.0
BARE_WORKFLOW, BARE_UPDATE = "BenchBareUpdate", "decide"


# ---- the bare Temporal baseline ------------------------------------------------------------


@workflow.defn(name=BARE_WORKFLOW)
class BareUpdate:
    """Update-with-start's minimum: the update handler returns at once, then the run ends."""

    def __init__(self) -> None:
        self.updated = False

    @workflow.run
    async def run(self, value: str) -> str:
        await workflow.wait_condition(lambda: self.updated)
        return value

    @workflow.update(name=BARE_UPDATE)
    def decide(self, value: str) -> str:
        self.updated = True
        return value


async def serve_bare_worker(address: str, task_queue: str) -> None:
    from temporalio.worker import Worker

    from benchmarks.authorize_latency import BareUpdate as Bare  # by module name, not __main__

    client = await Client.connect(address)
    async with Worker(client, task_queue=task_queue, workflows=[Bare]):
        print("ready", flush=True)
        await asyncio.Future()


async def serve_session_worker() -> None:
    import logging

    from ampflow.processes import run_worker
    from runtime.settings import Settings

    logging.basicConfig(level=logging.WARNING)
    hook = os.environ.get("AMPFLOW_BENCH_WORKER_HOOK")
    if hook:  # A/B runs of a proposed worker patch: a module that patches on import
        importlib.import_module(hook)
    settings = Settings()
    await run_worker(settings, settings.database_url or "")


def start_role(
    role: str, env: dict, *extra: str, module: str = "benchmarks.authorize_latency"
) -> subprocess.Popen:
    """This module (or `module`) in `--role ROLE` mode, in its own process."""
    log = open(f"/tmp/ampflow-bench-{role}.log", "ab")  # noqa: SIM115 - kept by the child
    return subprocess.Popen(
        [sys.executable, "-m", module, "--role", role, *extra],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def start_worker(env: dict) -> subprocess.Popen:
    """The Ampflow session worker (`ampflow.processes.run_worker`) in its own process."""
    return start_role("session-worker", env, module="benchmarks.authorize_latency")


async def bare_saturated(
    address: str, task_queue: str, concurrency: int, seconds: float, warm_s: float
) -> dict:
    client = await Client.connect(address)

    async def once() -> None:
        workflow_id = f"bare-{uuid.uuid4().hex}"
        await client.execute_update_with_start_workflow(
            BARE_UPDATE,
            "x",
            start_workflow_operation=WithStartWorkflowOperation(
                BARE_WORKFLOW,
                "x",
                id=workflow_id,
                task_queue=task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            ),
            result_type=str,
        )

    for _ in range(5):  # warm the worker's first workflow task
        await once()
    return await closed_loop(concurrency, seconds, warm_s, lambda _: once())


# ---- load shapes ---------------------------------------------------------------------------


async def closed_loop(concurrency: int, seconds: float, warm_s: float, op) -> dict:
    """`concurrency` loops calling `await op(i)` for `warm_s + seconds`; counts the last part."""
    latencies: list[float] = []
    errors: Counter = Counter()
    start = time.monotonic()
    measure_from, end = start + warm_s, start + warm_s + seconds

    async def loop(i: int) -> None:
        while (began := time.monotonic()) < end:
            try:
                await op(i)
            except Exception as err:
                errors[type(err).__name__] += 1
                await asyncio.sleep(0.1)
                continue
            if began >= measure_from and time.monotonic() <= end:
                latencies.append(time.monotonic() - began)

    tasks = [asyncio.create_task(loop(i)) for i in range(concurrency)]
    done, pending = await asyncio.wait(tasks, timeout=warm_s + seconds + 60)
    for task in pending:
        task.cancel()
    return {
        "concurrency": concurrency,
        "completed": len(latencies),
        "per_s": round(len(latencies) / seconds, 1),
        "errors": dict(errors),
        **summary_ms(latencies),
    }


def _ok(frame: list, status_path: tuple[str, ...] = ("idTagInfo", "status")) -> bool:
    if frame[0] != 3:
        return False
    value = frame[2]
    for key in status_path:
        value = value.get(key, {}) if isinstance(value, dict) else None
    return value == "Accepted"


async def open_loop(stations: list[RawStation], rate: float, answer_deadline: float) -> dict:
    """One Authorize per station, sent at `rate`/s on a clock; each then starts its transaction."""
    authorize: list[float] = []
    start_tx: list[float] = []
    lags: list[float] = []
    errors: Counter = Counter()

    async def session(station: RawStation) -> None:
        try:
            frame, seconds = await station.call("Authorize", {"idTag": ID_TAG}, timeout=60)
            if not _ok(frame):
                errors[f"Authorize {frame[2] if frame[0] == 4 else frame[2]}"] += 1
                return
            authorize.append(seconds)
            payload = {"connectorId": 1, "idTag": ID_TAG, "meterStart": 0, "timestamp": now_iso()}
            frame, seconds = await station.call("StartTransaction", payload, timeout=60)
            if not _ok(frame):
                errors[f"StartTransaction {frame[2]}"] += 1
                return
            start_tx.append(seconds)
        except Exception as err:
            errors[type(err).__name__] += 1

    tasks = []
    t0 = time.monotonic()
    for i, station in enumerate(stations):
        due = t0 + i / rate
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        lags.append(time.monotonic() - due)
        tasks.append(asyncio.create_task(session(station)))
    sent_s = time.monotonic() - t0
    done, pending = await asyncio.wait(tasks, timeout=answer_deadline)
    for task in pending:
        task.cancel()
    errors[f"unanswered after {answer_deadline:g}s"] += len(pending)
    return {
        "offered_per_s": rate,
        "sent": len(stations),
        "achieved_send_rate": round(len(stations) / max(sent_s, 1e-9), 1),
        "max_send_lag_ms": round(max(lags, default=0) * 1000, 1),
        "errors": {k: v for k, v in errors.items() if v},
        "authorize": summary_ms(authorize),
        "start_transaction": summary_ms(start_tx),
    }


async def ampflow_saturated(stations: list[RawStation], seconds: float, warm_s: float) -> dict:
    async def once(i: int) -> None:
        frame, _ = await stations[i].call("Authorize", {"idTag": ID_TAG}, timeout=60)
        if not _ok(frame):
            raise RuntimeError(f"Authorize answered {frame}")

    return await closed_loop(len(stations), seconds, warm_s, once)


# ---- the run -------------------------------------------------------------------------------


async def drain(probe: RawStation, limit_s: float = 60.0) -> float:
    """Wait until an Authorize is answered within a second again (the backlog is gone)."""
    started = time.monotonic()
    while time.monotonic() - started < limit_s:
        try:
            _, seconds = await probe.call("Authorize", {"idTag": ID_TAG}, timeout=limit_s)
            if seconds < 1.0:
                break
        except Exception:
            await asyncio.sleep(1)
    return round(time.monotonic() - started, 1)


async def run_ampflow(args, url: str, pids: dict, results: dict) -> None:
    total = sum(int(rate * args.seconds) for rate in args.rates)
    stations = [RawStation(url, f"{PREFIX}{i:05d}", PASSWORD) for i in range(total)]
    loopers = [
        RawStation(url, f"{PREFIX}{total + i:05d}", PASSWORD) for i in range(args.concurrency)
    ]
    ok, errors = await connect_all(stations + loopers, 500.0, True, 120)
    print(f"connected {ok}/{len(stations) + len(loopers)} {dict(errors)}", file=sys.stderr)
    for station in loopers[:10]:  # warm the worker (workflow sandbox, activities, pools)
        await station.call("Authorize", {"idTag": ID_TAG}, timeout=60)
    profiles = {}
    spies = start_profiles(pids, args.profile, "saturated", args.saturate_seconds + args.warm)
    print(f"saturated: {args.concurrency} concurrent", file=sys.stderr)
    results["ampflow_saturated"] = await ampflow_saturated(
        loopers, args.saturate_seconds, args.warm
    )
    if spies:
        profiles["saturated"] = await finish_profiles(spies)
    offset = 0
    results["open_loop"] = []
    for rate in args.rates:  # ascending: an overloaded step cannot spoil the next one
        results.setdefault("drain_s", []).append(await drain(loopers[0]))
        count = int(rate * args.seconds)
        batch, offset = stations[offset : offset + count], offset + count
        names = args.profile if rate == args.profile_rate else None
        spies = start_profiles(pids, names, f"open{rate:g}", args.seconds)
        print(f"open loop {rate}/s: {count} authorizations", file=sys.stderr)
        before = scrape_decisions(args.metrics_port)
        step = await open_loop(batch, rate, args.answer_deadline)
        step["decisions"] = _decided_since(before, scrape_decisions(args.metrics_port))
        results["open_loop"].append(step)
        if spies:
            profiles[f"open_loop_{rate:g}"] = await finish_profiles(spies)
    if profiles:
        results["profiles"] = profiles
    await asyncio.gather(*(s.close() for s in stations + loopers), return_exceptions=True)


def _decided_since(before: dict, after: dict) -> dict:
    """How the gateway decided the step's answers (ADR-005: primary or fallback), by action."""
    return {
        action: {
            path: count - before.get(action, {}).get(path, 0)
            for path, count in paths.items()
            if count - before.get(action, {}).get(path, 0)
        }
        for action, paths in after.items()
        if isinstance(paths, dict)
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", type=float, nargs="+", default=[5, 20, 50])
    parser.add_argument("--seconds", type=float, default=10.0, help="per open-loop rate")
    parser.add_argument(
        "--answer-deadline", type=float, default=30.0, help="after an open-loop step's last send"
    )
    parser.add_argument("--concurrency", type=int, default=20, help="saturated run")
    parser.add_argument("--saturate-seconds", type=float, default=12.0)
    parser.add_argument(
        "--warm", type=float, default=3.0, help="unmeasured start of a saturated run"
    )
    parser.add_argument(
        "--profile", nargs="+", choices=["gateway", "worker"], help="py-spy these processes"
    )
    parser.add_argument("--profile-rate", type=float, default=20.0)
    parser.add_argument("--role", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--address", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--queue", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "session-worker":
        asyncio.run(serve_session_worker())
        return
    if args.role == "bare-worker":
        asyncio.run(serve_bare_worker(args.address, args.queue))
        return
    if sum(args.rates) * args.seconds > 5000 or args.concurrency > 500:
        parser.error("bounded: at most 5000 open-loop authorizations and 500 concurrent")
    stations_needed = int(sum(int(r * args.seconds) for r in args.rates) + args.concurrency)
    raise_nofile(stations_needed + 1024)
    results: dict = {
        "rates": args.rates,
        "seconds_per_rate": args.seconds,
        "targets": {
            "authorize_p99_ms_at_20_per_s": TARGET_P99_MS_AT_20,
            "saturated_share_of_bare": TARGET_SATURATED_SHARE,
            "authorize_p99_ms_at_50_per_s": TARGET_P99_MS_AT_50,
        },
    }
    with stack() as (database_url, temporal_address):
        register_load_stations(database_url, PREFIX, stations_needed, PASSWORD, ID_TAG)
        port, args.metrics_port = free_port(), free_port()
        queue = f"bench-sessions-{uuid.uuid4().hex[:8]}"
        env = {
            **os.environ,
            "AMPFLOW_DATABASE_URL": database_url,
            "AMPFLOW_TEMPORAL_ADDRESS": temporal_address,
            "AMPFLOW_TASK_QUEUE": queue,
            "AMPFLOW_GATEWAY_HOST": "127.0.0.1",
            "AMPFLOW_GATEWAY_PORT": str(port),
            "AMPFLOW_GATEWAY_METRICS_PORT": str(args.metrics_port),
            "AMPFLOW_LOG_LEVEL": "WARNING",
            # The saturated run sends 15-20 Authorize/s per station (closed loop): above the
            # per-station limit a charger gets, which is not what this measures.
            "AMPFLOW_GATEWAY_RATE_LIMIT_PER_S": "100000",
            "AMPFLOW_GATEWAY_RATE_BURST": "100000",
        }
        bare_queue = f"bench-bare-{uuid.uuid4().hex[:8]}"
        bare = start_role("bare-worker", env, "--address", temporal_address, "--queue", bare_queue)
        worker = start_worker(env)
        gateway = start_server(
            ["-m", "benchmarks.serve_gateway"], env, port, stations_needed + 1024
        )
        try:
            print(f"bare update-with-start: {args.concurrency} concurrent", file=sys.stderr)
            results["bare_saturated"] = asyncio.run(
                bare_saturated(
                    temporal_address, bare_queue, args.concurrency, args.saturate_seconds, args.warm
                )
            )
            stop_process(bare)
            pids = {"gateway": gateway.pid, "worker": worker.pid}
            url = f"ws://127.0.0.1:{port}/ocpp"
            asyncio.run(run_ampflow(args, url, pids, results))
        finally:
            for process in (gateway, worker, bare):
                stop_process(process)
    report(results)
    print("written:", write_result("authorize_latency", results))


def report(results: dict) -> None:
    print(
        f"\n{'offered/s':>10}{'sent':>7}{'auth p50':>10}{'auth p99':>10}{'start p50':>11}"
        f"{'start p99':>11}{'max lag ms':>11}  errors"
    )
    at_20 = at_50 = None
    for step in results["open_loop"]:
        a, s = step["authorize"], step["start_transaction"]
        print(
            f"{step['offered_per_s']:>10}{step['sent']:>7}{a['p50_ms']:>10}{a['p99_ms']:>10}"
            f"{s['p50_ms']:>11}{s['p99_ms']:>11}{step['max_send_lag_ms']:>11}  {step['errors']}"
        )
        if step["offered_per_s"] == 20:
            at_20 = a["p99_ms"]
        if step["offered_per_s"] == 50:
            at_50 = a["p99_ms"]
    ours, bare = results["ampflow_saturated"], results["bare_saturated"]
    share = round(ours["per_s"] / max(bare["per_s"], 1e-9), 3)
    print(f"\n{'saturated':<28}{'per s':>8}{'p50 ms':>9}{'p99 ms':>9}  errors")
    for name, figures in (("ampflow Authorize", ours), ("bare update-with-start", bare)):
        print(
            f"{name:<28}{figures['per_s']:>8}{figures['p50_ms']:>9}{figures['p99_ms']:>9}"
            f"  {figures['errors']}"
        )
    results["ratios"] = {
        "saturated_ampflow_vs_bare": share,
        "p50_ampflow_vs_bare": round(ours["p50_ms"] / max(bare["p50_ms"], 1e-9), 3),
    }
    results["verdict"] = {
        "p99_at_20_ms": at_20,
        "p99_at_20_ok": at_20 is not None and at_20 < TARGET_P99_MS_AT_20,
        "saturated_ok": share >= TARGET_SATURATED_SHARE,
        "p99_at_50_ms": at_50,
        "p99_at_50_ok": at_50 is not None and at_50 < TARGET_P99_MS_AT_50,
    }
    print(f"ratio saturated ampflow/bare = {share}")
    print(
        f"target Authorize p99 < {TARGET_P99_MS_AT_20:.0f} ms at 20/s: {at_20} ms -> "
        f"{'met' if results['verdict']['p99_at_20_ok'] else 'MISSED'}"
    )
    print(
        f"target Authorize p99 < {TARGET_P99_MS_AT_50:.0f} ms at 50/s: {at_50} ms -> "
        f"{'met' if results['verdict']['p99_at_50_ok'] else 'MISSED'}"
    )
    for step in results["open_loop"]:
        print(f"decided at {step['offered_per_s']:g}/s (ADR-005): {step.get('decisions')}")
    print(
        f"target saturated ≥ {TARGET_SATURATED_SHARE:.0%} of bare: {share:.1%} -> "
        f"{'met' if results['verdict']['saturated_ok'] else 'MISSED'}"
    )
    for phase, by_process in results.get("profiles", {}).items():
        for name, summary in by_process.items():
            print_profile(f"{name} ({phase})", summary)


if __name__ == "__main__":
    main()
