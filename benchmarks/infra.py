"""Throwaway infrastructure for a benchmark run: embedded PostgreSQL and a Temporal dev server."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import statistics
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from ampflow.devstack import free_port, start_temporal_dev_server, stop_process
from runtime.settings import Settings
from store.embedded import start_embedded_postgres
from store.migrate import upgrade

RESULTS = Path(__file__).parent / "results"


@contextlib.contextmanager
def stack() -> Iterator[tuple[str, str]]:
    """(database url, Temporal address) of fresh, temporary services."""
    data_dir = Path(tempfile.mkdtemp(prefix="ampflow-bench-"))
    data_dir.chmod(0o755)
    server, url = start_embedded_postgres(data_dir, temporary=True)
    upgrade(url)
    port = free_port()
    temporal = start_temporal_dev_server(port, ui_port=None, db_file=None)
    try:
        yield url, f"127.0.0.1:{port}"
    finally:
        stop_process(temporal)
        server.cleanup()


def temporal_dev_server_pid() -> int | None:
    """The pid of the Temporal dev server `stack()` started (a child of this process)."""
    import psutil

    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if "start-dev" in child.cmdline():
                return child.pid
    return None


def add_session_path_nice(parser: argparse.ArgumentParser) -> None:
    """`--session-path-nice N`: Temporal and the workers at niceness N, `ampflow dev`'s default."""
    parser.add_argument(
        "--session-path-nice",
        type=int,
        default=Settings.model_fields["session_path_nice"].default,
        help="run Temporal and the workers at this niceness, as `ampflow dev` does (default "
        "%(default)s: the gateway first on a shared host; 0: no priority)",
    )


def lower_priority(pids: list[int], niceness: int) -> None:
    """Run these processes, every thread of each, at `niceness`: on one shared host, what the
    chargers wait for (the gateway) gets the CPU first, and the session path (Temporal, the
    workers) catches up after — as it does on hosts of its own."""
    for pid in pids:
        tasks = Path(f"/proc/{pid}/task")  # Linux: a priority is per thread
        for tid in [int(t.name) for t in tasks.iterdir()] if tasks.exists() else [pid]:
            with contextlib.suppress(ProcessLookupError):
                os.setpriority(os.PRIO_PROCESS, tid, niceness)


def percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]


def summary_ms(values: list[float]) -> dict[str, float]:
    """p50/p95/p99/max in milliseconds."""
    return {
        "p50_ms": round(percentile(values, 50) * 1000, 2),
        "p95_ms": round(percentile(values, 95) * 1000, 2),
        "p99_ms": round(percentile(values, 99) * 1000, 2),
        "max_ms": round(max(values) * 1000, 2) if values else 0.0,
        "mean_ms": round(statistics.fmean(values) * 1000, 2) if values else 0.0,
    }


def write_result(name: str, result: dict) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return path


def scrape_decisions(metrics_port: int) -> dict:
    """`ampflow_gateway_decisions_total{action, path}` from the gateway's /metrics."""
    text = _metrics_text(metrics_port)
    if isinstance(text, OSError):
        return {"error": str(text)}
    out: dict = {}
    pattern = r'ampflow_gateway_decisions_total\{action="([^"]+)",path="([^"]+)"\} ([0-9.e+]+)'
    for action, path, value in re.findall(pattern, text):
        out.setdefault(action, {})[path] = int(float(value))
    return out


def scrape_gc_pauses(metrics_port: int) -> dict:
    """`ampflow_gateway_gc_pauses_seconds` from the gateway's /metrics, per generation: how many
    collections, their pauses summed, and how many stopped the gateway for over 50 ms."""
    return _scrape_histogram(metrics_port, "ampflow_gateway_gc_pauses_seconds", "generation")


def scrape_group_commits(metrics_port: int) -> dict:
    """`ampflow_gateway_group_commit_seconds` from the gateway's /metrics, per group commit
    (status, route, boot writes): how many batches, their time summed, how many over 50 ms."""
    return _scrape_histogram(metrics_port, "ampflow_gateway_group_commit_seconds", "name")


def _scrape_histogram(metrics_port: int, name: str, label: str) -> dict:
    from prometheus_client.parser import text_string_to_metric_families

    text = _metrics_text(metrics_port)
    if isinstance(text, OSError):
        return {"error": str(text)}
    out: dict = {}
    for family in text_string_to_metric_families(text):
        if family.name != name:
            continue
        for sample in family.samples:
            figures = out.setdefault(sample.labels[label], {})
            if sample.name.endswith("_count"):
                figures["count"] = int(sample.value)
            elif sample.name.endswith("_sum"):
                figures["seconds"] = round(sample.value, 3)
            elif sample.name.endswith("_bucket") and sample.labels["le"] == "0.05":
                figures["within_50ms"] = int(sample.value)
    for figures in out.values():
        figures["over_50ms"] = figures.get("count", 0) - figures.pop("within_50ms", 0)
    return out


def _metrics_text(metrics_port: int) -> str | OSError:
    """The gateway's /metrics page, or the error that kept it (a killed gateway)."""
    try:
        url = f"http://127.0.0.1:{metrics_port}/metrics"
        return urllib.request.urlopen(url, timeout=5).read().decode()
    except OSError as err:
        return err
