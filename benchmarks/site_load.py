"""site_load: rebalance latency and charging profiles per second for one site of 200 connectors.

Ampflow: `--stations` virtual 1.6 chargers (in this process) of `--connectors` connectors each
(16 A, three-phase) stand at one managed site; an EV charges at every connector. Then the
site's limit is changed `--rounds` times (alternating two limits that give every EV a different
share) and each rebalance is timed from the limit signal until every charger has installed its
new TxProfile (read from the chargers' own profile stores): the latency of one rebalance and
profiles per second (connectors / latency). The gateway and the session worker run in their
own processes.

Bare: a trivial workflow that runs as many no-op activities at once (one per connector) on its
own worker process: the Temporal ceiling of the same fan-out on the same dev server.

Prints the medians and the ratio; writes benchmarks/results/site_load.json.

    .venv/bin/python -m benchmarks.site_load
    .venv/bin/python -m benchmarks.site_load --stations 20 --connectors 10 --rounds 6
Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    import psycopg
    from temporalio.client import Client

    from ampflow.devstack import free_port, stop_process
    from ampflow.load_setup import register_load_stations
    from benchmarks.authorize_latency import start_role, start_worker
    from benchmarks.gateway_capacity import raise_nofile, start_server
    from benchmarks.infra import stack, summary_ms, write_result
    from chargers import Behaviour, Charger, ChargerConfig
    from domain import site_load as sl
    from domain.site_load_messages import LimitsChanged, SiteLoadInput, SiteLoadView
    from runtime.settings import Settings
    from runtime.temporal import connect
    from store.db import libpq_url

PREFIX, PASSWORD, ID_TAG, SITE = "SITE-", "bench-station-secret-16", "SITE-TAG", "bench-site"
BARE_WORKFLOW = "BenchBareFanOut"
CODEC_KEYS = "bench-1:" + "YmVuY2gtY29kZWMta2V5LTAwMDAwMDAwMDAwMDAwMDA="


@activity.defn(name="bench_fanout_noop")
async def bench_noop(value: int) -> int:
    return value


@workflow.defn(name=BARE_WORKFLOW)
class BareFanOut:
    """`n` no-op activities at once, then done: what one rebalance's fan-out costs Temporal."""

    @workflow.run
    async def run(self, n: int) -> int:
        results = await asyncio.gather(
            *(
                workflow.execute_activity(
                    bench_noop, i, start_to_close_timeout=timedelta(seconds=30)
                )
                for i in range(n)
            )
        )
        return len(results)


async def serve_bare_worker(address: str, task_queue: str) -> None:
    from temporalio.worker import Worker

    from benchmarks.site_load import BareFanOut as Bare  # by module name
    from benchmarks.site_load import bench_noop as noop

    client = await Client.connect(address)
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[Bare],
        activities=[noop],
        max_concurrent_activities=500,
    ):
        await asyncio.Future()


def prepare_site(database_url: str, stations: int, connectors: int, limit_a: float) -> None:
    """The stations at one location, 16 A three-phase connectors, the site's limit."""
    register_load_stations(database_url, PREFIX, stations, PASSWORD, ID_TAG)
    ids = [f"{PREFIX}{i:05d}" for i in range(stations)]
    with psycopg.connect(libpq_url(database_url)) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO locations (id, name) VALUES (%s, %s)", (SITE, SITE))
        cur.execute(
            "UPDATE stations SET location_id = %s, connector_count = %s WHERE id = ANY(%s)",
            (SITE, connectors, ids),
        )
        cur.executemany(
            "INSERT INTO connector_specs (station_id, connector_id, standard, format, power_type, "
            "max_voltage, max_amperage) VALUES (%s, %s, 'IEC_62196_T2', 'SOCKET', 'AC_3_PHASE', "
            "230, 16)",
            [(s, n) for s in ids for n in range(1, connectors + 1)],
        )
        cur.execute(
            "INSERT INTO site_load_limits (location_id, limit_a) VALUES (%s, %s)", (SITE, limit_a)
        )


def set_limit(database_url: str, limit_a: float) -> None:
    with psycopg.connect(libpq_url(database_url)) as conn, conn.cursor() as cur:
        cur.execute(
            "UPDATE site_load_limits SET limit_a = %s WHERE location_id = %s", (limit_a, SITE)
        )


def allowances(chargers: list[Charger]) -> list[float]:
    """What every connector's charger allows its EV now, all profiles combined (A per phase):
    the TxProfile, or the connector's TxDefaultProfile where it refused the TxProfile."""
    out: list[float] = []
    for charger in chargers:
        now = charger.clock.now()
        for n, connector in charger.connectors.items():
            tx = connector.transaction
            tx_id = str(tx.transaction_id) if tx else None
            watts = charger.profiles.limit_w(n, now, tx_id, tx.started_at if tx else None)
            out.append(round(watts / (230.0 * 3), 1))
    return out


async def until(check, timeout: float) -> float:
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"the site did not settle in {timeout} s")
        await asyncio.sleep(0.005)
    return time.monotonic() - start


async def run_ampflow(args, url: str, database_url: str, settings: Settings) -> dict:
    client = await connect(settings)
    journals = Path(tempfile.mkdtemp(prefix="ampflow-bench-site-"))
    chargers = [
        Charger(
            ChargerConfig(
                station_id=f"{PREFIX}{i:05d}",
                password=PASSWORD,
                url=url,
                connectors=args.connectors,
                max_power_w=16 * 230.0 * 3,  # the 16 A connectors' hardware limit
                journal_file=journals / f"{i}.jsonl",
                configuration={"MeterValueSampleInterval": "30"},
                behaviour=Behaviour(reconnect_min_s=0.5, reconnect_max_s=2),
            )
        )
        for i in range(args.stations)
    ]
    total = args.stations * args.connectors
    handle = client.get_workflow_handle(sl.site_load_id(SITE))
    try:
        await client.start_workflow(
            sl.SITE_LOAD,
            SiteLoadInput(site_id=SITE, rebalance_s=settings.site_load_rebalance_s),
            id=sl.site_load_id(SITE),
            task_queue=settings.task_queue,
            start_signal=sl.SIGNAL_LIMITS,
            start_signal_args=[LimitsChanged(by="bench")],
        )
        for charger in chargers:
            await charger.start()
        await asyncio.gather(*(c.wait_booted(timeout_s=120) for c in chargers))
        print(f"{len(chargers)} chargers booted; starting {total} sessions", file=sys.stderr)
        gate = asyncio.Semaphore(20)  # drivers arriving together, not one after the other

        async def arrive(charger: Charger, n: int) -> None:
            async with gate:
                await charger.sessions.start_local(ID_TAG, n)

        await asyncio.gather(*(arrive(c, n) for c in chargers for n in c.connectors))
        await until(lambda: all(v == 16.0 for v in allowances(chargers)), timeout=300)
        print(f"{total} EVs allowed 16 A each", file=sys.stderr)
        rounds = []
        for k in range(args.rounds):
            limit = args.limits[k % 2]
            share = min(16.0, int(limit / total * 10) / 10)
            before = await handle.query(sl.QUERY_ALLOCATION, result_type=SiteLoadView)
            set_limit(database_url, limit)
            started = time.monotonic()
            await handle.signal(sl.SIGNAL_LIMITS, LimitsChanged(by="bench"))
            await until(lambda s=share: all(v == s for v in allowances(chargers)), timeout=120)
            seconds = time.monotonic() - started
            view = await handle.query(sl.QUERY_ALLOCATION, result_type=SiteLoadView)
            rounds.append(
                {
                    "limit_a": limit,
                    "share_a": share,
                    "seconds": seconds,
                    "profiles": view.profiles_sent - before.profiles_sent,
                    "workflow_ms": view.last_rebalance_ms,
                }
            )
            print(
                f"round {k + 1}: {limit:g} A -> {share:g} A each in {seconds:.2f} s",
                file=sys.stderr,
            )
        return {"connectors": total, "rounds": rounds}
    finally:
        for charger in chargers:
            await charger.stop()


async def run_bare(address: str, task_queue: str, n: int, rounds: int) -> dict:
    client = await Client.connect(address)
    await client.execute_workflow(
        BARE_WORKFLOW, 1, id=f"bare-{uuid.uuid4().hex}", task_queue=task_queue
    )
    times = []
    for _ in range(rounds):
        started = time.monotonic()
        await client.execute_workflow(
            BARE_WORKFLOW, n, id=f"bare-{uuid.uuid4().hex}", task_queue=task_queue
        )
        times.append(time.monotonic() - started)
    return {"activities": n, "seconds": times}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=20, help="virtual 1.6 chargers")
    parser.add_argument("--connectors", type=int, default=10, help="connectors per charger")
    parser.add_argument("--rounds", type=int, default=6, help="limit changes timed")
    parser.add_argument(
        "--limits", type=float, nargs=2, default=[2000.0, 1600.0], help="A per phase, alternated"
    )
    parser.add_argument("--role", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--address", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--queue", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "bare-worker":
        asyncio.run(serve_bare_worker(args.address, args.queue))
        return
    if args.stations * args.connectors > 1000 or args.rounds > 50 or args.connectors > 50:
        parser.error("bounded: ≤ 1000 connectors, ≤ 50 per charger, ≤ 50 rounds")
    total = args.stations * args.connectors
    raise_nofile(args.stations + 1024)
    results: dict = {"stations": args.stations, "connectors": total, "limits_a": args.limits}
    with stack() as (database_url, temporal_address):
        # Every EV at its 16 A maximum first (a ramp of shrinking shares would time the ramp).
        prepare_site(database_url, args.stations, args.connectors, 16.0 * total)
        port = free_port()
        env = {
            **os.environ,
            "AMPFLOW_DATABASE_URL": database_url,
            "AMPFLOW_TEMPORAL_ADDRESS": temporal_address,
            "AMPFLOW_TEMPORAL_CODEC_KEYS": CODEC_KEYS,
            "AMPFLOW_TASK_QUEUE": f"bench-site-{uuid.uuid4().hex[:8]}",
            "AMPFLOW_GATEWAY_HOST": "127.0.0.1",
            "AMPFLOW_GATEWAY_PORT": str(port),
            "AMPFLOW_LOG_LEVEL": "WARNING",
            "AMPFLOW_ALERT_SWEEP_INTERVAL_S": "0",
        }
        settings = Settings(
            database_url=database_url,
            temporal_address=temporal_address,
            temporal_codec_keys=CODEC_KEYS,
            task_queue=env["AMPFLOW_TASK_QUEUE"],
        )
        worker = start_worker(env)
        gateway = start_server(["-m", "benchmarks.serve_gateway"], env, port, args.stations + 1024)
        bare = None
        try:
            url = f"ws://127.0.0.1:{port}/ocpp"
            results["ampflow"] = asyncio.run(run_ampflow(args, url, database_url, settings))
            stop_process(gateway)
            stop_process(worker)
            bare_queue = f"bench-bare-{uuid.uuid4().hex[:8]}"
            bare = start_role(
                "bare-worker",
                env,
                "--address",
                temporal_address,
                "--queue",
                bare_queue,
                module="benchmarks.site_load",
            )
            results["bare"] = asyncio.run(
                run_bare(temporal_address, bare_queue, total, args.rounds)
            )
        finally:
            for process in (gateway, worker, bare):
                if process is not None:
                    stop_process(process)
    report(results)
    path = write_result("site_load", results)
    print(f"wrote {path}", file=sys.stderr)


def report(results: dict) -> None:
    rounds = results["ampflow"]["rounds"]
    latency = statistics.median(r["seconds"] for r in rounds)
    bare = statistics.median(results["bare"]["seconds"])
    n = results["connectors"]
    profiles = statistics.median(r["profiles"] for r in rounds)
    results["summary"] = {
        "rebalance_latency_s_median": round(latency, 3),
        "rebalance_latency_ms": summary_ms([r["seconds"] for r in rounds]),
        "profiles_per_rebalance_median": profiles,
        "profiles_per_s": round(n / latency, 1),
        "bare_fanout_s_median": round(bare, 3),
        "bare_activities_per_s": round(n / bare, 1),
        "ratio_to_bare": round((n / latency) / (n / bare), 2),
    }
    s = results["summary"]
    print(f"\nsite_load: {n} connectors on one site, {len(rounds)} limit changes")
    print(f"{'':28}{'Ampflow':>14}{'bare fan-out':>16}")
    print(f"{'latency (median)':28}{latency:>13.2f}s{bare:>15.2f}s")
    print(
        f"{'profiles (activities) / s':28}{s['profiles_per_s']:>14}{s['bare_activities_per_s']:>16}"
    )
    print(f"ratio (Ampflow / bare): {s['ratio_to_bare']}")


if __name__ == "__main__":
    main()
