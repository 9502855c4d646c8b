"""Benchmark: how much CPU and memory a virtual charger costs, N chargers in one process.

    python -m chargers.bench --chargers 5000 --seconds 120            # against a stub CSMS
    python -m chargers.bench --chargers 500 --url ws://127.0.0.1:9000/ocpp --password ...

Every charger heartbeats every `--heartbeat` s; every fifth charges for the whole run with meter
values every `--meter-interval` s (the issue's scenario: 60 s and 30 s). Without `--url` a stub
CSMS (`chargers.stub_csms`) runs in its own process, so only the chargers' cost is measured.
Reports connect time, RSS per charger and CPU per charger (process CPU time over the steady
phase, divided by chargers and minutes), and the messages sent.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import resource
import subprocess
import sys
import time

import psutil

from chargers.charger import Charger
from chargers.config import Behaviour, ChargerConfig


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run(args: argparse.Namespace) -> dict:
    stub = None
    url = args.url
    if url is None:
        port = args.stub_port
        stub = subprocess.Popen(
            [sys.executable, "-m", "chargers.stub_csms", str(port), str(args.heartbeat)],
            stdout=subprocess.PIPE,
        )
        assert stub.stdout is not None
        stub.stdout.readline()  # "ready"
        url = f"ws://127.0.0.1:{port}/ocpp"
    process = psutil.Process()
    rss_before = process.memory_info().rss
    sent = 0

    def observe(action: str, seconds: float, error: str | None) -> None:
        nonlocal sent
        sent += 1

    chargers = []
    try:
        started = time.monotonic()
        for i in range(args.chargers):
            version = "2.0.1" if args.mixed and i % 2 else "1.6"
            key = (
                "SampledDataCtrlr/TxUpdatedInterval"
                if version == "2.0.1"
                else "MeterValueSampleInterval"
            )
            charger = Charger(
                ChargerConfig(
                    station_id=f"{args.prefix}{i:05d}",
                    password=args.password,
                    url=url,
                    version=version,
                    strict=not args.no_validation,
                    journal_keep=0,
                    configuration={key: str(args.meter_interval)},
                    behaviour=Behaviour(reconnect_min_s=1, reconnect_max_s=30),
                ),
                observer=observe,
            )
            chargers.append(charger)
            await charger.start()
            await asyncio.sleep(1 / args.connect_rate)
        await asyncio.gather(*(c.wait_booted(timeout_s=300) for c in chargers))
        connect_s = time.monotonic() - started
        for i, charger in enumerate(chargers):
            if i % 5 == 0:
                await charger.sessions.start_local(args.id_tag, 1)
        await asyncio.sleep(5)
        cpu0, sent0, t0 = _cpu_s(), sent, time.monotonic()
        await asyncio.sleep(args.seconds)
        cpu, messages, elapsed = _cpu_s() - cpu0, sent - sent0, time.monotonic() - t0
        rss = process.memory_info().rss
        booted = sum(1 for c in chargers if c.accepted_boots)
        charging = sum(1 for c in chargers if c.sessions.active())
    finally:
        await asyncio.gather(*(c.stop() for c in chargers), return_exceptions=True)
        if stub is not None:
            stub.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                stub.wait(5)
    return {
        "chargers": args.chargers,
        "booted": booted,
        "charging": charging,
        "connect_s": round(connect_s, 1),
        "steady_s": round(elapsed, 1),
        "messages": messages,
        "messages_per_s": round(messages / elapsed, 1),
        "cpu_s": round(cpu, 2),
        "cpu_ms_per_charger_minute": round(cpu * 1000 / args.chargers / (elapsed / 60), 3),
        "cpu_share_of_one_core": round(cpu / elapsed, 3),
        "rss_mib": round(rss / 2**20, 1),
        "rss_kib_per_charger": round((rss - rss_before) / 1024 / args.chargers, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chargers", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--heartbeat", type=int, default=60)
    parser.add_argument("--meter-interval", type=int, default=30)
    parser.add_argument("--connect-rate", type=float, default=200)
    parser.add_argument("--url", help="a real gateway (stations must be registered)")
    parser.add_argument("--password", default="load-secret-0123456789")
    parser.add_argument("--prefix", default="BENCH-")
    parser.add_argument("--id-tag", default="LOAD-TAG", help="the card charging chargers use")
    parser.add_argument("--stub-port", type=int, default=9877)
    parser.add_argument("--mixed", action="store_true", help="every other charger OCPP 2.0.1")
    parser.add_argument("--no-validation", action="store_true", help="skip outgoing checks")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    for key, value in result.items():
        print(f"{key:<28}{value}")


if __name__ == "__main__":
    main()
