"""The processes of Ampflow, each runnable alone (`ampflow worker|gateway|api`) or together
(`ampflow dev`): where the database is, and how each role starts."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import secrets
import signal
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, NoReturn

from runtime.settings import Settings

log = logging.getLogger("ampflow")


def resolve_database_url(settings: Settings) -> str:
    """`AMPFLOW_DATABASE_URL`, or the embedded PostgreSQL under the data dir (started if needed)."""
    if settings.database_url:
        return settings.database_url
    from store.embedded import start_embedded_postgres

    _, url = start_embedded_postgres(settings.data_dir)
    return url


def run_until_stopped(role: Coroutine[Any, Any, None]) -> NoReturn:
    """Run one role until it ends, or until SIGTERM or SIGINT cancels it: its own cleanup runs
    then (the gateway closes its sockets, "going away"; the worker stops polling). Then the
    process exits at once, 0 or 1 (an error, logged): the interpreter's teardown is skipped, as
    a thread of Temporal's core may still reach for it there and abort or hang the process."""

    async def until_stopped() -> None:
        task = asyncio.ensure_future(role)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    code = 0
    try:
        asyncio.run(until_stopped())
    except Exception as err:
        if isinstance(err, OSError) and err.errno == errno.EADDRINUSE:
            log.error("%s: is another Ampflow running?", err)
        else:
            log.exception("stopped by an error")
        code = 1
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


async def run_worker(settings: Settings, database_url: str) -> None:
    from api.routes.reports import ensure_report_schedule
    from runtime.temporal import connect
    from store.db import Database
    from workers.session_worker import build_worker, install_worker_metrics

    install_worker_metrics(settings)
    client = await connect(settings)
    await ensure_report_schedule(client, settings)
    db = Database(database_url)
    worker = build_worker(client, db, settings.task_queue, settings=settings)
    log.info("worker polling task queue %s", settings.task_queue)
    try:
        await worker.run()
    finally:
        db.dispose()


async def run_gateway(settings: Settings, database_url: str) -> None:
    from gateway import collector
    from gateway.server import Gateway
    from runtime.temporal import connect

    client = await connect(settings)
    gateway = Gateway(settings, client, database_url, settings.task_queue)
    collector.tune()  # before the first charger: startup's objects are never walked again
    await gateway.serve_forever()


def api_server(settings: Settings, database_url: str):
    """The API as a uvicorn server (set `should_exit` on it to stop it gracefully)."""
    import uvicorn

    from api.main import create_app

    app = create_app(settings, database_url)
    config = uvicorn.Config(
        app, host=settings.api_host, port=settings.api_port, log_level="warning", lifespan="on"
    )
    return uvicorn.Server(config)


async def run_api(settings: Settings, database_url: str) -> None:
    await api_server(settings, database_url).serve()


def dev_admin_key(data_dir: Path) -> str:
    """The dev operator key: kept in the data dir so it survives restarts."""
    path = data_dir / "admin_api_key"
    if path.exists():
        return path.read_text().strip()
    key = "dev-" + secrets.token_urlsafe(18)
    path.write_text(key + "\n")
    path.chmod(0o600)
    return key
