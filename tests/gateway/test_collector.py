"""The gateway process's garbage collector (gateway/collector.py, ADR-005 §6): startup's objects
frozen, full collections spaced out, young cycles still freed, every pause measured."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

from ampflow.devstack import free_port
from chaos.processes import RoleProcess
from tests.conftest import DEMO_PASSWORD
from tests.helpers import eventually

# Run in a process of its own: freezing is for the whole interpreter.
_PROBE = """
import gc, json, weakref
import gateway.server  # what a gateway process has loaded before its first charger
from gateway import collector
before = gc.get_threshold()
collector.tune()
frozen = gc.get_freeze_count()

class Node:
    pass

a, b = Node(), Node()
a.other, b.other = b, a  # a cycle: only the collector can free it
alive = weakref.ref(a)
del a, b
gc.collect(0)  # the youngest generation alone
young_cycle_freed = alive() is None
gc.collect()
from prometheus_client import REGISTRY
sample = "ampflow_gateway_gc_pauses_seconds_count"
full = (REGISTRY.get_sample_value(sample, {"generation": "2"}) or 0) > 0
print(json.dumps({"before": before, "after": gc.get_threshold(), "frozen": frozen,
                  "young_cycle_freed": young_cycle_freed, "full_measured": full}))
"""


def test_tune_freezes_startup_and_spaces_full_collections():
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], cwd=root, capture_output=True, text=True, check=True
    )
    probe = json.loads(out.stdout.strip().splitlines()[-1])
    assert probe["frozen"] > 10_000  # modules, classes, functions: never walked again
    young, middle, _ = probe["before"]
    assert probe["after"] == [young, middle, 100]  # the young generations as CPython has them
    assert probe["young_cycle_freed"]
    assert probe["full_measured"]


async def test_the_gateway_process_reports_its_collections(
    settings, database_url, temporal_address, tmp_path
):
    metrics_port, port = free_port(), free_port()
    gateway = RoleProcess(
        "gateway",
        {
            "AMPFLOW_DATABASE_URL": database_url,
            "AMPFLOW_TEMPORAL_ADDRESS": temporal_address,
            "AMPFLOW_TASK_QUEUE": settings.task_queue,
            "AMPFLOW_GATEWAY_PORT": str(port),
            "AMPFLOW_GATEWAY_METRICS_PORT": str(metrics_port),
            "AMPFLOW_ALERT_SWEEP_INTERVAL_S": "0",
            "AMPFLOW_HEALING_ENABLED": "false",
            "AMPFLOW_DEMO_STATION_PASSWORD": DEMO_PASSWORD,
            "AMPFLOW_DATA_DIR": str(tmp_path / "data"),
        },
        tmp_path / "gateway.log",
        port=port,
    )
    try:
        gateway.start()
        await gateway.ready()

        def young_collections() -> float:
            url = f"http://127.0.0.1:{metrics_port}/metrics"
            text = urllib.request.urlopen(url, timeout=5).read().decode()
            for line in text.splitlines():
                if line.startswith('ampflow_gateway_gc_pauses_seconds_count{generation="0"}'):
                    return float(line.rsplit(" ", 1)[1])
            return 0.0

        await eventually(lambda: young_collections() > 0, timeout=30)
    finally:
        gateway.kill()
