"""Builds the FastAPI app. OpenAPI at /docs and /openapi.json."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from temporalio.client import Client

from ampflow import __version__
from ampflow.settings import Settings
from ampflow.temporal import connect
from api import metrics as api_metrics
from api.deps import require_access
from api.remote_sessions import guest_payment_sink
from api.routes import commands, drivers, health, payments, sessions, stations, tariffs
from api.routes.alerts import router as alerts_router
from api.routes.analytics import router as analytics_router
from api.routes.audit import router as audit_router
from api.routes.auth import router as auth_router
from api.routes.firmware import router as firmware_router
from api.routes.live import router as live_router
from api.routes.local_lists import router as local_lists_router
from api.routes.maintenance import router as maintenance_router
from api.routes.me import router as me_router
from api.routes.operators import router as operators_router
from api.routes.reports import router as reports_router
from api.routes.uploads import router as uploads_router
from store.db import Database


def create_app(
    settings: Settings,
    database_url: str,
    temporal: Client | None = None,
) -> FastAPI:
    """The API app; the Temporal client is created in the lifespan unless one is given."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.db = Database(database_url)
        app.state.temporal = temporal or await connect(settings)
        app.state.payment_event_sink = guest_payment_sink(
            app.state.db, app.state.temporal, settings
        )
        try:
            yield
        finally:
            app.state.db.dispose()

    app = FastAPI(
        title="Ampflow API",
        version=__version__,
        description="Operate an EV charging network: stations, drivers, tariffs, sessions. "
        "Operator endpoints need the `X-API-Key` header.",
        lifespan=lifespan,
        dependencies=[Depends(require_access)],  # roles per route: domain/roles.py
    )
    app.state.settings = settings
    for module in (health, stations, commands, drivers, tariffs, sessions, payments):
        app.include_router(module.router)
    app.include_router(auth_router)
    app.include_router(me_router)
    app.include_router(operators_router)
    app.include_router(audit_router)
    app.include_router(local_lists_router)
    app.include_router(maintenance_router)
    app.include_router(firmware_router)
    app.include_router(uploads_router)
    for monitoring in (live_router, alerts_router, analytics_router, reports_router):
        app.include_router(monitoring)
    api_metrics.install(app)  # /metrics and request counters
    return app
