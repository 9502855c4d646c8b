"""gateway_failover: two gateways and two workers; one gateway is SIGKILLed under load.

Two of each role against one PostgreSQL and one Temporal dev server: `benchmarks.serve_gateway`
twice and the session worker (`ampflow.processes.run_worker`) twice, each its own process.
`--stations` virtual chargers (`chargers.fleet`, odd 1.6, even 2.0.1) are spread over the two
gateways (even numbers on gateway-1, odd on gateway-2), each with the other gateway as its
backup URL (a charger's second network profile). A `--charging` share of each gateway's
stations runs one long session with meter values every `--meter-interval` s across the kill.

1. **Connect**: every charger connects at `--connect-rate`/s and boots (the baseline: the same
   fleet's first connection, in the same run).
2. **Kill**: gateway-1 is SIGKILLed. Timed per moved station, from the kill: the charger online
   again (on gateway-2), and the store routing it to gateway-2's command queue (what commands
   follow). Target (issue #15): all back within 60 s.
3. **Commands**: a TriggerMessage(Heartbeat) to every station as one `FleetCommand` workflow
   (what `POST /fleet-commands` starts; chunks of stations per gateway activity, stations offline
   tried again): how many stations answer Accepted, and how long it takes. Then single
   `StationCommand` workflows to `--single-commands` stations, `--command-concurrency` at once:
   their rate while the sessions run.
4. **Sessions continue**: the charging EVs stop; every session must end Completed and billed.

Writes benchmarks/results/gateway_failover.json. Everything binds 127.0.0.1 and every phase has
a deadline. Not a test. `--profile gateway` records the surviving gateway with py-spy for
`--profile-seconds` from the kill.

    .venv/bin/python -m benchmarks.gateway_failover                      # 2,000 stations
    .venv/bin/python -m benchmarks.gateway_failover --stations 10000     # the issue's size
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta

import psycopg

from ampflow.devstack import free_port, stop_process, wait_for_port
from benchmarks.authorize_latency import start_worker
from benchmarks.fleet_burst import PASSWORD, PEPPER, prepare_stations, settle
from benchmarks.gateway_capacity import (
    finish_profiles,
    print_profile,
    raise_nofile,
    start_profiles,
    start_server,
)
from benchmarks.infra import (
    add_session_path_nice,
    lower_priority,
    percentile,
    scrape_gc_pauses,
    stack,
    temporal_dev_server_pid,
    write_result,
)
from chargers.charger import Charger
from chargers.config import Behaviour
from chargers.fleet import Fleet, FleetConfig
from domain.commands import CommandRecord, FleetCommand, FleetProgress, StationCommand
from runtime.settings import Settings
from runtime.temporal import connect
from store.db import libpq_url
from workflows import contract

PREFIX, ID_TAG = "FAILOVER-", "FAILOVER-TAG"
MAX_STATIONS = 10_000
TARGET_BACK_S = 60.0


class FailoverFleet(Fleet):
    """Chargers alternating between two gateways, each with the other as its backup URL."""

    def __init__(self, config: FleetConfig, urls: tuple[str, str]) -> None:
        super().__init__(config)
        self.urls = urls

    def _charger(self, index: int) -> Charger:
        charger = super()._charger(index)
        home = index % 2
        charger.config.url = self.urls[home]
        charger.config.backup_urls = (self.urls[1 - home],)
        charger.config.behaviour = Behaviour(reconnect_min_s=1.0, reconnect_max_s=10.0)
        return charger


async def connect_fleet(fleet: FailoverFleet, deadline_s: float) -> dict:
    """Start every charger at the connect rate and wait until all are booted."""
    config = fleet.config
    began = time.monotonic()
    for index in range(config.stations):
        charger = fleet._charger(index)
        fleet.chargers.append(charger)
        await charger.start()
        await asyncio.sleep(1 / config.connect_rate)
    waits = [c.wait_booted(timeout_s=deadline_s) for c in fleet.chargers]
    outcomes = await asyncio.gather(*waits, return_exceptions=True)
    return {
        "stations": config.stations,
        "booted": sum(1 for o in outcomes if o is None),
        "all_booted_s": round(time.monotonic() - began, 1),
    }


async def start_sessions(chargers: list[Charger], tag: str) -> int:
    """One session on connector 1 of each charger; how many started."""

    async def one(charger: Charger) -> bool:
        charger.connectors[1].ev_max_w = 7_400.0
        try:
            return await charger.sessions.start_local(tag, 1) is not None
        except Exception:
            return False

    started = await asyncio.gather(*(one(c) for c in chargers))
    return sum(started)


async def gateway_queues(database_url: str) -> dict[str, int]:
    """Connected stations per gateway command queue."""
    async with await psycopg.AsyncConnection.connect(libpq_url(database_url)) as conn:
        cur = await conn.execute(
            "SELECT gateway_queue, count(*) FROM stations WHERE id LIKE %s AND connected "
            "GROUP BY gateway_queue",
            (PREFIX + "%",),
        )
        return {row[0]: row[1] for row in await cur.fetchall()}


async def watch_failover(
    moved: list[Charger], database_url: str, survivor_queue: str, killed_at: float, limit_s: float
) -> dict:
    """Seconds from the kill until each moved charger is online again and routed to the
    surviving gateway's queue in the store (polled every 0.5 s)."""
    online_s: dict[str, float] = {}
    routed_s: dict[str, float] = {}
    ids = [c.station_id for c in moved]
    async with await psycopg.AsyncConnection.connect(libpq_url(database_url)) as conn:
        while time.monotonic() - killed_at < limit_s:
            now = time.monotonic() - killed_at
            for charger in moved:
                back = charger.online and charger.connections > 1
                if back and charger.station_id not in online_s:
                    online_s[charger.station_id] = now
            cur = await conn.execute(
                "SELECT id FROM stations WHERE id = ANY(%s) AND connected AND gateway_queue = %s",
                (ids, survivor_queue),
            )
            for (station_id,) in await cur.fetchall():
                routed_s.setdefault(station_id, now)
            if len(online_s) == len(routed_s) == len(moved):
                break
            await asyncio.sleep(0.5)
    return {
        "moved": len(moved),
        "online_again": len(online_s),
        "routed_to_survivor": len(routed_s),
        "online_p50_s": round(percentile(list(online_s.values()), 50), 1),
        "online_all_s": round(max(online_s.values()), 1) if online_s else None,
        "routed_p50_s": round(percentile(list(routed_s.values()), 50), 1),
        "routed_all_s": round(max(routed_s.values()), 1) if routed_s else None,
    }


async def fleet_command(settings: Settings, station_ids: list[str], limit_s: float) -> dict:
    """TriggerMessage(Heartbeat) to every station through one `FleetCommand` workflow."""
    client = await connect(settings)
    began = time.monotonic()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    handle = await client.start_workflow(
        contract.FLEET_COMMAND,
        FleetCommand(
            name="trigger_message",
            params={"message": "Heartbeat"},
            station_ids=station_ids,
            requested_by="benchmark",
        ),
        id=contract.fleet_command_workflow_id("trigger_message", stamp),
        task_queue=settings.task_queue,
    )
    progress = FleetProgress(name="trigger_message", stations=len(station_ids))
    while time.monotonic() - began < limit_s and not progress.done:
        await asyncio.sleep(1.0)
        progress = await handle.query(contract.QUERY_FLEET_PROGRESS, result_type=FleetProgress)
    return {
        "sent_to": len(station_ids),
        "done": progress.done,
        "counts": progress.counts,
        "rounds": progress.rounds,
        "accepted": progress.counts.get("ok:Accepted", 0),
        "seconds": round(time.monotonic() - began, 1),
    }


async def single_commands(
    settings: Settings, station_ids: list[str], concurrency: int, limit_s: float
) -> dict:
    """TriggerMessage(Heartbeat) through a `StationCommand` workflow to each station."""
    client = await connect(settings)
    gate = asyncio.Semaphore(concurrency)
    outcomes: dict[str, int] = {}
    began = time.monotonic()

    async def one(station_id: str) -> None:
        async with gate:
            if time.monotonic() - began > limit_s:
                outcomes["not sent (deadline)"] = outcomes.get("not sent (deadline)", 0) + 1
                return
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f") + uuid.uuid4().hex[:4]
            try:
                record: CommandRecord = await client.execute_workflow(
                    contract.STATION_COMMAND,
                    StationCommand(
                        station_id=station_id,
                        name="trigger_message",
                        params={"message": "Heartbeat"},
                        timeout_s=30,
                        requested_by="benchmark",
                    ),
                    id=contract.command_workflow_id(station_id, "trigger_message", stamp),
                    task_queue=settings.task_queue,
                    result_type=CommandRecord,
                    execution_timeout=timedelta(seconds=120),
                )
                key = f"{record.outcome}:{record.status}"
            except Exception as err:  # the workflow failed or timed out
                key = f"error:{type(err).__name__}"
            outcomes[key] = outcomes.get(key, 0) + 1

    await asyncio.gather(*(one(s) for s in station_ids))
    return {
        "sent_to": len(station_ids),
        "outcomes": outcomes,
        "accepted": outcomes.get("ok:Accepted", 0),
        "seconds": round(time.monotonic() - began, 1),
    }


async def stop_sessions(chargers: list[Charger]) -> None:
    async def one(charger: Charger) -> None:
        if charger.sessions.active():
            await charger.sessions.stop(1, "Local")
            await charger.sessions.unplug(1)

    await asyncio.gather(*(one(c) for c in chargers), return_exceptions=True)


async def drain(chargers: list[Charger], limit_s: float) -> None:
    """Until every charger's queued transaction messages are delivered (or `limit_s`)."""
    end = time.monotonic() + limit_s
    while time.monotonic() < end and any(len(c.outbox) for c in chargers):
        await asyncio.sleep(0.5)


async def run(args, urls: tuple[str, str], gateways, database_url: str, settings) -> dict:
    config = FleetConfig(
        url=urls[0],
        stations=args.stations,
        version="mixed",
        sessions=0,
        meter_interval_s=args.meter_interval,
        station_prefix=PREFIX,
        password=PASSWORD,
        id_tag=ID_TAG,
        connect_rate=args.connect_rate,
        seed=args.seed,
        progress=False,
    )
    fleet = FailoverFleet(config, urls)
    result: dict = {}
    try:
        print(f"connecting {args.stations} chargers to two gateways", file=sys.stderr)
        result["connect"] = await connect_fleet(fleet, deadline_s=240)
        queues = await gateway_queues(database_url)
        result["routes_before"] = queues
        moved, stayed = fleet.chargers[0::2], fleet.chargers[1::2]  # gateway-1's, gateway-2's
        step = max(round(1 / args.charging), 1) if args.charging else 0
        charging = moved[::step] + stayed[::step] if step else []
        result["sessions_started"] = await start_sessions(charging, ID_TAG)
        await asyncio.sleep(2 * args.meter_interval)  # a few meter values on the old gateway
        survivor_queue = await queue_of(database_url, fleet.chargers[1].station_id)
        print(f"SIGKILL gateway-1 ({len(moved)} stations)", file=sys.stderr)
        gateways[0].send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        gateways[0].wait()
        pids = {"gateway": gateways[1].pid}
        spies = start_profiles(pids, args.profile, "failover", args.profile_seconds)
        result["failover"] = await watch_failover(
            moved, database_url, survivor_queue, killed_at, args.failover_limit
        )
        if spies:
            result["profiles"] = await finish_profiles(spies)
        ids = [c.station_id for c in fleet.chargers]
        print(f"a fleet command to {len(ids)} stations", file=sys.stderr)
        result["commands"] = await fleet_command(settings, ids, args.command_limit)
        sample = ids[: args.single_commands]
        print(f"single commands to {len(sample)} stations", file=sys.stderr)
        result["single_commands"] = await single_commands(
            settings, sample, args.command_concurrency, args.command_limit
        )
        await stop_sessions(charging)
        await drain(charging, 60)
    finally:
        await asyncio.gather(*(c.stop() for c in fleet.chargers), return_exceptions=True)
    return result


async def queue_of(database_url: str, station_id: str) -> str:
    async with await psycopg.AsyncConnection.connect(libpq_url(database_url)) as conn:
        cur = await conn.execute("SELECT gateway_queue FROM stations WHERE id = %s", (station_id,))
        row = await cur.fetchone()
        assert row and row[0], f"{station_id} has no route"
        return row[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=2000)
    parser.add_argument("--connect-rate", type=float, default=300.0)
    parser.add_argument("--charging", type=float, default=0.1, help="share with a session")
    parser.add_argument("--meter-interval", type=int, default=10)
    parser.add_argument("--heartbeat", type=int, default=60, help="interval given at boot")
    parser.add_argument("--failover-limit", type=float, default=180.0, help="seconds to watch")
    parser.add_argument(
        "--single-commands", type=int, default=500, help="StationCommand workflows (a sample)"
    )
    parser.add_argument("--command-concurrency", type=int, default=50)
    parser.add_argument("--command-limit", type=float, default=300.0, help="seconds")
    parser.add_argument("--settle", type=float, default=300.0)
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--profile", nargs="+", choices=["gateway"], help="the surviving one")
    parser.add_argument("--profile-seconds", type=float, default=30.0)
    add_session_path_nice(parser)
    args = parser.parse_args()
    if not 2 <= args.stations <= MAX_STATIONS or not 0 <= args.charging <= 1:
        parser.error(f"bounded: 2 … {MAX_STATIONS} stations, --charging between 0 and 1")
    if args.failover_limit > 600 or args.command_limit > 900 or args.settle > 900:
        parser.error("bounded: --failover-limit ≤ 600, --command-limit ≤ 900, --settle ≤ 900")
    nofile = args.stations * 2 + 1024
    raise_nofile(nofile)
    results: dict = {
        "stations": args.stations,
        "charging_share": args.charging,
        "load_average_before": os.getloadavg(),
        "session_path_nice": args.session_path_nice,
        "targets": {"all_back_s": TARGET_BACK_S, "commands_reach_every_station": True},
    }
    with stack() as (database_url, temporal_address):
        prepare_stations(database_url, PREFIX, args.stations, ID_TAG)
        env = {
            **os.environ,
            "AMPFLOW_DATA_DIR": tempfile.mkdtemp(prefix="ampflow-bench-failover-"),
            "AMPFLOW_DATABASE_URL": database_url,
            "AMPFLOW_TEMPORAL_ADDRESS": temporal_address,
            "AMPFLOW_TASK_QUEUE": f"bench-sessions-{uuid.uuid4().hex[:8]}",
            "AMPFLOW_GATEWAY_HOST": "127.0.0.1",
            "AMPFLOW_HEARTBEAT_INTERVAL_S": str(args.heartbeat),
            "AMPFLOW_STATION_PASSWORD_PEPPER": PEPPER,
            "AMPFLOW_LOG_LEVEL": "WARNING",
        }
        os.environ.update({k: v for k, v in env.items() if k.startswith("AMPFLOW_")})
        settings = Settings()
        workers = [start_worker(env), start_worker(env)]
        if args.session_path_nice:
            session_path = [*(w.pid for w in workers), temporal_dev_server_pid()]
            lower_priority([pid for pid in session_path if pid], args.session_path_nice)
        gateways, urls, metrics_ports = [], [], []
        try:
            for _ in range(2):
                port, metrics_port = free_port(), free_port()
                gateway_env = {
                    **env,
                    "AMPFLOW_GATEWAY_PORT": str(port),
                    "AMPFLOW_GATEWAY_METRICS_PORT": str(metrics_port),
                }
                gateways.append(
                    start_server(["-m", "benchmarks.serve_gateway"], gateway_env, port, nofile)
                )
                wait_for_port("127.0.0.1", metrics_port, 30)
                urls.append(f"ws://127.0.0.1:{port}/ocpp")
                metrics_ports.append(metrics_port)
            results.update(
                asyncio.run(run(args, (urls[0], urls[1]), gateways, database_url, settings))
            )
            print("waiting for the sessions to settle", file=sys.stderr)
            results["sessions"] = asyncio.run(
                settle(database_url, results["sessions_started"], args.settle, PREFIX)
            )
            results["gc_pauses"] = {  # the killed gateway answers with an error
                f"gateway-{i + 1}": scrape_gc_pauses(port) for i, port in enumerate(metrics_ports)
            }
        finally:
            for process in (*gateways, *workers):
                stop_process(process)
    report(results)
    print("written:", write_result("gateway_failover", results))


def report(results: dict) -> None:
    connect, failover = results["connect"], results["failover"]
    commands, sessions = results["commands"], results["sessions"]
    print(
        f"\nconnect (baseline): {connect['booted']} of {connect['stations']} booted in "
        f"{connect['all_booted_s']} s; routes {sorted(results['routes_before'].values())}"
    )
    print(
        f"failover: {failover['online_again']} of {failover['moved']} online again "
        f"(p50 {failover['online_p50_s']} s, all {failover['online_all_s']} s); routed to the "
        f"surviving gateway {failover['routed_to_survivor']} (p50 {failover['routed_p50_s']} s, "
        f"all {failover['routed_all_s']} s)"
    )
    routed_all = failover["routed_all_s"]
    back_ok = failover["routed_to_survivor"] == failover["moved"] and (
        routed_all is not None and routed_all < TARGET_BACK_S
    )
    first = connect["all_booted_s"]
    ratio = f"{routed_all / first:.2f}" if routed_all and first else "-"
    print(f"  ratio to the first connection of the whole fleet: {ratio}")
    single = results["single_commands"]
    print(
        f"fleet command: {commands['accepted']} Accepted of {commands['sent_to']} in "
        f"{commands['seconds']} s ({commands['rounds']} rounds); {commands['counts']}"
    )
    rate = single["accepted"] / single["seconds"] if single["seconds"] else 0
    print(
        f"single commands: {single['accepted']} Accepted of {single['sent_to']} in "
        f"{single['seconds']} s ({rate:.1f}/s); {single['outcomes']}"
    )
    print(
        f"sessions: {results['sessions_started']} started; after {sessions['settle_s']} s "
        f"{sessions['states']} ({sessions['completed_and_billed']} completed and billed)"
    )
    every_command = commands["accepted"] == commands["sent_to"] == connect["stations"]
    billed = sessions["completed_and_billed"] == results["sessions_started"]
    results["verdict"] = {
        "all_back_within_60s": back_ok,
        "commands_reach_every_station": every_command,
        "sessions_continue_and_are_billed": billed,
    }
    for name, summary in results.get("profiles", {}).items():
        print_profile(f"{name} (failover)", summary)
    print(f"gateways' garbage collections by generation: {results.get('gc_pauses')}")
    print(f"target all moved stations back within {TARGET_BACK_S:.0f} s: {_ok(back_ok)}")
    print(f"target commands reach every station: {_ok(every_command)}")
    print(f"target sessions continue, completed and billed: {_ok(billed)}")


def _ok(flag: bool) -> str:
    return "met" if flag else "MISSED"


if __name__ == "__main__":
    main()
