"""`ampflow dev`: the whole system in one command, on embedded defaults.

Embedded PostgreSQL and the Temporal dev server (with its Web UI) keep their data under
`AMPFLOW_DATA_DIR`; migrations and demo data are applied; the gateway, the worker and the API
run as processes of their own, kept running (`ampflow.dev_roles`). `--demo N` adds N virtual
chargers VC-1 … VC-N with sessions arriving all day (chargers/README.md), in this process.
Ctrl-C stops everything.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from ampflow.dev_operator import ensure_dev_operator, start_fake_stripe
from ampflow.dev_roles import RoleFailed, Roles
from ampflow.devstack import free_port, start_temporal_dev_server, stop_process
from ampflow.processes import dev_admin_key, resolve_database_url
from ampflow.seed import DEMO_STATION, DEMO_TAG, seed_demo
from runtime.settings import Settings
from runtime.temporal import dev_codec_keys
from store.db import Database
from store.migrate import upgrade

log = logging.getLogger("ampflow.dev")


def run_dev(settings: Settings, demo: int = 0, fake_stripe: bool = False) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    stripe = start_fake_stripe(settings) if fake_stripe else None
    if not settings.admin_api_key:
        settings.admin_api_key = dev_admin_key(settings.data_dir)
    if not settings.temporal_codec_keys:  # the payload codec's key, kept like the API key
        settings.temporal_codec_keys = dev_codec_keys(settings.data_dir)
    database_url = resolve_database_url(settings)
    upgrade(database_url)
    db = Database(database_url, pool_size=2)
    seed_demo(db, settings.demo_station_password)
    console_login = ensure_dev_operator(db, settings.data_dir)
    db.dispose()
    if demo:
        from ampflow.load_setup import register_demo_chargers

        register_demo_chargers(database_url, demo, settings.demo_station_password)

    temporal = None
    codec_port = None  # the UI's codec relay (ampflow/dev_codec.py), with the dev server only
    if not settings.temporal_address:
        codec_port = free_port()
        temporal = start_temporal_dev_server(
            settings.temporal_port,
            settings.temporal_ui_port,
            settings.data_dir / "temporal.db",
            log_file=settings.data_dir / "temporal.log",
            ui_codec_endpoint=f"http://127.0.0.1:{codec_port}",
            niceness=settings.session_path_nice,
        )
    roles = Roles(settings, database_url)
    try:
        roles.start()
        asyncio.run(_serve(settings, roles, demo, codec_port, console_login))
    except RoleFailed as failed:
        raise SystemExit(f"ampflow dev: {failed}; stopping") from failed
    finally:
        roles.stop()
        if temporal is not None:
            stop_process(temporal)
        if stripe is not None:
            stripe.stop()
        log.info("stopped")


async def _serve(
    settings: Settings,
    roles: Roles,
    demo: int = 0,
    codec_port: int | None = None,
    console_login: tuple[str, str] = ("", ""),
) -> None:
    """Keep the roles running (and the UI's codec relay, and the demo chargers) until Ctrl-C."""
    tasks = [asyncio.create_task(roles.keep_running(), name="roles")]
    relay = None
    if codec_port is not None:
        from ampflow.dev_codec import relay_server

        relay = relay_server(settings, codec_port)
        tasks.append(asyncio.create_task(relay.serve(), name="codec relay"))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    _print_banner(settings, console_login)
    if demo:
        tasks.append(asyncio.create_task(_demo_chargers(settings, demo), name="demo chargers"))
    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
    print("\nstopping ...", flush=True)
    if relay is not None:  # uvicorn stops on its own (cancelled, its lifespan would complain)
        relay.should_exit = True
        await asyncio.wait([tasks[1]], timeout=5)
    for task in [*tasks, stopper]:
        task.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    for task, result in zip(tasks, results, strict=True):
        if isinstance(result, RoleFailed):
            raise result
        if isinstance(result, Exception):
            log.error("%s failed", task.get_name(), exc_info=result)


async def _demo_chargers(settings: Settings, count: int) -> None:
    """VC-1 … VC-N, odd ones OCPP 1.6, even ones 2.0.1, charging through the day."""
    from chargers.fleet import Fleet, demo_network

    config = demo_network(
        f"ws://127.0.0.1:{settings.gateway_port}/ocpp",
        count,
        settings.demo_station_password,
        settings.data_dir / "chargers",
    )
    print(
        f"  Demo network   VC-1 … VC-{count} (odd OCPP 1.6, even 2.0.1, cards VC-TAG-n), "
        f"journals in {config.journal_dir}\n",
        flush=True,
    )
    await Fleet(config).run()


def _print_banner(settings: Settings, console_login: tuple[str, str] = ("", "")) -> None:
    ui = (
        f"http://127.0.0.1:{settings.temporal_ui_port}   (payloads decoded by the API's /codec)"
        if not settings.temporal_address
        else "(external Temporal)"
    )
    print(
        "\n"
        "Ampflow is running.\n"
        f"  Console        {settings.api_base_url}/console   (sign in: {console_login[0]} / "
        f"{console_login[1]})\n"
        f"  API + docs     {settings.api_base_url}/docs\n"
        + (
            f"  Guest payment  {settings.api_base_url}/charge/{DEMO_STATION}/1   (the fake "
            "Stripe's local checkout page, test cards)\n"
            if (settings.stripe_api_key or "").startswith("sk_test_ampflow_dev")
            else ""
        )
        + f"  OCPP gateway   ws://{settings.gateway_host}:{settings.gateway_port}/ocpp/{{station_id}}\n"
        f"  Temporal UI    {ui}\n"
        f"  Temporal       {settings.temporal_target}\n"
        f"  Operator key   X-API-Key: {settings.admin_api_key}\n"
        f"  Demo           station {DEMO_STATION} (password from AMPFLOW_DEMO_STATION_PASSWORD), "
        f"card {DEMO_TAG}\n"
        f"  Try it         .venv/bin/ampflow simulate   (in another terminal)\n"
        "Press Ctrl-C to stop.\n",
        flush=True,
    )
