"""`ampflow dev`: the whole system in one command, on embedded defaults.

Embedded PostgreSQL and the Temporal dev server (with its Web UI) keep their data under
`AMPFLOW_DATA_DIR`; migrations and demo data are applied; worker, gateway and API run in this
process. `--demo N` adds N virtual chargers VC-1 … VC-N with sessions arriving all day
(chargers/README.md). Ctrl-C stops everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from ampflow.dev_operator import ensure_dev_operator, start_fake_stripe
from ampflow.devstack import free_port, start_temporal_dev_server, stop_process
from ampflow.processes import (
    api_server,
    dev_admin_key,
    resolve_database_url,
    run_gateway,
    run_worker,
)
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
        )
    try:
        asyncio.run(_serve(settings, database_url, demo, codec_port, console_login))
    finally:
        if temporal is not None:
            stop_process(temporal)
        if stripe is not None:
            stripe.stop()
        log.info("stopped")


async def _serve(
    settings: Settings,
    database_url: str,
    demo: int = 0,
    codec_port: int | None = None,
    console_login: tuple[str, str] = ("", ""),
) -> None:
    api = api_server(settings, database_url)
    tasks = [
        asyncio.create_task(run_worker(settings, database_url), name="worker"),
        asyncio.create_task(run_gateway(settings, database_url), name="gateway"),
        asyncio.create_task(api.serve(), name="api"),
    ]
    if codec_port is not None:
        from ampflow.dev_codec import relay_server

        relay = relay_server(settings, codec_port)
        tasks.append(asyncio.create_task(relay.serve(), name="codec relay"))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await asyncio.sleep(1.5)
    _print_banner(settings, console_login)
    if demo:
        tasks.append(asyncio.create_task(_demo_chargers(settings, demo), name="demo chargers"))
    stopper = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
    for task in done:
        if task is not stopper and task.exception() is not None:
            log.error("%s failed", task.get_name(), exc_info=task.exception())
    print("\nstopping ...", flush=True)
    api.should_exit = True  # uvicorn stops on its own; the others are cancelled
    if codec_port is not None:
        relay.should_exit = True
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(tasks[2]), 5)
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


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
