"""Prometheus metrics of the gateway, served on `AMPFLOW_GATEWAY_METRICS_PORT` (0: off).

- `ampflow_gateway_connections`: stations connected to this gateway;
- `ampflow_gateway_messages_total{action, result}`: CALLs from stations answered (`ok`,
  `error`) or refused by the rate limit (`rate_limited`);
- `ampflow_gateway_call_seconds{action}`: time to handle a station's CALL;
- `ampflow_gateway_decisions_total{action, path}`: Authorize and transaction-start answers by
  how they were decided (ADR-005): `gateway` (from the store by the workflow's rule),
  `primary` (the session workflow within the deadline), `fallback` (the store, past the
  deadline) or `busy` (the store at once: too many starts already waiting on Temporal);
- `ampflow_gateway_clamped_values_total{field}`: station values replaced by the gateway (a
  timestamp that cannot be real is taken as the time received);
- `ampflow_gateway_handshakes_rejected_total{status}`: refused WebSocket handshakes by HTTP
  status (404 unknown station or path, 401 wrong password, 400 no usable subprotocol, ...);
- `ampflow_gateway_group_commit_seconds{name}`: batches of the shared status, route and boot
  writes and how long each took (`gateway/group_commit.py`);
- `ampflow_gateway_gc_pauses_seconds{generation}`: the process's garbage collections and how
  long each stopped it (`gateway/collector.py`, in the `ampflow gateway` process).
The helpers are cheap (a dict lookup and a counter increment) and never raise.
"""

from __future__ import annotations

import bisect
import itertools
import logging
import time
from typing import TYPE_CHECKING

from prometheus_client import REGISTRY, Counter, Gauge, start_http_server
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

if TYPE_CHECKING:
    from gateway.services import GatewayServices

log = logging.getLogger(__name__)

CONNECTIONS = Gauge("ampflow_gateway_connections", "Stations connected to this gateway")
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_RESULTS = ("ok", "error", "rate_limited")


class _CallStats:
    """`ampflow_gateway_messages_total` and `ampflow_gateway_call_seconds`, kept as plain
    counters on the message path (a list per action) and turned into metric families only when
    /metrics is scraped: prometheus_client's locked children cost more than a small handler."""

    def __init__(self) -> None:
        # action label -> [ok, error, rate_limited, seconds summed, count per bucket ..., +Inf]
        self.by_action: dict[str, list[float]] = {}

    def row(self, label: str) -> list[float]:
        row = self.by_action.get(label)
        if row is None:
            row = self.by_action[label] = [0.0] * (4 + len(_BUCKETS) + 1)
        return row

    def collect(self):
        messages = CounterMetricFamily(
            "ampflow_gateway_messages",
            "CALLs from stations by action and result",
            labels=["action", "result"],
        )
        seconds = HistogramMetricFamily(
            "ampflow_gateway_call_seconds",
            "Time to handle a CALL from a station",
            labels=["action"],
        )
        for label, row in sorted(self.by_action.items()):
            row = list(row)  # a consistent copy (the event loop keeps counting meanwhile)
            for index, result in enumerate(_RESULTS):
                if row[index]:
                    messages.add_metric([label, result], row[index])
            counts = row[4:]
            if sum(counts):
                cumulative = list(itertools.accumulate(counts))
                bounds = [*(str(float(b)) for b in _BUCKETS), "+Inf"]
                seconds.add_metric([label], list(zip(bounds, cumulative, strict=True)), row[3])
        yield messages
        yield seconds


_CALLS = _CallStats()
REGISTRY.register(_CALLS)
DECISIONS = Counter(
    "ampflow_gateway_decisions",
    "Authorize/start answers by how they were decided (gateway: from the store by the "
    "workflow's rule, the workflow recording it; primary: the session workflow within the "
    "deadline; fallback: the store, past it; busy: the store at once, Temporal behind)",
    ["action", "path"],
)
CLAMPED = Counter(
    "ampflow_gateway_clamped_values",
    "Values from stations replaced because they could not be real (e.g. timestamps)",
    ["field"],
)
HANDSHAKES_REJECTED = Counter(
    "ampflow_gateway_handshakes_rejected", "Refused WebSocket handshakes", ["status"]
)

_MAX_ACTIONS = 200  # a label value per OCPP action; anything beyond is "other"
_actions: set[str] = set()


def _action(action: str | None) -> str:
    if action is None:
        return "none"
    if action in _actions:
        return action
    if len(_actions) < _MAX_ACTIONS and action.isalnum() and len(action) <= 40:
        _actions.add(action)
        return action
    return "other"


_rows: dict[str | None, list[float]] = {}  # action as sent -> its row in `_CALLS`


def _row(action: str | None) -> list[float]:
    row = _rows.get(action)
    if row is None:
        label = _action(action)
        row = _CALLS.row(label)
        if label != "other":
            _rows[action] = row
    return row


def call_answered(action: str | None, response: str, started: float) -> None:
    """Count an answered CALL (`response` is the frame sent) and observe its latency."""
    row = _row(action)
    row[0 if response.startswith("[3") else 1] += 1
    elapsed = time.monotonic() - started
    row[3] += elapsed
    row[4 + bisect.bisect_left(_BUCKETS, elapsed)] += 1


def rate_limited(action: str | None) -> None:
    _row(action)[2] += 1


def handshake_refused(status: int) -> None:
    HANDSHAKES_REJECTED.labels(str(int(status))).inc()


def start(services: GatewayServices):
    """Track the connection count; serve /metrics on the gateway host at
    `gateway_metrics_port` unless it is 0. Returns the server (for `stop`)."""
    CONNECTIONS.set_function(lambda: len(services.connections))
    settings = services.settings
    if not settings.gateway_metrics_port:
        return None
    server, _thread = start_http_server(settings.gateway_metrics_port, settings.gateway_host)
    log.info(
        "gateway metrics on http://%s:%d/metrics",
        settings.gateway_host,
        settings.gateway_metrics_port,
    )
    return server


def stop(server) -> None:
    if server is not None:
        server.shutdown()
        server.server_close()


def decision(action: str, path: str) -> None:
    """Count an Authorize/start answer decided on `path` (gateway, primary, fallback, busy)."""
    DECISIONS.labels(action, path).inc()


def clamped(field: str) -> None:
    """Count a station value the gateway had to replace."""
    CLAMPED.labels(field).inc()
