"""gateway_capacity: N connected, heartbeating stations on one gateway process.

Measures, for the Ampflow gateway (its own process, `benchmarks.serve_gateway`) and for a bare
`websockets` echo server (`benchmarks.baselines echo`, same N connections, same client):
- RSS per connection: (RSS with all N connected and booted − RSS before any) / N (psutil);
  also the same without the one-time growth of a first station (connected, booted, closed);
- heartbeat latency percentiles with all N connected, each station heartbeating every
  `--heartbeat-interval` seconds (random phase, open loop per station);
- a reconnect storm: the server process is killed (SIGKILL) and restarted on the same port, then
  all N reconnect at once (a failed attempt retries after 1-3 s, as chargers back off): time until
  every station is re-booted (BootNotification Accepted) and handshakes/s including station
  authentication (a fresh gateway process verifies every password once). A second, "warm"
  storm closes every client socket instead (the gateway keeps its verified-password cache).
Prints the figures, the ratios to the echo server and the targets (≤ 32 KiB RSS per idle
station; 10,000 stations re-booted in under a minute); writes
benchmarks/results/gateway_capacity.json.

    .venv/bin/python -m benchmarks.gateway_capacity                  # N = 2000
    .venv/bin/python -m benchmarks.gateway_capacity --stations 10000 # the storm target's size

Everything binds 127.0.0.1; every phase has a deadline. Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import os
import random
import resource
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime

import orjson
import psutil
import psycopg
import websockets

from ampflow.devstack import free_port, stop_process, wait_for_port
from ampflow.load_setup import register_load_stations
from benchmarks.infra import stack, summary_ms, write_result
from domain.credentials import StationKeys, hash_station_password
from store.db import libpq_url

PREFIX, PASSWORD, ID_TAG = "CAP-", "bench-station-secret-16", "CAP-TAG"
PEPPER = "gateway-capacity-bench-pepper"  # the gateway's AMPFLOW_STATION_PASSWORD_PEPPER
TARGET_RSS_KIB = 32
TARGET_STORM_STATIONS, TARGET_STORM_S = 10_000, 60.0
MAX_STATIONS = 10_000

# ---- shared by the other benchmarks --------------------------------------------------------


def raise_nofile(wanted: int) -> int:
    """Raise this process's open-file limit towards `wanted` (capped by the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def start_server(args: list[str], env: dict, port: int, nofile: int) -> subprocess.Popen:
    """`python ARGS` in its own process with `nofile` open files allowed; waits for `port`.

    Its output goes to /tmp/ampflow-bench-{module}.log."""

    def limits() -> None:
        raise_nofile(nofile)

    name = args[1].rsplit(".", 1)[-1] if len(args) > 1 else "server"
    log = open(f"/tmp/ampflow-bench-{name}.log", "ab")  # noqa: SIM115 - kept by the child
    process = subprocess.Popen(
        [sys.executable, *args],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=limits,  # noqa: PLW1509 - only sets a resource limit
    )
    try:
        wait_for_port("127.0.0.1", port, 90)
    except TimeoutError:
        stop_process(process)
        raise
    return process


def now_iso(ms: bool = False) -> str:
    timespec = "milliseconds" if ms else "seconds"
    return datetime.now(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


class RawStation:
    """A charger speaking hand-built OCPP-J 1.6 frames (loadsim style), one socket at a time."""

    def __init__(self, url: str, station_id: str, password: str, strict: bool = True) -> None:
        self.strict = strict  # False: any CALLRESULT to the boot counts (the echo baseline)
        self.url = f"{url.rstrip('/')}/{station_id}"
        self.station_id = station_id
        token = base64.b64encode(f"{station_id}:{password}".encode()).decode()
        self.headers = {"Authorization": f"Basic {token}"}
        self.ws = None
        self.ids = itertools.count()
        self.pending: dict[str, asyncio.Future] = {}
        self.reader: asyncio.Task | None = None

    async def connect(self, open_timeout: float = 60) -> None:
        self.ws = await websockets.connect(
            self.url,
            subprotocols=["ocpp1.6"],
            additional_headers=self.headers,
            compression=None,
            open_timeout=open_timeout,
            ping_interval=None,
            close_timeout=2,
        )
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        ws = self.ws
        try:
            async for raw in ws:
                frame = orjson.loads(raw)
                if frame[0] in (3, 4):
                    future = self.pending.pop(frame[1], None)
                    if future is not None and not future.done():
                        future.set_result(frame)
                elif frame[0] == 2:  # a command from the CSMS: accept it
                    await ws.send(orjson.dumps([3, frame[1], {"status": "Accepted"}]).decode())
        except websockets.ConnectionClosed:
            pass
        finally:
            for future in self.pending.values():
                if not future.done():
                    future.set_exception(ConnectionError("socket closed"))
            self.pending.clear()

    async def send_call(self, action: str, payload: dict) -> asyncio.Future:
        """Send a CALL; the returned future resolves to the answer frame."""
        unique_id = str(next(self.ids))
        future = asyncio.get_running_loop().create_future()
        self.pending[unique_id] = future
        await self.ws.send(orjson.dumps([2, unique_id, action, payload]).decode())
        return future

    async def call(self, action: str, payload: dict, timeout: float = 60) -> tuple[list, float]:
        """(answer frame, seconds) of one CALL."""
        started = time.monotonic()
        future = await self.send_call(action, payload)
        frame = await asyncio.wait_for(future, timeout)
        return frame, time.monotonic() - started

    async def boot(self) -> bool:
        frame, _ = await self.call(
            "BootNotification", {"chargePointVendor": "Ampflow", "chargePointModel": "Bench"}
        )
        return frame[0] == 3 and (not self.strict or frame[2].get("status") == "Accepted")

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.reader is not None:
            await asyncio.gather(self.reader, return_exceptions=True)

    def abort(self) -> None:
        """Drop the socket without a closing handshake (what a killed peer leaves behind)."""
        if self.ws is not None:
            self.ws.transport.abort()


async def connect_all(
    stations: list[RawStation], rate: float, boot: bool, deadline_s: float
) -> tuple[int, Counter]:
    """Connect (and boot) every station, `rate` new connections per second; (ok, errors)."""
    errors: Counter = Counter()
    ok = 0

    async def one(station: RawStation) -> None:
        nonlocal ok
        try:
            await station.connect()
            if not boot or await station.boot():
                ok += 1
            else:
                errors["boot not accepted"] += 1
        except Exception as err:
            errors[type(err).__name__] += 1

    tasks = []
    for station in stations:
        tasks.append(asyncio.create_task(one(station)))
        await asyncio.sleep(1 / rate)
    done, pending = await asyncio.wait(tasks, timeout=deadline_s)
    for task in pending:
        task.cancel()
    errors["deadline"] += len(pending)
    return ok, errors


def listen_overflows() -> int | None:
    """The kernel's count of connections dropped because a listen queue was full (all sockets)."""
    try:
        lines = open("/proc/net/netstat").read().splitlines()  # noqa: SIM115
    except OSError:
        return None
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            table = dict(zip(names.split()[1:], values.split()[1:], strict=False))
            return int(table.get("ListenOverflows", 0))
    return None


def rss_bytes(pid: int) -> int:
    return psutil.Process(pid).memory_info().rss


# ---- profiling (shared) ------------------------------------------------------------------


def start_profile(pid: int, label: str, seconds: float) -> tuple[subprocess.Popen, str]:
    """py-spy record -f raw of `pid` for `seconds` (to /tmp); see `summarize_profile`."""
    path = f"/tmp/ampflow-{label}-{pid}-{int(time.time())}.raw"
    spy = os.path.join(os.path.dirname(sys.executable), "py-spy")
    process = subprocess.Popen(
        [
            spy,
            "record",
            "-f",
            "raw",
            "--nonblocking",
            "-r",
            "100",
            "-d",
            str(int(seconds)),
            "-p",
            str(pid),
            "-o",
            path,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return process, path


def start_profiles(
    pids: dict[str, int], names: list[str] | None, label: str, seconds: float
) -> dict[str, tuple[subprocess.Popen, str]]:
    """py-spy on each named process (`names` from `--profile`)."""
    return {name: start_profile(pids[name], f"{name}-{label}", seconds) for name in names or []}


async def finish_profiles(spies: dict[str, tuple[subprocess.Popen, str]]) -> dict:
    """Wait for the recordings; their summaries by process name."""
    out = {}
    for name, (process, path) in spies.items():
        await asyncio.to_thread(process.wait, 60)
        out[name] = summarize_profile(path)
    return out


def summarize_profile(path: str, top: int = 15) -> dict:
    """Own and inclusive share of the CPU samples per function (file:function)."""
    own: Counter = Counter()
    inclusive: Counter = Counter()
    total = 0
    try:
        lines = open(path).read().splitlines()  # noqa: SIM115
    except OSError:
        return {"error": f"no profile at {path}"}
    if not lines:
        return {"error": f"empty profile at {path}"}
    for line in lines:
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [_frame_name(f) for f in stack.split(";")]
        frames = [f for f in frames if f]
        if not frames:
            continue
        own[frames[-1]] += count
        for name in set(frames):
            inclusive[name] += count
    share = lambda c: round(100 * c / max(total, 1), 1)  # noqa: E731
    return {
        "samples": total,
        "path": path,
        "own_pct": {k: share(v) for k, v in own.most_common(top)},
        "inclusive_pct": {k: share(v) for k, v in inclusive.most_common(top * 2)},
    }


def _frame_name(frame: str) -> str:
    # py-spy raw frames: "function (path/to/file.py:line)"
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    file = where.rsplit(":", 1)[0]
    parts = file.split("/")
    if "site-packages" in parts:
        parts = parts[parts.index("site-packages") + 1 :]
    elif "main" in parts:
        parts = parts[parts.index("main") + 1 :]
    short = "/".join(parts[-3:])
    return f"{short}:{name}" if name else ""


def print_profile(label: str, summary: dict) -> None:
    if "error" in summary:
        print(f"profile {label}: {summary['error']}")
        return
    print(f"\nprofile of the {label} ({summary['samples']} samples, % of CPU samples)")
    print("  own time:")
    for name, pct in list(summary["own_pct"].items())[:12]:
        print(f"    {pct:>5}%  {name}")
    print("  inclusive time:")
    for name, pct in list(summary["inclusive_pct"].items())[:20]:
        print(f"    {pct:>5}%  {name}")


# ---- the phases --------------------------------------------------------------------------


async def heartbeats(stations: list[RawStation], interval_s: float, seconds: float) -> dict:
    """Every station heartbeats every `interval_s` (random phase) for `seconds`."""
    latencies: list[float] = []
    errors: Counter = Counter()
    start = time.monotonic()
    end = start + seconds

    async def one(station: RawStation) -> None:
        at = start + random.uniform(0, interval_s)
        while at < end:
            await asyncio.sleep(max(0.0, at - time.monotonic()))
            try:
                frame, seconds_taken = await station.call("Heartbeat", {}, timeout=30)
                if frame[0] == 3:
                    latencies.append(seconds_taken)
                else:
                    errors[f"CALLERROR {frame[2]}"] += 1
            except Exception as err:
                errors[type(err).__name__] += 1
            at += interval_s

    tasks = [asyncio.create_task(one(s)) for s in stations]
    done, pending = await asyncio.wait(tasks, timeout=seconds + 40)
    for task in pending:
        task.cancel()
    elapsed = time.monotonic() - start
    return {
        "heartbeats": len(latencies),
        "per_s": round(len(latencies) / max(elapsed, 1e-9), 1),
        "errors": dict(errors),
        **summary_ms(latencies),
    }


async def storm(
    stations: list[RawStation],
    restart: Callable[[], None] | None,
    boot: bool,
    deadline_s: float,
) -> dict:
    """Drop every socket (restart the server, or close them), reconnect all at once.

    `restart` kills and restarts the server and returns once it listens again; without it the
    clients close their sockets and the server stays up. Times are measured from the moment the
    server listens (after the restart) / the sockets are closed.
    """
    restart_s = None
    if restart is not None:
        started = time.monotonic()
        restart()
        restart_s = round(time.monotonic() - started, 2)
        for station in stations:
            station.abort()
    else:
        await asyncio.gather(*(s.close() for s in stations), return_exceptions=True)
    await asyncio.gather(*(s.reader for s in stations if s.reader), return_exceptions=True)
    overflows_before = listen_overflows()
    attempts: Counter = Counter()
    opened: list[float] = []
    booted: list[float] = []
    t0 = time.monotonic()
    end = t0 + deadline_s

    async def one(station: RawStation) -> None:
        while time.monotonic() < end:
            attempts["tried"] += 1
            try:
                await station.connect(open_timeout=max(1.0, end - time.monotonic()))
                opened.append(time.monotonic() - t0)
                if not boot:
                    return
                if await station.boot():
                    booted.append(time.monotonic() - t0)
                    return
                attempts["boot not accepted"] += 1
                await station.close()
            except Exception as err:
                attempts[type(err).__name__] += 1
                if station.ws is not None:
                    station.abort()
            await asyncio.sleep(random.uniform(1.0, 3.0))

    tasks = [asyncio.create_task(one(s)) for s in stations]
    done, pending = await asyncio.wait(tasks, timeout=deadline_s + 5)
    for task in pending:
        task.cancel()
    n = len(stations)
    all_open = max(opened) if len(opened) == n else None
    overflows_after = listen_overflows()
    result = {
        "restart_to_listen_s": restart_s,
        "listen_queue_overflows": (
            overflows_after - overflows_before
            if overflows_after is not None and overflows_before is not None
            else None
        ),
        "reconnected": len(opened),
        "rebooted": len(booted) if boot else None,
        "attempts": dict(attempts),
        "all_connected_s": round(all_open, 2) if all_open else None,
        "handshakes_per_s": round(len(opened) / max(max(opened, default=0), 1e-9), 1),
        "p50_connected_s": round(sorted(opened)[len(opened) // 2], 2) if opened else None,
    }
    if boot:
        result["all_rebooted_s"] = round(max(booted), 2) if len(booted) == n else None
        result["p50_rebooted_s"] = round(sorted(booted)[len(booted) // 2], 2) if booted else None
        result["rebooted_per_s"] = round(len(booted) / max(max(booted, default=0), 1e-9), 1)
    return result


async def measure_server(
    name: str,
    command: list[str],
    env: dict,
    args: argparse.Namespace,
    nofile: int,
) -> dict:
    """One server: RSS per connection, heartbeat latency, then the storm(s)."""
    port = free_port()
    server_env = {**env, "AMPFLOW_GATEWAY_PORT": str(port)}
    argv = [*command, str(port)] if name == "echo" else command
    holder = {"process": start_server(argv, server_env, port, nofile)}
    try:
        await asyncio.sleep(args.settle)
        rss_before = rss_bytes(holder["process"].pid)
        url = f"ws://127.0.0.1:{port}/ocpp"
        # One station in and out first: one-time allocations (first handshake, first frames,
        # lazily built pools and caches) are not per connection.
        warm = RawStation(url, f"{PREFIX}{args.stations:05d}", PASSWORD, strict=name != "echo")
        await warm.connect()
        await warm.boot()
        await warm.call("Heartbeat", {})
        await warm.close()
        await asyncio.sleep(args.settle)
        rss_warm = rss_bytes(holder["process"].pid)
        stations = [
            RawStation(url, f"{PREFIX}{i:05d}", PASSWORD, strict=name != "echo")
            for i in range(args.stations)
        ]
        started = time.monotonic()
        ok, errors = await connect_all(stations, args.connect_rate, True, args.phase_deadline)
        connect_s = time.monotonic() - started
        await asyncio.sleep(args.settle)
        rss_connected = rss_bytes(holder["process"].pid)
        print(f"  {name}: {ok}/{args.stations} connected in {connect_s:.1f}s", file=sys.stderr)
        beats = await heartbeats(stations, args.heartbeat_interval, args.heartbeat_seconds)
        rss_after_beats = rss_bytes(holder["process"].pid)
        result = {
            "connected": ok,
            "connect_errors": dict(errors),
            "connect_s": round(connect_s, 2),
            "rss_before_mib": round(rss_before / 2**20, 1),
            "rss_connected_mib": round(rss_connected / 2**20, 1),
            "rss_after_heartbeats_mib": round(rss_after_beats / 2**20, 1),
            "rss_after_one_station_mib": round(rss_warm / 2**20, 1),
            "rss_per_connection_kib": round((rss_connected - rss_before) / max(ok, 1) / 1024, 1),
            "rss_per_connection_after_first_kib": round(
                (rss_connected - rss_warm) / max(ok, 1) / 1024, 1
            ),
            "rss_per_connection_after_heartbeats_kib": round(
                (rss_after_beats - rss_before) / max(ok, 1) / 1024, 1
            ),
            "heartbeat": beats,
        }

        def restart() -> None:
            holder["process"].kill()
            holder["process"].wait()
            holder["process"] = start_server(argv, server_env, port, nofile)
            if args.profile and name == "ampflow":
                holder["spy"] = start_profile(
                    holder["process"].pid, "gateway-storm", args.profile_seconds
                )

        print(f"  {name}: storm after a server restart", file=sys.stderr)
        result["storm_restart"] = await storm(stations, restart, True, args.storm_deadline)
        if "spy" in holder:
            spy, path = holder.pop("spy")
            await asyncio.to_thread(spy.wait, args.profile_seconds + 30)
            result["profile_restart_storm"] = summarize_profile(path)
        if not args.no_warm_storm:
            print(f"  {name}: storm with the server up (sockets closed)", file=sys.stderr)
            result["storm_warm"] = await storm(stations, None, True, args.storm_deadline)
        await asyncio.gather(*(s.close() for s in stations), return_exceptions=True)
        return result
    finally:
        stop_process(holder["process"])


def ratio(ours: float | None, base: float | None) -> float | None:
    if ours is None or not base:
        return None
    return round(ours / base, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=2000, help=f"≤ {MAX_STATIONS}")
    parser.add_argument("--heartbeat-interval", type=float, default=5.0, help="seconds")
    parser.add_argument("--heartbeat-seconds", type=float, default=20.0, help="measured window")
    parser.add_argument("--connect-rate", type=float, default=500.0, help="new connections/s")
    parser.add_argument("--storm-deadline", type=float, default=120.0, help="seconds per storm")
    parser.add_argument("--phase-deadline", type=float, default=120.0, help="connect phase")
    parser.add_argument("--settle", type=float, default=2.0, help="seconds before RSS readings")
    parser.add_argument("--no-warm-storm", action="store_true", help="only the restart storm")
    parser.add_argument("--skip-echo", action="store_true", help="no echo baseline")
    parser.add_argument(
        "--legacy-hashes",
        action="store_true",
        help="store PBKDF2 password hashes (as before the pepper; rehashed at first login)",
    )
    parser.add_argument(
        "--profile", action="store_true", help="py-spy the gateway during the restart storm"
    )
    parser.add_argument("--profile-seconds", type=float, default=20.0)
    parser.add_argument(
        "--serve-module",
        default="benchmarks.serve_gateway",
        help="module that runs the gateway (A/B runs of a proposed patch)",
    )
    args = parser.parse_args()
    if not 1 <= args.stations <= MAX_STATIONS:
        parser.error(f"--stations must be within 1..{MAX_STATIONS}")
    nofile = raise_nofile(2 * args.stations + 1024)
    if nofile < args.stations + 256:
        parser.error(f"open-file limit {nofile} is too low for {args.stations} stations")
    results: dict = {
        "stations": args.stations,
        "gateway_module": args.serve_module,
        "heartbeat_interval_s": args.heartbeat_interval,
        "heartbeat_seconds": args.heartbeat_seconds,
        "nofile": nofile,
        "targets": {
            "rss_per_idle_station_kib": TARGET_RSS_KIB,
            "storm": f"{TARGET_STORM_STATIONS} re-booted in < {TARGET_STORM_S:.0f}s",
        },
    }
    with stack() as (database_url, temporal_address):
        register_load_stations(database_url, PREFIX, args.stations + 1, PASSWORD, ID_TAG)
        if not args.legacy_hashes:
            keyed_passwords(database_url)
        results["password_hashes"] = "pbkdf2" if args.legacy_hashes else "hmac-sha256"
        env = {
            **os.environ,
            "AMPFLOW_STATION_PASSWORD_PEPPER": PEPPER,
            "AMPFLOW_DATABASE_URL": database_url,
            "AMPFLOW_TEMPORAL_ADDRESS": temporal_address,
            "AMPFLOW_GATEWAY_HOST": "127.0.0.1",
            "AMPFLOW_LOG_LEVEL": "WARNING",
        }
        servers = {"ampflow": ["-m", args.serve_module]}
        if not args.skip_echo:
            servers["echo"] = ["-m", "benchmarks.baselines", "echo"]
        for name, command in servers.items():
            print(f"{name}: {args.stations} stations", file=sys.stderr)
            results[name] = asyncio.run(measure_server(name, command, env, args, nofile))
    report(results, args)
    print("written:", write_result("gateway_capacity", results))


def keyed_passwords(database_url: str) -> None:
    """Store the stations' password as the gateway's keyed hash (HMAC-SHA256 with `PEPPER`)."""
    encoded = hash_station_password(PASSWORD, StationKeys.of(PEPPER.encode()))
    with psycopg.connect(libpq_url(database_url)) as conn:
        conn.execute(
            "UPDATE stations SET password_hash = %s WHERE id LIKE %s", (encoded, PREFIX + "%")
        )


def report(results: dict, args: argparse.Namespace) -> None:
    ours, echo = results["ampflow"], results.get("echo", {})
    n = args.stations
    storm_ours = ours["storm_restart"]
    rows = [
        ("RSS per connection, KiB", "rss_per_connection_kib", None),
        ("  excluding the first station, KiB", "rss_per_connection_after_first_kib", None),
        ("  after heartbeats, KiB", "rss_per_connection_after_heartbeats_kib", None),
        ("heartbeat p50 ms", "heartbeat", "p50_ms"),
        ("heartbeat p99 ms", "heartbeat", "p99_ms"),
        ("heartbeats/s", "heartbeat", "per_s"),
        ("restart storm: handshakes/s", "storm_restart", "handshakes_per_s"),
        ("restart storm: all connected s", "storm_restart", "all_connected_s"),
        ("warm storm: handshakes/s", "storm_warm", "handshakes_per_s"),
        ("warm storm: all connected s", "storm_warm", "all_connected_s"),
        ("restart storm: all booted s", "storm_restart", "all_rebooted_s"),
        ("restart storm: boots/s", "storm_restart", "rebooted_per_s"),
        ("warm storm: all booted s", "storm_warm", "all_rebooted_s"),
    ]

    def get(side: dict, key: str, sub: str | None):
        value = side.get(key)
        return value.get(sub) if sub and isinstance(value, dict) else value

    print(f"\n{n} stations; ratios are ampflow / echo")
    print(f"{'':<34}{'ampflow':>10}{'echo':>10}{'ratio':>8}")
    ratios = {}
    for label, key, sub in rows:
        a, b = get(ours, key, sub), get(echo, key, sub)
        r = ratio(a, b)
        ratios[f"{key}.{sub}" if sub else key] = r
        print(
            f"{label:<34}{a if a is not None else '-':>10}{b if b is not None else '-':>10}"
            f"{r if r is not None else '-':>8}"
        )
    for kind in ("storm_restart", "storm_warm"):
        storm_result = ours.get(kind)
        if storm_result:
            r = storm_result
            print(
                f"ampflow {kind}: all re-booted in {r.get('all_rebooted_s')}s "
                f"({r.get('rebooted')}/{n}; p50 {r.get('p50_rebooted_s')}s; "
                f"{r.get('rebooted_per_s')} boots/s; attempts {r['attempts']}; "
                f"listen-queue overflows {r.get('listen_queue_overflows')})"
            )
    results["ratios"] = ratios
    if "profile_restart_storm" in ours:
        print_profile("gateway during the restart storm", ours["profile_restart_storm"])
    rss = ours["rss_per_connection_kib"]
    rate = storm_ours.get("rebooted_per_s") or 0
    projected = TARGET_STORM_STATIONS / rate if rate else None
    results["verdict"] = {
        "rss_per_idle_station_ok": rss <= TARGET_RSS_KIB,
        "storm_projected_10k_s": round(projected, 1) if projected else None,
        "storm_ok": (
            storm_ours.get("all_rebooted_s") is not None
            and (
                storm_ours["all_rebooted_s"] < TARGET_STORM_S
                if n >= TARGET_STORM_STATIONS
                else bool(projected and projected < TARGET_STORM_S)
            )
        ),
    }
    print(
        f"target RSS ≤ {TARGET_RSS_KIB} KiB/station: {rss} KiB "
        f"-> {'met' if results['verdict']['rss_per_idle_station_ok'] else 'MISSED'}"
    )
    if n >= TARGET_STORM_STATIONS:
        seconds, how = storm_ours.get("all_rebooted_s"), "measured"
    else:
        seconds, how = results["verdict"]["storm_projected_10k_s"], "projected at this storm's rate"
    print(
        f"target {TARGET_STORM_STATIONS} re-booted < {TARGET_STORM_S:.0f}s: {seconds}s ({how}) "
        f"-> {'met' if results['verdict']['storm_ok'] else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
