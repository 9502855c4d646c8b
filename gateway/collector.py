"""The garbage collector of a gateway process: fewer full collections, none over startup's
objects, and every pause measured (ADR-005 §6).

A full (generation 2) collection stops the event loop while it walks every object the collector
tracks: with 1,000 chargers connected about 250,000 (some 200 per connection, besides about
55,000 made at startup), which took 100–230 ms on the 2-core benchmark machine during a burst.
Every answer in flight waits that long; in `fleet_burst` those pauses were the slowest 10 s
windows of StatusNotification, Heartbeat and MeterValues. CPython's defaults start one after
every 10 collections of the middle generation, once a quarter more objects are tracked than
after the last one, which a burst of new connections and sessions meets every 20–40 s.

`tune()`, once the process has started:
- moves what exists then (modules, classes, the Temporal client, settings) out of the
  collector's reach (`gc.freeze`): it lives as long as the process and is never walked again;
- starts a full collection after `FULL_AFTER_MIDDLE` collections of the middle generation
  instead of 10. The two young generations are collected as before, so short-lived cycles are
  still freed at once; only cycles that outlived two collections wait longer (reference
  counting frees most of what a closed connection leaves; the quarter rule still applies).

`ampflow_gateway_gc_pauses_seconds{generation}` counts every collection and its pause.
"""

from __future__ import annotations

import gc
import time

from prometheus_client import Histogram

FULL_AFTER_MIDDLE = 100  # collections of the middle generation per full one (CPython: 10)

PAUSES = Histogram(
    "ampflow_gateway_gc_pauses_seconds",
    "Garbage collections of the gateway process and how long each stopped it",
    ["generation"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
_by_generation = [PAUSES.labels(str(generation)) for generation in range(3)]
_started = [0.0]


def _measure(phase: str, info: dict) -> None:
    if phase == "start":
        _started[0] = time.perf_counter()
    else:
        _by_generation[info["generation"]].observe(time.perf_counter() - _started[0])


def tune() -> None:
    """Freeze startup's objects, make full collections rarer, measure every pause."""
    gc.collect()  # what startup left as garbage is freed, not frozen
    gc.freeze()
    young, middle, _full = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_AFTER_MIDDLE)
    if _measure not in gc.callbacks:
        gc.callbacks.append(_measure)
