"""gateway_throughput: Heartbeat and MeterValues messages/s from N stations, closed loop.

The same client load is sent to three servers, each in its own process, in one run:
the Ampflow gateway (strict validation both ways, message log on), a raw `websockets` echo
server, and a bare `ocpp`-library central system. Prints messages/s, latency percentiles and the
ratios; writes benchmarks/results/gateway_throughput.json. Each MeterValues carries two samples
with a timestamp of its own (a millisecond apart per message), and after Ampflow's run the
benchmark counts them in `meter_samples`: every acknowledged sample must be stored, once.

`--gateways N` runs N Ampflow gateway processes on the one port (`AMPFLOW_GATEWAY_REUSE_PORT`:
the kernel spreads the stations over them), as an operator would on a host with more cores.

    .venv/bin/python -m benchmarks.gateway_throughput --stations 200 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import orjson
import psutil
import psycopg
import websockets

from ampflow.devstack import free_port, stop_process, wait_for_port
from ampflow.load_setup import register_load_stations
from benchmarks.infra import stack, summary_ms, write_result
from store.db import libpq_url

PREFIX, PASSWORD = "BENCH-", "bench-station-secret-16"


BASE_TIME = datetime(2026, 1, 1, tzinfo=UTC)


def frame(action: str, unique_id: str, n: int = 0) -> str:
    """A CALL; the n-th MeterValues of a station has its own timestamp (n ms after BASE_TIME)."""
    if action == "Heartbeat":
        payload: dict = {}
    else:
        at = (BASE_TIME + timedelta(milliseconds=n)).isoformat(timespec="milliseconds")
        payload = {
            "connectorId": 1,
            "meterValue": [
                {
                    "timestamp": at.replace("+00:00", "Z"),
                    "sampledValue": [
                        {
                            "value": "12345",
                            "measurand": "Energy.Active.Import.Register",
                            "unit": "Wh",
                        },
                        {"value": "7400", "measurand": "Power.Active.Import", "unit": "W"},
                    ],
                }
            ],
        }
    return orjson.dumps([2, unique_id, action, payload]).decode()


async def station_loop(
    url: str,
    index: int,
    action: str,
    stop_at: float,
    warm_until: float,
    latencies: list[float],
    counts: list[int],
) -> None:
    """One station, closed loop; counts[0] = answers after the warm-up, counts[1] = all."""
    station_id = f"{PREFIX}{index:05d}"
    token = base64.b64encode(f"{station_id}:{PASSWORD}".encode()).decode()
    async with websockets.connect(
        f"{url}/{station_id}",
        subprotocols=["ocpp1.6"],
        additional_headers={"Authorization": f"Basic {token}"},
        compression=None,
        open_timeout=60,
        ping_interval=None,
    ) as ws:
        n = 0
        while (now := time.monotonic()) < stop_at:
            n += 1
            await ws.send(frame(action, str(n), n))
            await ws.recv()
            counts[1] += 1
            if now >= warm_until:
                latencies.append(time.monotonic() - now)
                counts[0] += 1


async def measure(url: str, stations: int, action: str, seconds: float) -> dict:
    latencies: list[float] = []
    counts = [0, 0]
    start = time.monotonic()
    warm = 2.0
    tasks = [
        asyncio.create_task(
            station_loop(url, i, action, start + warm + seconds, start + warm, latencies, counts)
        )
        for i in range(stations)
    ]
    results = await asyncio.gather(*tasks, return_exceptions=True)
    errors = [r for r in results if isinstance(r, Exception)]
    return {
        "messages_per_s": round(counts[0] / seconds, 1),
        "answered": counts[1],
        "errors": len(errors),
        **summary_ms(latencies),
    }


def stored_samples(database_url: str, acknowledged: int) -> dict:
    """Every acknowledged sample stored exactly once: rows in `meter_samples` vs answers."""
    with psycopg.connect(libpq_url(database_url)) as conn:
        stored, distinct = conn.execute(
            "SELECT count(*), count(DISTINCT (station_id, timestamp, measurand)) "
            "FROM meter_samples WHERE station_id LIKE %s",
            (f"{PREFIX}%",),
        ).fetchone()
    return {
        "acknowledged": acknowledged,
        "stored": stored,
        "distinct": distinct,
        "exactly_once": stored == distinct == acknowledged,
    }


def start_process(args: list[str], env: dict, port: int) -> subprocess.Popen:
    """Start a server process and return once it listens on `port` itself (with a shared port,
    another process's listener does not count)."""
    process = subprocess.Popen(
        [sys.executable, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    wait_for_port("127.0.0.1", port, 60)
    deadline = time.monotonic() + 60
    while not _listens(process.pid, port):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{args} is not listening on port {port}")
        time.sleep(0.1)
    return process


def _listens(pid: int, port: int) -> bool:
    connections = psutil.Process(pid).net_connections(kind="tcp")
    return any(c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in connections)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--gateways",
        type=int,
        default=1,
        help="Ampflow gateway processes sharing the port (AMPFLOW_GATEWAY_REUSE_PORT; default 1)",
    )
    args = parser.parse_args()
    results: dict = {"stations": args.stations, "seconds": args.seconds, "gateways": args.gateways}
    with stack() as (database_url, temporal_address):
        register_load_stations(database_url, PREFIX, args.stations, PASSWORD, "BENCH-TAG")
        env = {
            **os.environ,
            "AMPFLOW_DATABASE_URL": database_url,
            "AMPFLOW_TEMPORAL_ADDRESS": temporal_address,
            "AMPFLOW_GATEWAY_RATE_LIMIT_PER_S": "100000",
            "AMPFLOW_GATEWAY_RATE_BURST": "100000",
            "AMPFLOW_LOG_LEVEL": "WARNING",
        }
        servers = {
            "ampflow": lambda port: ["-m", "benchmarks.serve_gateway"],
            "echo": lambda port: ["-m", "benchmarks.baselines", "echo", str(port)],
            "ocpp_library": lambda port: ["-m", "benchmarks.baselines", "ocpp", str(port)],
        }
        for name, command in servers.items():
            port = free_port()
            copies = args.gateways if name == "ampflow" else 1
            shared = {"AMPFLOW_GATEWAY_PORT": str(port), "AMPFLOW_GATEWAY_REUSE_PORT": "true"}
            processes = [
                start_process(command(port), {**env, **shared}, port) for _ in range(copies)
            ]
            try:
                url = f"ws://127.0.0.1:{port}/ocpp"
                results[name] = {
                    action: asyncio.run(measure(url, args.stations, action, args.seconds))
                    for action in ("Heartbeat", "MeterValues")
                }
                if name == "ampflow":
                    results["samples"] = stored_samples(
                        database_url, 2 * results[name]["MeterValues"]["answered"]
                    )
            finally:
                for process in processes:
                    stop_process(process)
    for action in ("Heartbeat", "MeterValues"):
        ours = results["ampflow"][action]["messages_per_s"]
        results.setdefault("ratios", {})[action] = {
            "ampflow_vs_echo": round(ours / max(results["echo"][action]["messages_per_s"], 1), 3),
            "ampflow_vs_ocpp_library": round(
                ours / max(results["ocpp_library"][action]["messages_per_s"], 1), 3
            ),
        }
    print(f"{'server':<14}{'action':<13}{'msg/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")
    for name in servers:
        for action, figures in results[name].items():
            print(
                f"{name:<14}{action:<13}{figures['messages_per_s']:>9}{figures['p50_ms']:>9}"
                f"{figures['p99_ms']:>9}{figures['errors']:>8}"
            )
    samples = results["samples"]
    print(
        f"MeterValues samples: {samples['acknowledged']} acknowledged, {samples['stored']} stored "
        f"({samples['distinct']} distinct): exactly once = {samples['exactly_once']}"
    )
    for action, ratio in results["ratios"].items():
        print(
            f"{action}: ampflow/echo = {ratio['ampflow_vs_echo']}, "
            f"ampflow/ocpp-library = {ratio['ampflow_vs_ocpp_library']}"
        )
    print("written:", write_result("gateway_throughput", results))


if __name__ == "__main__":
    main()
