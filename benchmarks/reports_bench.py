"""Time every report query over the generated history; print p50 / p95 and write
`benchmarks/results/reports.json`.

    .venv/bin/python -m benchmarks.generate_data --sessions 1000000 --samples-per-session 10
    .venv/bin/python -m benchmarks.reports_bench --repeat 5

Scopes: the whole fleet over the last 30 days, one site (10 stations) over 30 days, one
station over the whole history, and the monthly report's fleet month. Not a test.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Connection

from benchmarks.generate_data import PREFIX, database_url
from domain.analytics import Bucket, Scope, UptimeRow, UtilizationRow
from store import analytics_queries as q
from store.db import Database

RESULTS = Path(__file__).parent / "results" / "reports.json"

QUERIES: dict[str, Callable[[Connection, Scope], object]] = {
    "usage/day": lambda c, s: q.usage(c, s, Bucket.DAY),
    "usage/week": lambda c, s: q.usage(c, s, Bucket.WEEK),
    "usage/month": lambda c, s: q.usage(c, s, Bucket.MONTH),
    "heatmap": q.heatmap,
    "summary": q.summary,
    "revenue": q.revenue,
    "revenue-totals": q.revenue_totals,
    "session-failures": q.session_failures,
    "auth-failures": q.auth_failures,
    "utilization": lambda c, s: [UtilizationRow.of(t) for t in q.connector_time(c, s)],
    "uptime": lambda c, s: [UptimeRow.of(t) for t in q.connector_time(c, s)],
}


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


def scopes(conn: Connection, days: int) -> dict[str, Scope]:
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    site = q.stations_of_site(conn, "site-000")
    first = f"{PREFIX}0000"
    month_start = (end - timedelta(days=30)).replace(day=1, hour=0)
    month_end = (month_start + timedelta(days=32)).replace(day=1)
    return {
        "fleet-30d": Scope(start=end - timedelta(days=30), end=end),
        "site-30d": Scope(start=end - timedelta(days=30), end=end, station_ids=site),
        f"station-{days}d": Scope(
            start=end - timedelta(days=days + 1), end=end, station_ids=[first]
        ),
        "fleet-month": Scope(start=month_start, end=month_end),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--days", type=int, default=90, help="as given to generate_data")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    db = Database(database_url(args), pool_size=2)
    results: dict[str, dict] = {}
    with db.engine.connect() as conn:
        counts = {
            table: conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one()
            for table in ("sessions", "meter_samples", "connector_status_history", "ocpp_messages")
        }
        for scope_name, scope in scopes(conn, args.days).items():
            for name, query in QUERIES.items():
                query(conn, scope)  # warm the cache
                timings = []
                for _ in range(args.repeat):
                    began = time.perf_counter()
                    query(conn, scope)
                    timings.append(1000 * (time.perf_counter() - began))
                key = f"{scope_name} {name}"
                results[key] = {
                    "p50_ms": round(statistics.median(timings), 2),
                    "p95_ms": round(percentile(timings, 0.95), 2),
                    "runs": args.repeat,
                }
                print(f"{key:40} p50 {results[key]['p50_ms']:9.1f} ms   "
                      f"p95 {results[key]['p95_ms']:9.1f} ms")  # fmt: skip
            conn.rollback()
    db.dispose()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    document = {"generated_at": datetime.now(UTC).isoformat(), "rows": counts, "queries": results}
    args.output.write_text(json.dumps(document, indent=2) + "\n")
    print(f"rows: {counts}\nwritten to {args.output}")


if __name__ == "__main__":
    main()
