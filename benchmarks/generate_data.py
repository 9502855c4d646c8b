"""Generate a large, realistic history for the report benchmarks, with COPY.

    .venv/bin/python -m benchmarks.generate_data                        # 20k sessions
    .venv/bin/python -m benchmarks.generate_data --sessions 1000000 --samples-per-session 10

Writes stations `BENCH-nnnn` (2 connectors each, grouped 10 to a site), sessions over the last
`--days` days with a daily load curve, their meter samples, connector status changes (4 per
session plus random faults), station outages and authorization answers in the message log. All
rows belong to `BENCH-` stations; `--clean` deletes them first. Without `--database-url` (or
AMPFLOW_BENCH_DATABASE_URL) an embedded PostgreSQL under `.ampflow-bench` is used (migrated).
Not a test: run by hand; deterministic for a given `--seed`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from store.db import libpq_url

PREFIX = "BENCH-"
STATES = (("Completed", 0.90), ("NeedsReview", 0.02), ("PaymentFailed", 0.02))
STATES += (("Rejected", 0.04), ("Expired", 0.02))
STOP_REASONS = ("EVDisconnected", "Local", "Remote", "PowerLoss", "EmergencyStop")
HOURLY_LOAD = [1, 1, 1, 1, 1, 2, 4, 7, 9, 8, 6, 6, 7, 6, 6, 7, 9, 10, 9, 7, 5, 3, 2, 1]


def database_url(args: argparse.Namespace) -> str:
    """The given URL, or an embedded PostgreSQL under `.ampflow-bench` (migrated)."""
    url = args.database_url or os.environ.get("AMPFLOW_BENCH_DATABASE_URL")
    if url:
        return url
    from store.embedded import start_embedded_postgres
    from store.migrate import upgrade

    _, url = start_embedded_postgres(Path(".ampflow-bench"), database="ampflow_bench")
    upgrade(url)
    return url


def _ts(at: datetime) -> str:
    return at.isoformat()


def _copy(conn: psycopg.Connection, sql: str, lines: Iterator[str], chunk: int = 20_000) -> int:
    """COPY … FROM STDIN (text format) in chunks of lines; returns the row count."""
    count = 0
    with conn.cursor() as cur, cur.copy(sql) as copy:
        buffer: list[str] = []
        for line in lines:
            buffer.append(line)
            if len(buffer) >= chunk:
                copy.write("".join(buffer))
                count += len(buffer)
                buffer.clear()
        if buffer:
            copy.write("".join(buffer))
            count += len(buffer)
    return count


class Generator:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.rng = random.Random(args.seed)
        self.end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        self.start = self.end - timedelta(days=args.days)
        self.stations = [f"{PREFIX}{n:04d}" for n in range(args.stations)]
        self.hours = [h for h, weight in enumerate(HOURLY_LOAD) for _ in range(weight)]
        self.sessions: list[tuple] = []  # (n, station, connector, state, start, stop, wh)

    def plan_sessions(self) -> None:
        rng, args = self.rng, self.args
        states = [s for s, _ in STATES]
        weights = [w for _, w in STATES]
        for n in range(args.sessions):
            day = self.start + timedelta(days=rng.randrange(args.days))
            start = day + timedelta(hours=rng.choice(self.hours), seconds=rng.randrange(3600))
            duration = rng.randint(10 * 60, 4 * 3600)
            state = rng.choices(states, weights)[0]
            station = rng.choice(self.stations)
            connector = rng.randint(1, args.connectors)
            energy = int(duration / 3600 * rng.uniform(3_000, 22_000))
            self.sessions.append(
                (n, station, connector, state, start, start + timedelta(seconds=duration), energy)
            )

    def stations_rows(self) -> Iterator[str]:
        for n, station in enumerate(self.stations):
            site = f"site-{n // 10:03d}"
            yield f"{station}\t1\tocpp1.6\t{self.args.connectors}\tAccepted\tt\t{site}\n"

    def site_rows(self) -> Iterator[str]:
        for n in range(0, len(self.stations), 10):
            yield f"site-{n // 10:03d}\tSite {n // 10:03d}\n"

    def connector_rows(self) -> Iterator[str]:
        for station in self.stations:
            for connector in range(1, self.args.connectors + 1):
                yield f"{station}\t{connector}\tAvailable\n"

    def session_rows(self) -> Iterator[str]:
        for n, station, connector, state, start, stop, energy in self.sessions:
            sid = f"session-{station}-{n}"
            duration = int((stop - start).total_seconds())
            if state in ("Rejected", "Expired"):
                yield (
                    f"{sid}\t{station}\t{connector}\t{n}\t{state}\t{{}}\t{_ts(start)}\t\\N\t"
                    f"\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t{_ts(start)}\n"
                )
                continue
            cost = self._cost(energy, duration)
            reason = self.rng.choice(STOP_REASONS)
            yield (
                f"{sid}\t{station}\t{connector}\t{n}\t{state}\t{{}}\t{_ts(start)}\t{_ts(stop)}\t"
                f"{energy}\t{duration}\t{reason}\t{json.dumps(cost)}\t{cost['total']}\tEUR\t"
                f"{_ts(start)}\n"
            )

    @staticmethod
    def _cost(energy_wh: int, duration_s: int) -> dict:
        energy = round(energy_wh * 35 / 1000)
        minutes = round(duration_s * 2 / 60)
        net = energy + minutes + 50
        lines = [
            {"component": "energy", "quantity": f"{energy_wh / 1000:.3f} kWh", "amount": energy},
            {"component": "time", "quantity": f"{duration_s} s", "amount": minutes},
            {"component": "session", "quantity": "1", "amount": 50},
        ]
        vat = round(net * 0.2)
        return {"currency": "EUR", "lines": lines, "net": net, "vat": vat, "total": net + vat}

    def sample_rows(self) -> Iterator[str]:
        per = self.args.samples_per_session
        for n, station, connector, state, start, stop, energy in self.sessions:
            if state in ("Rejected", "Expired") or per == 0:
                continue
            sid = f"session-{station}-{n}"
            step = (stop - start) / per
            for k in range(1, per + 1):
                at = start + step * k
                value = energy * k // per
                yield (
                    f"{sid}\t{station}\t{connector}\t{n}\t{_ts(at)}\t"
                    f"Energy.Active.Import.Register\t\t\tSample.Periodic\tWh\t{value}\n"
                )

    def status_rows(self) -> Iterator[str]:
        minute = timedelta(minutes=2)
        for _n, station, connector, state, start, stop, _energy in self.sessions:
            if state == "Expired":
                continue
            for at, status in (
                (start - minute, "Preparing"),
                (start, "Charging"),
                (stop, "Finishing"),
                (stop + minute, "Available"),
            ):
                yield f"{station}\t{connector}\t{status}\t\\N\t{_ts(at)}\t{_ts(at)}\n"
        for _ in range(len(self.stations) * self.args.days // 10):  # a fault per 10 days
            station = self.rng.choice(self.stations)
            connector = self.rng.randint(1, self.args.connectors)
            at = self.start + timedelta(seconds=self.rng.randrange(self.args.days * 86_400))
            back = at + timedelta(minutes=self.rng.randint(5, 240))
            yield f"{station}\t{connector}\tFaulted\tGroundFailure\t{_ts(at)}\t{_ts(at)}\n"
            yield f"{station}\t{connector}\tAvailable\t\\N\t{_ts(back)}\t{_ts(back)}\n"

    def link_rows(self) -> Iterator[str]:
        for station in self.stations:
            yield f"{station}\tt\t\\N\t{_ts(self.start - timedelta(days=1))}\n"
            for _ in range(max(self.args.days // 15, 1)):  # an outage per two weeks
                at = self.start + timedelta(seconds=self.rng.randrange(self.args.days * 86_400))
                back = at + timedelta(minutes=self.rng.randint(1, 180))
                yield f"{station}\tf\t1006\t{_ts(at)}\n"
                yield f"{station}\tt\t\\N\t{_ts(back)}\n"

    def auth_rows(self) -> Iterator[str]:
        for n, station, _connector, state, start, _stop, _energy in self.sessions:
            status = "Invalid" if state == "Rejected" else "Accepted"
            frame = json.dumps([3, f"b{n}", {"idTagInfo": {"status": status}}])
            yield f"{station}\tout\t\\N\tb{n}\tAuthorize\t{frame}\t{_ts(start)}\n"


COPIES = (
    ("locations", "COPY locations (id, name) FROM STDIN", Generator.site_rows),
    (
        "stations",
        "COPY stations (id, security_profile, ocpp_versions, connector_count, "
        "registration_status, connected, location_id) FROM STDIN",
        Generator.stations_rows,
    ),
    (
        "connectors",
        "COPY connectors (station_id, connector_id, status) FROM STDIN",
        Generator.connector_rows,
    ),
    (
        "sessions",
        "COPY sessions (id, station_id, connector_id, transaction_id, state, tariff, started_at, "
        "stopped_at, energy_wh, duration_s, stop_reason, cost, total_amount, currency, "
        "created_at) FROM STDIN",
        Generator.session_rows,
    ),
    (
        "meter_samples",
        "COPY meter_samples (session_id, station_id, connector_id, transaction_id, timestamp, "
        "measurand, phase, location, context, unit, value) FROM STDIN",
        Generator.sample_rows,
    ),
    (
        "connector_status_history",
        "COPY connector_status_history (station_id, connector_id, status, error_code, at, "
        "received_at) FROM STDIN",
        Generator.status_rows,
    ),
    (
        "station_link_history",
        "COPY station_link_history (station_id, online, close_code, at) FROM STDIN",
        Generator.link_rows,
    ),
    (
        "ocpp_messages",
        "COPY ocpp_messages (station_id, direction, message_type, unique_id, action, payload, at) "
        "FROM STDIN",
        Generator.auth_rows,
    ),
)

CLEAN = [
    f"DELETE FROM {table} WHERE station_id LIKE '{PREFIX}%'"
    for table in (
        "ocpp_messages",
        "station_link_history",
        "connector_status_history",
        "meter_samples",
        "sessions",
        "connectors",
    )
] + [
    f"DELETE FROM stations WHERE id LIKE '{PREFIX}%'",
    "DELETE FROM locations l WHERE l.id LIKE 'site-%' "
    "AND NOT EXISTS (SELECT 1 FROM stations s WHERE s.location_id = l.id)",
]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url")
    parser.add_argument("--stations", type=int, default=200)
    parser.add_argument("--connectors", type=int, default=2, help="per station")
    parser.add_argument("--sessions", type=int, default=20_000)
    parser.add_argument("--samples-per-session", type=int, default=10)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--clean", action="store_true", help="delete earlier BENCH- rows first")
    args = parser.parse_args(argv)
    if args.sessions > 5_000_000 or args.sessions * args.samples_per_session > 100_000_000:
        parser.error("at most 5M sessions and 100M samples")

    url = libpq_url(database_url(args))
    generator = Generator(args)
    generator.plan_sessions()
    with psycopg.connect(url) as conn:
        if args.clean:
            for statement in CLEAN:
                conn.execute(statement)
        for table, sql, rows in COPIES:
            began = time.perf_counter()
            count = _copy(conn, sql, rows(generator))
            conn.commit()
            print(f"{table:26} {count:>11,} rows  {time.perf_counter() - began:7.1f} s")
        conn.autocommit = True
        for table, *_ in COPIES:
            conn.execute(f"ANALYZE {table}")
    print(f"history from {generator.start:%Y-%m-%d} to {generator.end:%Y-%m-%d}")


if __name__ == "__main__":
    main()
