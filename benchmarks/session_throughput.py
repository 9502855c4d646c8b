"""session_throughput: complete charging sessions per minute vs a bare minimal Temporal session.

Ampflow: `--concurrency` stations (hand-built OCPP 1.6 frames) each run sessions back to back,
closed loop, for `--seconds`: Authorize → StartTransaction → `--meter-values` MeterValues (every
`--meter-interval` s) → StopTransaction, then wait until the `sessions` row says Completed (rated,
paid, receipted) before the next session. Gateway and session worker run in their own processes.

Baseline, fixed: the bare Temporal throughput of a minimal session — one update-with-start, one
signal and one activity (`FIXED_PLAN`) — at the same concurrency on the same dev server, with its
own worker process. It does not follow our own operation count, so a session that asks less of
Temporal shows as a gain. The Temporal operations of one completed session are still counted from
its workflow history (updates, signals, activities and local activities) and printed.

Prints sessions/min, session latency (authorize → Completed), the counts and the ratio;
writes benchmarks/results/session_throughput.json.

    .venv/bin/python -m benchmarks.session_throughput
    .venv/bin/python -m benchmarks.session_throughput --concurrency 40 --seconds 60 --profile worker
Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import uuid
from collections import Counter
from datetime import timedelta

from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    import psycopg
    from temporalio.api.enums.v1 import EventType
    from temporalio.client import Client, WithStartWorkflowOperation
    from temporalio.common import WorkflowIDConflictPolicy

    from ampflow.devstack import free_port, stop_process
    from ampflow.load_setup import register_load_stations
    from benchmarks.authorize_latency import closed_loop, start_role, start_worker
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
    from benchmarks.infra import stack, write_result
    from runtime.settings import Settings
    from runtime.temporal import connect
    from store.db import libpq_url

PREFIX, PASSWORD, ID_TAG = "SESS-", "bench-station-secret-16", "SESS-TAG"
BARE_WORKFLOW = "BenchBareSession"
# The baseline session: one update-with-start, one signal (the stop), one activity after it.
FIXED_PLAN = {
    "updates": 1,
    "signals": 1,
    "update_activities": [0],
    "run_activities": 1,
    "update_local_activities": [0],
    "run_local_activities": 0,
}


# ---- the bare Temporal replay --------------------------------------------------------------


@activity.defn(name="bench_noop")
async def bench_noop(value: int) -> int:
    return value


@workflow.defn(name=BARE_WORKFLOW)
class BareSession:
    """Replays a session's Temporal operations with nothing else: `plan` says how many."""

    @workflow.init
    def __init__(self, plan: dict) -> None:
        self.plan = plan
        self.stopped = False

    @workflow.run
    async def run(self, plan: dict) -> int:
        await workflow.wait_condition(lambda: self.stopped)
        await workflow.wait_condition(workflow.all_handlers_finished)
        for i in range(plan.get("run_local_activities", 0)):
            await _local_noop(i)
        for i in range(plan["run_activities"]):
            await _noop(i)
        return plan["run_activities"]

    @workflow.update(name="step")
    async def step(self, index: int) -> int:
        for i in range(self.plan.get("update_local_activities", [0] * (index + 1))[index]):
            await _local_noop(i)
        for i in range(self.plan["update_activities"][index]):
            await _noop(i)
        return index

    @workflow.signal(name="tick")
    def tick(self, value: int) -> None:
        pass

    @workflow.signal(name="stop")
    def stop(self, value: int) -> None:
        self.stopped = True


async def _noop(value: int) -> int:
    return await workflow.execute_activity(
        bench_noop, value, start_to_close_timeout=timedelta(seconds=30)
    )


async def _local_noop(value: int) -> int:
    return await workflow.execute_local_activity(
        bench_noop, value, start_to_close_timeout=timedelta(seconds=30)
    )


async def serve_bare_worker(address: str, task_queue: str) -> None:
    from temporalio.worker import Worker

    from benchmarks.session_throughput import BareSession as Bare  # by module name
    from benchmarks.session_throughput import bench_noop as noop

    client = await Client.connect(address)
    async with Worker(client, task_queue=task_queue, workflows=[Bare], activities=[noop]):
        await asyncio.Future()


async def bare_sessions(
    address: str, task_queue: str, plan: dict, concurrency: int, seconds: float, warm_s: float
) -> dict:
    client = await Client.connect(address)

    async def once(_: int) -> None:
        workflow_id = f"bare-session-{uuid.uuid4().hex}"
        await client.execute_update_with_start_workflow(
            "step",
            0,
            start_workflow_operation=WithStartWorkflowOperation(
                BARE_WORKFLOW,
                plan,
                id=workflow_id,
                task_queue=task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            ),
            result_type=int,
        )
        handle = client.get_workflow_handle(workflow_id)
        for index in range(1, plan["updates"]):
            await handle.execute_update("step", index, result_type=int)
        for _ in range(plan["signals"] - 1):
            await handle.signal("tick", 0)
        await handle.signal("stop", 0)
        await handle.result()

    await once(0)  # warm the worker
    return await closed_loop(concurrency, seconds, warm_s, once)


# ---- counting a session's operations -------------------------------------------------------


async def count_operations(client: Client, workflow_id: str) -> dict:
    """Updates, signals, activities (and where each ran) of one workflow history.

    Local activities (recorded as markers) are counted apart: they cost the server no task.
    """
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    kinds: Counter = Counter()
    open_updates: list[str] = []
    update_index: dict[str, int] = {}
    per_update: list[int] = []
    local_per_update: list[int] = []
    run_activities = run_local = 0
    for event in history.events:
        kinds[EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")] += 1
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            update_id = event.workflow_execution_update_accepted_event_attributes.accepted_request.meta.update_id  # noqa: E501
            update_index[update_id] = len(per_update)
            per_update.append(0)
            local_per_update.append(0)
            open_updates.append(update_id)
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED:
            update_id = event.workflow_execution_update_completed_event_attributes.meta.update_id
            if update_id in open_updates:
                open_updates.remove(update_id)
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            if open_updates:
                per_update[update_index[open_updates[-1]]] += 1
            else:
                run_activities += 1
        elif (
            event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
            and event.marker_recorded_event_attributes.marker_name == "core_local_activity"
        ):
            kinds["local activities"] += 1
            if open_updates:
                local_per_update[update_index[open_updates[-1]]] += 1
            else:
                run_local += 1
    return {
        "workflow_id": workflow_id,
        "updates": len(per_update),
        "signals": kinds["WORKFLOW_EXECUTION_SIGNALED"],
        "activities": kinds["ACTIVITY_TASK_SCHEDULED"],
        "update_activities": per_update,
        "run_activities": run_activities,
        "local_activities": kinds["local activities"],
        "update_local_activities": local_per_update,
        "run_local_activities": run_local,
        "timers": kinds["TIMER_STARTED"],
        "workflow_tasks": kinds["WORKFLOW_TASK_COMPLETED"],
        "search_attribute_upserts": kinds["UPSERT_WORKFLOW_SEARCH_ATTRIBUTES"],
        "history_events": len(history.events),
    }


# ---- Ampflow sessions ----------------------------------------------------------------------


class CompletionWatch:
    """One poller for every session waiting to be Completed (or to end otherwise)."""

    def __init__(self, database_url: str) -> None:
        self.database_url = libpq_url(database_url)
        self.waiting: dict[str, asyncio.Future] = {}
        self.states: Counter = Counter()

    def wait(self, session_id: str) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        self.waiting[session_id] = future
        return future

    async def run(self) -> None:
        async with await psycopg.AsyncConnection.connect(
            self.database_url, autocommit=True
        ) as conn:
            while True:
                await asyncio.sleep(0.1)
                if not self.waiting:
                    continue
                cur = await conn.execute(
                    "SELECT id, state FROM sessions WHERE id = ANY(%s) AND state IN "
                    "('Completed', 'Rejected', 'Expired', 'PaymentFailed', 'NeedsReview')",
                    (list(self.waiting),),
                )
                for session_id, state in await cur.fetchall():
                    future = self.waiting.pop(session_id, None)
                    self.states[state] += 1
                    if future is not None and not future.done():
                        future.set_result(state)


async def one_session(
    station: RawStation, meter_values: int, interval: float, watch: CompletionWatch
) -> str:
    frame, _ = await station.call("Authorize", {"idTag": ID_TAG})
    if frame[0] != 3 or frame[2]["idTagInfo"]["status"] != "Accepted":
        raise RuntimeError(f"Authorize: {frame}")
    payload = {"connectorId": 1, "idTag": ID_TAG, "meterStart": 0, "timestamp": now_iso(True)}
    frame, _ = await station.call("StartTransaction", payload)
    if frame[0] != 3 or frame[2]["idTagInfo"]["status"] != "Accepted":
        raise RuntimeError(f"StartTransaction: {frame}")
    tx = frame[2]["transactionId"]
    session_id = f"session-{station.station_id}-{tx}"
    completed = watch.wait(session_id)
    energy = 0
    for _ in range(meter_values):
        if interval:
            await asyncio.sleep(interval)
        energy += 250
        reading = {
            "timestamp": now_iso(True),
            "sampledValue": [
                {"value": str(energy), "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                {"value": "7400", "measurand": "Power.Active.Import", "unit": "W"},
            ],
        }
        frame, _ = await station.call(
            "MeterValues", {"connectorId": 1, "transactionId": tx, "meterValue": [reading]}
        )
        if frame[0] != 3:
            raise RuntimeError(f"MeterValues: {frame}")
    stop = {"transactionId": tx, "meterStop": energy, "timestamp": now_iso(True), "reason": "Local"}
    frame, _ = await station.call("StopTransaction", stop)
    if frame[0] != 3:
        raise RuntimeError(f"StopTransaction: {frame}")
    state = await asyncio.wait_for(completed, 120)
    if state != "Completed":
        raise RuntimeError(f"session ended {state}")
    return session_id


async def run_ampflow(
    args, url: str, database_url: str, temporal_address: str, pids: dict, results: dict
) -> dict:
    stations = [RawStation(url, f"{PREFIX}{i:05d}", PASSWORD) for i in range(args.concurrency)]
    ok, errors = await connect_all(stations, 200.0, True, 60)
    print(f"connected {ok}/{len(stations)} {dict(errors)}", file=sys.stderr)
    watch = CompletionWatch(database_url)
    poller = asyncio.create_task(watch.run())
    done: list[str] = []
    try:
        # Warm the worker, and keep one completed session to count its operations.
        for station in stations[:3]:
            done.append(await one_session(station, args.meter_values, args.meter_interval, watch))
        spies = start_profiles(pids, args.profile, "sessions", args.seconds + args.warm)
        print(f"ampflow sessions: {args.concurrency} concurrent", file=sys.stderr)
        figures = await closed_loop(
            args.concurrency,
            args.seconds,
            args.warm,
            lambda i: one_session(stations[i], args.meter_values, args.meter_interval, watch),
        )
        if spies:
            results["profiles"] = await finish_profiles(spies)
        figures["end_states"] = dict(watch.states)
    finally:
        poller.cancel()
        await asyncio.gather(*(s.close() for s in stations), return_exceptions=True)
    client = await connect(Settings(temporal_address=temporal_address))
    results["operations"] = await count_operations(client, done[-1])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=20, help="stations / bare callers")
    parser.add_argument("--seconds", type=float, default=45.0, help="measured window of each")
    parser.add_argument("--warm", type=float, default=5.0, help="unmeasured start of each run")
    parser.add_argument("--meter-values", type=int, default=10, help="per session")
    parser.add_argument("--meter-interval", type=float, default=0.0, help="seconds between")
    parser.add_argument(
        "--profile", nargs="+", choices=["gateway", "worker"], help="py-spy these processes"
    )
    parser.add_argument("--role", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--address", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--queue", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "bare-worker":
        asyncio.run(serve_bare_worker(args.address, args.queue))
        return
    if args.concurrency > 500 or args.seconds > 600 or args.meter_values > 100:
        parser.error("bounded: ≤ 500 concurrent, ≤ 600 s, ≤ 100 meter values")
    raise_nofile(args.concurrency + 1024)
    results: dict = {
        "concurrency": args.concurrency,
        "seconds": args.seconds,
        "meter_values": args.meter_values,
        "meter_interval_s": args.meter_interval,
    }
    with stack() as (database_url, temporal_address):
        register_load_stations(database_url, PREFIX, args.concurrency, PASSWORD, ID_TAG)
        port = free_port()
        env = {
            **os.environ,
            "AMPFLOW_DATABASE_URL": database_url,
            "AMPFLOW_TEMPORAL_ADDRESS": temporal_address,
            "AMPFLOW_TASK_QUEUE": f"bench-sessions-{uuid.uuid4().hex[:8]}",
            "AMPFLOW_GATEWAY_HOST": "127.0.0.1",
            "AMPFLOW_GATEWAY_PORT": str(port),
            "AMPFLOW_LOG_LEVEL": "WARNING",
        }
        worker = start_worker(env)
        gateway = start_server(
            ["-m", "benchmarks.serve_gateway"], env, port, args.concurrency + 1024
        )
        bare = None
        try:
            pids = {"gateway": gateway.pid, "worker": worker.pid}
            url = f"ws://127.0.0.1:{port}/ocpp"
            results["ampflow"] = asyncio.run(
                run_ampflow(args, url, database_url, temporal_address, pids, results)
            )
            stop_process(gateway)
            stop_process(worker)
            plan = results["baseline_plan"] = FIXED_PLAN
            bare_queue = f"bench-bare-{uuid.uuid4().hex[:8]}"
            bare = start_role(
                "bare-worker",
                env,
                "--address",
                temporal_address,
                "--queue",
                bare_queue,
                module="benchmarks.session_throughput",
            )
            print(f"bare baseline {plan}: {args.concurrency} concurrent", file=sys.stderr)
            results["bare"] = asyncio.run(
                bare_sessions(
                    temporal_address, bare_queue, plan, args.concurrency, args.seconds, args.warm
                )
            )
        finally:
            for process in (gateway, worker, bare):
                if process is not None:
                    stop_process(process)
    report(results)
    print("written:", write_result("session_throughput", results))


def report(results: dict) -> None:
    ours, bare, ops = results["ampflow"], results["bare"], results["operations"]
    for side in (ours, bare):
        side["sessions_per_min"] = round(side["per_s"] * 60, 1)
    share = round(ours["per_s"] / max(bare["per_s"], 1e-9), 3)
    results["ratios"] = {"sessions_per_min_ampflow_vs_bare": share}
    print(
        f"\none session's Temporal operations ({ops['workflow_id']}): {ops['updates']} updates, "
        f"{ops['signals']} signals, {ops['activities']} activities "
        f"(per update {ops['update_activities']}, after the stop {ops['run_activities']}), "
        f"{ops['local_activities']} local activities (per update "
        f"{ops['update_local_activities']}, after the stop {ops['run_local_activities']}); "
        f"also {ops['timers']} timers, {ops['search_attribute_upserts']} search-attribute "
        f"upserts, {ops['workflow_tasks']} workflow tasks, {ops['history_events']} events"
    )
    print(f"{'':<24}{'sessions/min':>13}{'p50 s':>8}{'p99 s':>8}  errors")
    for name, side in (("ampflow", ours), ("bare minimal session", bare)):
        print(
            f"{name:<24}{side['sessions_per_min']:>13}{side['p50_ms'] / 1000:>8.2f}"
            f"{side['p99_ms'] / 1000:>8.2f}  {side['errors']}"
        )
    print(f"ratio ampflow / bare minimal session (update-with-start, signal, activity) = {share}")
    for name, summary in results.get("profiles", {}).items():
        print_profile(f"{name} (sessions)", summary)


if __name__ == "__main__":
    main()
