"""fleet_burst: 1,000 virtual chargers connect, boot and each run two short sessions at once.

The load generator is the virtual chargers (`chargers.fleet`), all in this process, against the
gateway (`benchmarks.serve_gateway`) and the session worker (`ampflow.processes.run_worker`), each
in its own process, on a fresh PostgreSQL + Temporal dev server. Stations `BURST-00000…` (odd 1.6,
even 2.0.1 with `--version mixed`) connect at `--connect-rate`/s, boot (StatusNotifications
follow), heartbeat every `--heartbeat` s, and each runs `--sessions` sessions inside `--window`
seconds: a random wait, Authorize, plug (StatusNotification), start, MeterValues every
`--meter-interval` s for a dwell of `--dwell`/2 … 3·`--dwell`/2 s, stop. Every CALL times out
after `--timeout` (10) s.

Then the benchmark waits (at most `--settle` s) until every session of the run is final in the
`sessions` table and checks each is Completed with a captured payment ("billed").

Baseline in the same run: the same fleet shape for `--baseline-window` s against the stub CSMS
(`chargers.stub_csms`, fixed answers, its own process): the load generator's own latency.

Reported: per-action p50/p95/p99/max and timeouts, for Ampflow and the stub, the ratio of p99s,
how the gateway decided each Authorize and start (`ampflow_gateway_decisions_total`: primary or
fallback, ADR-005), and the session checks. Targets (issue #15): 0 timeouts; StatusNotification,
Heartbeat and MeterValues p99 < 200 ms; Authorize p99 < 2 s; every session completed and billed.
Writes benchmarks/results/fleet_burst.json. `--profile gateway worker` records those processes
with py-spy for the first `--profile-seconds` of the burst.

    .venv/bin/python -m benchmarks.fleet_burst
    .venv/bin/python -m benchmarks.fleet_burst --stations 300 --window 60 --profile gateway
    .venv/bin/python -m benchmarks.fleet_burst --session-path-nice 0   # no priority

Everything binds 127.0.0.1; every phase has a deadline. Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
import uuid

import psycopg

from ampflow.devstack import free_port, stop_process, wait_for_port
from ampflow.load_setup import register_load_stations
from ampflow.seed import DEMO_TARIFF
from benchmarks.authorize_latency import start_worker
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
    scrape_decisions,
    scrape_gc_pauses,
    scrape_group_commits,
    stack,
    summary_ms,
    temporal_dev_server_pid,
    write_result,
)
from chargers.charger import Charger
from chargers.fleet import Fleet, FleetConfig
from domain.credentials import StationKeys, hash_station_password
from store.db import libpq_url

PREFIX, PASSWORD, ID_TAG = "BURST-", "bench-station-secret-16", "BURST-TAG"
PEPPER = "fleet-burst-bench-pepper"  # the gateway's AMPFLOW_STATION_PASSWORD_PEPPER
FAST_ACTIONS = ("StatusNotification", "Heartbeat", "MeterValues")
TARGET_FAST_P99_MS = 200.0
TARGET_AUTHORIZE_P99_MS = 2000.0
MAX_STATIONS = 2000
FINAL = ("Completed", "Rejected", "Expired", "PaymentFailed", "NeedsReview")


class BurstFleet(Fleet):
    """The chargers of `chargers.fleet`, with a call timeout and exactly N sessions each,
    scheduled so that they fit inside the window."""

    def __init__(self, config: FleetConfig, *, timeout_s: float, window_s: float) -> None:
        super().__init__(config)
        self.timeout_s = timeout_s
        self.window_s = window_s
        self.started = 0
        self.refused = 0
        self.unfinished = 0

    def _charger(self, index: int) -> Charger:
        charger = super()._charger(index)
        charger.config.message_timeout_s = self.timeout_s
        return charger

    async def _drive(self, charger: Charger, deadline: float, tag: str) -> None:
        """`sessions` sessions at connector 1: wait, Authorize, plug, start, dwell, stop."""
        config, rng = self.config, charger.rng
        end = self.stats.started_at + self.window_s
        try:
            await charger.wait_booted(timeout_s=max(end - time.monotonic(), 1))
        except TimeoutError:
            return
        sessions = config.sessions or 1
        slot = max((end - time.monotonic()) / sessions, 1.0)
        for _ in range(sessions):
            slot_end = time.monotonic() + slot
            dwell = rng.uniform(config.dwell_s / 2, 3 * config.dwell_s / 2)
            # start early enough that the dwell (and some answer time) fits in the slot
            await asyncio.sleep(rng.uniform(0, max(slot - dwell - 5.0, 0.0)))
            charger.connectors[1].ev_max_w = 11_000.0
            try:
                tx = await charger.sessions.start_local(tag, 1)
            except Exception:
                tx = None
            if tx is None:
                self.refused += 1
                await asyncio.sleep(max(slot_end - time.monotonic(), 0))
                continue
            self.started += 1
            await asyncio.sleep(dwell)
            self.unfinished += 1
            await charger.sessions.stop(1, "Local")
            await charger.sessions.unplug(1)
            self.unfinished -= 1
            self.stats.sessions_done += 1
            await asyncio.sleep(max(slot_end - time.monotonic(), 0))


def prepare(database_url: str, stations: int) -> None:
    prepare_stations(database_url, PREFIX, stations, ID_TAG)


def prepare_stations(database_url: str, prefix: str, stations: int, id_tag: str) -> None:
    """Stations with keyed password hashes (as `POST /stations` stores them), the load driver's
    card, and the demo's default tariff, so every session costs money and is billed."""
    register_load_stations(database_url, prefix, stations, PASSWORD, id_tag)
    encoded = hash_station_password(PASSWORD, StationKeys.of(PEPPER.encode()))
    columns = ", ".join(DEMO_TARIFF)
    with psycopg.connect(libpq_url(database_url)) as conn:
        conn.execute(
            "UPDATE stations SET password_hash = %s WHERE id LIKE %s", (encoded, prefix + "%")
        )
        conn.execute(
            f"INSERT INTO tariffs ({columns}) VALUES ({', '.join(['%s'] * len(DEMO_TARIFF))})",
            tuple(DEMO_TARIFF.values()),
        )


def fleet_config(args, url: str, window_s: float) -> FleetConfig:
    return FleetConfig(
        url=url,
        stations=args.stations,
        version=args.version,
        sessions=args.sessions,
        duration_s=window_s + 30,  # the drivers end by themselves inside the window
        dwell_s=args.dwell,
        meter_interval_s=args.meter_interval,
        station_prefix=PREFIX,
        password=PASSWORD,
        id_tag=ID_TAG,
        connect_rate=args.connect_rate,
        seed=args.seed,
        progress=False,
    )


async def run_burst(args, url: str, window_s: float, pids: dict | None = None) -> dict:
    fleet = BurstFleet(fleet_config(args, url, window_s), timeout_s=args.timeout, window_s=window_s)
    spies = start_profiles(pids or {}, args.profile, "burst", args.profile_seconds) if pids else {}
    began = time.monotonic()
    stats = await fleet.run()
    elapsed = time.monotonic() - began
    result = {
        "seed": fleet.seed,
        "elapsed_s": round(elapsed, 1),
        "connected": stats.connected,
        "booted": stats.booted,
        "sessions_started": fleet.started,
        "sessions_stopped": stats.sessions_done,
        "sessions_refused_or_failed": fleet.refused,
        "messages": stats.messages,
        "errors": dict(stats.errors),
        "timeouts": sum(v for k, v in stats.errors.items() if k.endswith(":Timeout")),
        "actions": {a: {"count": len(v), **summary_ms(v)} for a, v in stats.latencies.items()},
        "fast_over_time": fast_over_time(stats),
    }
    if spies:
        result["profiles"] = await finish_profiles(spies)
    return result


async def settle(database_url: str, expected: int, limit_s: float, prefix: str = PREFIX) -> dict:
    """Wait until every session of the run's stations (`prefix`) is final (at most `limit_s`);
    count and check them."""
    began = time.monotonic()
    query = (
        "SELECT s.state, count(*), count(p.id) FROM sessions s LEFT JOIN payments p "
        "ON p.session_id = s.id AND p.kind = 'charge' AND p.status = 'succeeded' "
        "WHERE s.station_id LIKE %s GROUP BY s.state"
    )
    states: dict = {}
    async with await psycopg.AsyncConnection.connect(libpq_url(database_url)) as conn:
        while True:
            cur = await conn.execute(query, (prefix + "%",))
            rows = await cur.fetchall()
            states = {row[0]: {"sessions": row[1], "paid": row[2]} for row in rows}
            total = sum(v["sessions"] for v in states.values())
            open_ = sum(v["sessions"] for k, v in states.items() if k not in FINAL)
            if (total >= expected and open_ == 0) or time.monotonic() - began > limit_s:
                break
            await asyncio.sleep(2)
        cur = await conn.execute(
            "SELECT DISTINCT status FROM payments p JOIN sessions s ON s.id = p.session_id "
            "WHERE s.station_id LIKE %s",
            (prefix + "%",),
        )
        payment_statuses = [row[0] for row in await cur.fetchall()]
    completed = states.get("Completed", {"sessions": 0, "paid": 0})
    return {
        "settle_s": round(time.monotonic() - began, 1),
        "states": states,
        "payment_statuses": payment_statuses,
        "completed": completed["sessions"],
        "completed_and_billed": completed["paid"],
    }


def start_stub(port: int, nofile: int) -> subprocess.Popen:
    """The stub CSMS (`chargers.stub_csms`) in its own process."""
    return start_server(
        ["-m", "chargers.stub_csms", str(port), "10"],
        dict(os.environ),
        port,
        nofile,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=1000)
    parser.add_argument("--sessions", type=int, default=2, help="per station")
    parser.add_argument("--window", type=float, default=90.0, help="seconds for all sessions")
    parser.add_argument("--dwell", type=float, default=12.0, help="mean charging seconds")
    parser.add_argument("--meter-interval", type=int, default=3)
    parser.add_argument("--heartbeat", type=int, default=10, help="interval given at boot")
    parser.add_argument("--version", choices=["1.6", "2.0.1", "mixed"], default="mixed")
    parser.add_argument("--connect-rate", type=float, default=200.0)
    parser.add_argument("--timeout", type=float, default=10.0, help="per CALL")
    parser.add_argument("--settle", type=float, default=300.0, help="wait for sessions to end")
    parser.add_argument("--baseline-window", type=float, default=45.0, help="0: no baseline")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--profile", nargs="+", choices=["gateway", "worker"])
    parser.add_argument("--profile-seconds", type=float, default=60.0)
    add_session_path_nice(parser)
    args = parser.parse_args()
    if not 1 <= args.stations <= MAX_STATIONS or not 1 <= args.sessions <= 5:
        parser.error(f"bounded: at most {MAX_STATIONS} stations and 5 sessions each")
    if args.window > 300 or args.settle > 900:
        parser.error("bounded: --window ≤ 300 s, --settle ≤ 900 s")
    raise_nofile(args.stations * 2 + 1024)
    results: dict = {
        "stations": args.stations,
        "sessions_per_station": args.sessions,
        "window_s": args.window,
        "dwell_s": args.dwell,
        "meter_interval_s": args.meter_interval,
        "heartbeat_s": args.heartbeat,
        "version": args.version,
        "timeout_s": args.timeout,
        "load_average_before": os.getloadavg(),
        "session_path_nice": args.session_path_nice,
        "targets": {
            "timeouts": 0,
            "fast_p99_ms": TARGET_FAST_P99_MS,
            "authorize_p99_ms": TARGET_AUTHORIZE_P99_MS,
            "every_session_completed_and_billed": True,
        },
    }
    if args.baseline_window:
        port = free_port()
        stub = start_stub(port, args.stations * 2 + 1024)
        try:
            print(f"baseline: stub CSMS, {args.baseline_window:g} s", file=sys.stderr)
            results["baseline"] = asyncio.run(
                run_burst(args, f"ws://127.0.0.1:{port}/ocpp", args.baseline_window)
            )
        finally:
            stop_process(stub)
    with stack() as (database_url, temporal_address):
        prepare(database_url, args.stations)
        port, metrics_port = free_port(), free_port()
        env = {
            **os.environ,
            "AMPFLOW_DATABASE_URL": database_url,
            "AMPFLOW_TEMPORAL_ADDRESS": temporal_address,
            "AMPFLOW_TASK_QUEUE": f"bench-sessions-{uuid.uuid4().hex[:8]}",
            "AMPFLOW_GATEWAY_HOST": "127.0.0.1",
            "AMPFLOW_GATEWAY_PORT": str(port),
            "AMPFLOW_GATEWAY_METRICS_PORT": str(metrics_port),
            "AMPFLOW_HEARTBEAT_INTERVAL_S": str(args.heartbeat),
            "AMPFLOW_STATION_PASSWORD_PEPPER": PEPPER,
            "AMPFLOW_LOG_LEVEL": "WARNING",
        }
        worker = start_worker(env)
        gateway = start_server(
            ["-m", "benchmarks.serve_gateway"], env, port, args.stations * 2 + 1024
        )
        try:
            wait_for_port("127.0.0.1", metrics_port, 30)
            pids = {"gateway": gateway.pid, "worker": worker.pid}
            if args.session_path_nice:
                session_path = [worker.pid, temporal_dev_server_pid()]
                lower_priority([pid for pid in session_path if pid], args.session_path_nice)
            print(f"burst: {args.stations} chargers, {args.window:g} s", file=sys.stderr)
            results["ampflow"] = asyncio.run(
                run_burst(args, f"ws://127.0.0.1:{port}/ocpp", args.window, pids)
            )
            results["decisions"] = scrape_decisions(metrics_port)
            results["gc_pauses"] = scrape_gc_pauses(metrics_port)
            results["group_commits"] = scrape_group_commits(metrics_port)
            results["load_average_after_burst"] = os.getloadavg()
            print_actions(results)
            print("waiting for the sessions to settle", file=sys.stderr)
            results["sessions"] = asyncio.run(
                settle(database_url, results["ampflow"]["sessions_started"], args.settle)
            )
        finally:
            for process in (gateway, worker):
                stop_process(process)
    report(results)
    print("written:", write_result("fleet_burst", results))


def _p99(run: dict, action: str) -> float | None:
    figures = run.get("actions", {}).get(action)
    return figures["p99_ms"] if figures else None


WINDOW_S = 10.0  # the fast calls' p99 per this many seconds of the burst


def fast_over_time(stats) -> list[dict]:
    """Per `WINDOW_S` of the burst (by answer time): each fast call's count and p99 (ms) —
    where in the burst the slow answers are (the boot storm, the sessions' peak)."""
    windows: dict[int, dict[str, list[float]]] = {}
    for action in FAST_ACTIONS:
        for at, seconds in zip(
            stats.answered_at.get(action, []), stats.latencies.get(action, []), strict=True
        ):
            windows.setdefault(int(at // WINDOW_S), {}).setdefault(action, []).append(seconds)
    return [
        {
            "from_s": index * WINDOW_S,
            **{a: {"count": len(v), "p99_ms": summary_ms(v)["p99_ms"]} for a, v in by.items()},
        }
        for index, by in sorted(windows.items())
    ]


def print_actions(results: dict) -> None:
    """The per-action latency table (Ampflow and, if measured, the stub CSMS)."""
    ours, base = results["ampflow"], results.get("baseline", {})
    print(
        f"\n{'action':<22}{'count':>7}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}"
        f"{'stub p99':>10}{'ratio':>8}"
    )
    for action, f in sorted(ours["actions"].items()):
        stub = _p99(base, action)
        ratio = f"{f['p99_ms'] / stub:.1f}" if stub else "-"
        print(
            f"{action:<22}{f['count']:>7}{f['p50_ms']:>9}{f['p95_ms']:>9}{f['p99_ms']:>9}"
            f"{f['max_ms']:>9}{stub if stub is not None else '-':>10}{ratio:>8}"
        )
    print(f"timeouts {ours['timeouts']}; errors {ours['errors'] or 'none'}")
    print(f"decisions (ADR-005): {results.get('decisions')}")
    print(f"\np99 ms per {WINDOW_S:g} s of the burst (count): " + ", ".join(FAST_ACTIONS))
    for window in ours.get("fast_over_time", []):
        cells = [
            f"{window[a]['p99_ms']:>8} ({window[a]['count']:>4})" if a in window else f"{'-':>15}"
            for a in FAST_ACTIONS
        ]
        print(f"{window['from_s']:>6g} s  " + "  ".join(cells))


def report(results: dict) -> None:
    print_actions(results)
    ours = results["ampflow"]
    sessions = results["sessions"]
    print(
        f"\nconnected {ours['connected']}  booted {ours['booted']}  sessions started "
        f"{ours['sessions_started']}, stopped {ours['sessions_stopped']}, refused/failed "
        f"{ours['sessions_refused_or_failed']}  in {ours['elapsed_s']} s"
    )
    print(f"errors: {ours['errors'] or 'none'}")
    print(f"decisions (ADR-005 primary/fallback): {results.get('decisions')}")
    print(f"gateway garbage collections by generation: {results.get('gc_pauses')}")
    print(f"gateway group commits (batches): {results.get('group_commits')}")
    print(
        f"sessions in the store after {sessions['settle_s']} s: {sessions['states']} "
        f"(payments: {sessions['payment_statuses']})"
    )
    fast = {a: _p99(ours, a) for a in FAST_ACTIONS}
    authorize = _p99(ours, "Authorize")
    expected = ours["sessions_started"]
    verdict = {
        "timeouts_ok": ours["timeouts"] == 0,
        "fast_p99_ok": all(v is not None and v < TARGET_FAST_P99_MS for v in fast.values()),
        "authorize_p99_ok": authorize is not None and authorize < TARGET_AUTHORIZE_P99_MS,
        "all_started_completed_and_billed": expected > 0
        and sessions["completed_and_billed"] == expected == sessions["completed"],
        "all_planned_sessions_started": expected
        == results["stations"] * results["sessions_per_station"],
    }
    results["verdict"] = verdict
    all_billed = (
        verdict["all_started_completed_and_billed"] and verdict["all_planned_sessions_started"]
    )
    print(f"target 0 timeouts: {ours['timeouts']} -> {_ok(verdict['timeouts_ok'])}")
    print(
        f"target {', '.join(FAST_ACTIONS)} p99 < {TARGET_FAST_P99_MS:.0f} ms: {fast} -> "
        f"{_ok(verdict['fast_p99_ok'])}"
    )
    print(
        f"target Authorize p99 < {TARGET_AUTHORIZE_P99_MS:.0f} ms: {authorize} -> "
        f"{_ok(verdict['authorize_p99_ok'])}"
    )
    print(
        f"target every session completed and billed: {sessions['completed_and_billed']} of "
        f"{expected} started ({results['stations'] * results['sessions_per_station']} planned) "
        f"-> {_ok(all_billed)}"
    )
    for name, summary in ours.get("profiles", {}).items():
        print_profile(f"{name} (burst)", summary)


def _ok(flag: bool) -> str:
    return "met" if flag else "MISSED"


if __name__ == "__main__":
    main()
