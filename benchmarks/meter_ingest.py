"""meter_ingest: M stations sampling inside transactions; ack latency and exactly-once storage.

Every station (hand-built OCPP 1.6 frames) connects, boots, authorizes and starts a transaction
(through the session workflow: gateway and session worker in their own processes), then sends
MeterValues (energy register + power, millisecond timestamps) every `--interval` seconds
(random phase) for `--seconds`. A share of the frames (`--resend-share`) is sent a second time
with a new message id after its answer, as a charger does that missed the ack. Then the
`meter_samples` table is compared with what was sent: every acknowledged sample stored, nothing
stored twice, nothing stored that was not sent.

The same sampling load without setup runs against the raw `websockets` echo server for
`--baseline-seconds` (ack latency ratio). Target printed: p99 ack < 100 ms.
Writes benchmarks/results/meter_ingest.json.

    .venv/bin/python -m benchmarks.meter_ingest                  # 500 stations, 60 s
    .venv/bin/python -m benchmarks.meter_ingest --stations 2000 --seconds 120
Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
import uuid
from collections import Counter

import psycopg

from ampflow.devstack import free_port, stop_process
from ampflow.load_setup import register_load_stations
from benchmarks.authorize_latency import start_worker
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
from benchmarks.infra import stack, summary_ms, write_result
from store.db import libpq_url

PREFIX, PASSWORD, ID_TAG = "METER-", "bench-station-secret-16", "METER-TAG"
TARGET_P99_MS = 100.0
MAX_STATIONS = 2000
MEASURANDS = ("Energy.Active.Import.Register", "Power.Active.Import")


async def open_transactions(stations: list[RawStation], in_flight: int) -> dict[str, int]:
    """Authorize + StartTransaction on every station (`in_flight` at once): station → tx."""
    limit = asyncio.Semaphore(in_flight)
    transactions: dict[str, int] = {}

    async def one(station: RawStation) -> None:
        async with limit:
            frame, _ = await station.call("Authorize", {"idTag": ID_TAG}, timeout=120)
            if frame[0] != 3 or frame[2]["idTagInfo"]["status"] != "Accepted":
                return
            payload = {"connectorId": 1, "idTag": ID_TAG, "meterStart": 0, "timestamp": now_iso()}
            frame, _ = await station.call("StartTransaction", payload, timeout=120)
            if frame[0] == 3 and frame[2]["idTagInfo"]["status"] == "Accepted":
                transactions[station.station_id] = frame[2]["transactionId"]

    await asyncio.gather(*(one(s) for s in stations), return_exceptions=True)
    return transactions


async def sample(
    stations: list[RawStation],
    transactions: dict[str, int],
    interval: float,
    seconds: float,
    resend_share: float,
) -> dict:
    """Every station sends MeterValues every `interval` for `seconds`; ack latencies and keys."""
    latencies: list[float] = []
    errors: Counter = Counter()
    acked: set[tuple] = set()  # (station, tx, timestamp, measurand) of acknowledged samples
    unacked: set[tuple] = set()
    counts = Counter()
    start = time.monotonic()
    end = start + seconds

    async def one(station: RawStation) -> None:
        tx = transactions.get(station.station_id)
        energy = 0
        at = start + random.uniform(0, interval)
        while at < end:
            await asyncio.sleep(max(0.0, at - time.monotonic()))
            at += interval
            energy += 250
            stamp = now_iso(ms=True)
            reading = {
                "timestamp": stamp,
                "sampledValue": [
                    {"value": str(energy), "measurand": MEASURANDS[0], "unit": "Wh"},
                    {"value": "7400", "measurand": MEASURANDS[1], "unit": "W"},
                ],
            }
            payload = {"connectorId": 1, "meterValue": [reading]}
            if tx is not None:
                payload["transactionId"] = tx
            keys = {(station.station_id, str(tx or ""), stamp, m) for m in MEASURANDS}
            counts["frames"] += 1
            counts["samples"] += len(keys)
            try:
                frame, taken = await station.call("MeterValues", payload, timeout=30)
            except Exception as err:
                errors[type(err).__name__] += 1
                unacked.update(keys)
                continue
            if frame[0] != 3:
                errors[f"CALLERROR {frame[2]}"] += 1
                unacked.update(keys)
                continue
            latencies.append(taken)
            acked.update(keys)
            if random.random() < resend_share:  # the charger missed the ack: same frame again
                counts["resent_frames"] += 1
                try:
                    await station.call("MeterValues", payload, timeout=30)
                except Exception as err:
                    errors[f"resend {type(err).__name__}"] += 1

    tasks = [asyncio.create_task(one(s)) for s in stations]
    done, pending = await asyncio.wait(tasks, timeout=seconds + 60)
    for task in pending:
        task.cancel()
    elapsed = time.monotonic() - start
    return {
        "frames": counts["frames"],
        "samples_sent": counts["samples"],
        "resent_frames": counts["resent_frames"],
        "acked_samples": len(acked),
        "frames_per_s": round(counts["frames"] / elapsed, 1),
        "errors": dict(errors),
        "ack": summary_ms(latencies),
        "_acked": acked,
        "_unacked": unacked - acked,
    }


def verify(database_url: str, acked: set[tuple], unacked: set[tuple]) -> dict:
    """Compare `meter_samples` with what was sent (the benchmark's stations only)."""
    with psycopg.connect(libpq_url(database_url)) as conn:
        rows = conn.execute(
            "SELECT station_id, transaction_id, "
            "to_char(timestamp AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "
            "measurand FROM meter_samples WHERE station_id LIKE %s",
            (PREFIX + "%",),
        ).fetchall()
        duplicates = conn.execute(
            "SELECT count(*) FROM (SELECT 1 FROM meter_samples WHERE station_id LIKE %s "
            "GROUP BY station_id, connector_id, transaction_id, timestamp, measurand, phase, "
            "location HAVING count(*) > 1) d",
            (PREFIX + "%",),
        ).fetchone()[0]
        with_session = conn.execute(
            "SELECT count(*) FROM meter_samples "
            "WHERE station_id LIKE %s AND session_id IS NOT NULL",
            (PREFIX + "%",),
        ).fetchone()[0]
    stored = [tuple(row) for row in rows]
    stored_set = set(stored)
    missing = acked - stored_set
    extra = stored_set - acked - unacked
    return {
        "stored_rows": len(stored),
        "acked_samples": len(acked),
        "duplicate_keys": duplicates,
        "repeated_rows": len(stored) - len(stored_set),
        "acked_but_missing": len(missing),
        "stored_but_never_sent": len(extra),
        "unacked_samples": len(unacked),
        "unacked_but_stored": len(unacked & stored_set),
        "rows_with_session_id": with_session,
        "exactly_once": not missing
        and not extra
        and duplicates == 0
        and len(stored) == len(stored_set),
        "examples_missing": sorted(missing)[:3],
    }


async def ampflow_run(args, url: str, database_url: str, pids: dict, results: dict) -> dict:
    stations = [RawStation(url, f"{PREFIX}{i:05d}", PASSWORD) for i in range(args.stations)]
    ok, errors = await connect_all(stations, 500.0, True, 120)
    print(f"connected {ok}/{args.stations} {dict(errors)}", file=sys.stderr)
    started = time.monotonic()
    transactions = await open_transactions(stations, args.setup_in_flight)
    print(
        f"{len(transactions)} transactions open in {time.monotonic() - started:.1f}s",
        file=sys.stderr,
    )
    setup_s = round(time.monotonic() - started, 1)
    spies = start_profiles(pids, args.profile, "meter", args.seconds)
    print(f"sampling every {args.interval}s for {args.seconds}s", file=sys.stderr)
    figures = await sample(stations, transactions, args.interval, args.seconds, args.resend_share)
    if spies:
        results["profiles"] = await finish_profiles(spies)
    await asyncio.sleep(1)  # answers are sent after the commit; nothing is in flight now
    await asyncio.gather(*(s.close() for s in stations), return_exceptions=True)
    figures["transactions"] = len(transactions)
    figures["setup_s"] = setup_s
    return figures


async def echo_run(args, url: str) -> dict:
    stations = [
        RawStation(url, f"{PREFIX}{i:05d}", PASSWORD, strict=False) for i in range(args.stations)
    ]
    await connect_all(stations, 500.0, True, 120)
    transactions = {s.station_id: i + 1 for i, s in enumerate(stations)}
    figures = await sample(stations, transactions, args.interval, args.baseline_seconds, 0.0)
    await asyncio.gather(*(s.close() for s in stations), return_exceptions=True)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=500, help=f"≤ {MAX_STATIONS}")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between samples")
    parser.add_argument("--seconds", type=float, default=60.0, help="sampling duration")
    parser.add_argument("--baseline-seconds", type=float, default=30.0, help="echo run")
    parser.add_argument("--resend-share", type=float, default=0.05, help="frames sent twice")
    parser.add_argument("--setup-in-flight", type=int, default=50, help="concurrent starts")
    parser.add_argument(
        "--profile", nargs="+", choices=["gateway", "worker"], help="py-spy these processes"
    )
    parser.add_argument(
        "--serve-module",
        default="benchmarks.serve_gateway",
        help="module that runs the gateway (A/B runs of a proposed patch)",
    )
    args = parser.parse_args()
    if not 1 <= args.stations <= MAX_STATIONS or args.seconds > 600:
        parser.error(f"bounded: 1..{MAX_STATIONS} stations, ≤ 600 s")
    raise_nofile(args.stations + 1024)
    results: dict = {
        "stations": args.stations,
        "interval_s": args.interval,
        "seconds": args.seconds,
        "resend_share": args.resend_share,
        "target_p99_ack_ms": TARGET_P99_MS,
        "gateway_module": args.serve_module,
    }
    with stack() as (database_url, temporal_address):
        register_load_stations(database_url, PREFIX, args.stations, PASSWORD, ID_TAG)
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
        nofile = args.stations + 1024
        gateway = start_server(["-m", args.serve_module], env, port, nofile)
        try:
            pids = {"gateway": gateway.pid, "worker": worker.pid}
            url = f"ws://127.0.0.1:{port}/ocpp"
            ours = asyncio.run(ampflow_run(args, url, database_url, pids, results))
        finally:
            stop_process(gateway)  # flushes the recorder
            stop_process(worker)
        results["storage"] = verify(database_url, ours.pop("_acked"), ours.pop("_unacked"))
        results["ampflow"] = ours
        echo_port = free_port()
        echo = start_server(
            ["-m", "benchmarks.baselines", "echo", str(echo_port)], env, echo_port, nofile
        )
        try:
            print(f"echo baseline for {args.baseline_seconds}s", file=sys.stderr)
            base = asyncio.run(echo_run(args, f"ws://127.0.0.1:{echo_port}/ocpp"))
        finally:
            stop_process(echo)
        base.pop("_acked")
        base.pop("_unacked")
        results["echo"] = base
    report(results)
    print("written:", write_result("meter_ingest", results))


def report(results: dict) -> None:
    ours, echo, storage = results["ampflow"], results["echo"], results["storage"]
    print(
        f"\n{results['stations']} stations, a sample every {results['interval_s']}s, "
        f"{ours['transactions']} transactions (setup {ours['setup_s']}s)"
    )
    print(
        f"{'server':<10}{'frames':>8}{'/s':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"
        f"{'max ms':>9}  errors"
    )
    for name, side in (("ampflow", ours), ("echo", echo)):
        a = side["ack"]
        print(
            f"{name:<10}{side['frames']:>8}{side['frames_per_s']:>8}{a['p50_ms']:>9}"
            f"{a['p95_ms']:>9}{a['p99_ms']:>9}{a['max_ms']:>9}  {side['errors']}"
        )
    ratios = {
        f"ack_{p}_ampflow_vs_echo": round(ours["ack"][p] / max(echo["ack"][p], 1e-9), 2)
        for p in ("p50_ms", "p99_ms")
    }
    ratios["p99_vs_target"] = round(ours["ack"]["p99_ms"] / TARGET_P99_MS, 3)
    results["ratios"] = ratios
    print("ratios:", ratios)
    print(
        f"storage: sent {ours['samples_sent']} samples ({ours['resent_frames']} frames resent), "
        f"acked {storage['acked_samples']}, stored {storage['stored_rows']} rows; "
        f"missing {storage['acked_but_missing']}, never sent {storage['stored_but_never_sent']}, "
        f"duplicate keys {storage['duplicate_keys']}, unacked {storage['unacked_samples']} "
        f"({storage['unacked_but_stored']} of them stored) -> "
        f"{'exactly once' if storage['exactly_once'] else 'NOT exactly once'}"
    )
    ok = ours["ack"]["p99_ms"] < TARGET_P99_MS
    results["verdict"] = {"p99_ok": ok, "exactly_once": storage["exactly_once"]}
    print(
        f"target p99 ack < {TARGET_P99_MS:.0f} ms: {ours['ack']['p99_ms']} ms -> "
        f"{'met' if ok else 'MISSED'}"
    )
    for name, summary in results.get("profiles", {}).items():
        print_profile(f"{name} (sampling)", summary)


if __name__ == "__main__":
    main()
