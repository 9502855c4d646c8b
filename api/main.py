"""Builds the FastAPI app. OpenAPI at /docs and /openapi.json."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from temporalio.client import Client

from api import errors
from api import metrics as api_metrics
from api.console import site as console
from api.deps import commit_before_response, require_access
from api.remote_sessions import guest_payment_sink
from api.request_guard import BodyLimits, NulGuard, default_limits
from api.routes import (
    commands,
    drivers,
    fleet_commands,
    health,
    payments,
    sessions,
    stations,
    tariffs,
)
from api.routes.alerts import router as alerts_router
from api.routes.analytics import router as analytics_router
from api.routes.audit import router as audit_router
from api.routes.auth import router as auth_router
from api.routes.codec import BODY_LIMIT as CODEC_BODY_LIMIT
from api.routes.codec import CodecCors, ui_origins
from api.routes.codec import router as codec_router
from api.routes.firmware import router as firmware_router
from api.routes.live import router as live_router
from api.routes.local_lists import router as local_lists_router
from api.routes.locations import router as locations_router
from api.routes.mailbox import router as mailbox_router
from api.routes.maintenance import router as maintenance_router
from api.routes.me import router as me_router
from api.routes.operators import router as operators_router
from api.routes.reports import router as reports_router
from api.routes.site_load import router as site_load_router
from api.routes.station_certificates import router as station_certificates_router
from api.routes.station_reports import customer_router as customer_information_router
from api.routes.station_reports import router as station_reports_router
from api.routes.uploads import router as uploads_router
from runtime import __version__
from runtime.settings import Settings
from runtime.temporal import connect
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
        app.state.db.engine.hide_parameters = True  # SQL errors in logs carry no bound values
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
        docs_url=None,  # /docs and its assets are served locally (api/console/docs.py)
        redoc_url=None,
        dependencies=[
            Depends(require_access),  # roles per route: domain/roles.py
            Depends(commit_before_response, scope="function"),  # durable before the answer
        ],
    )
    errors.install(app)  # input the database refuses: 422
    app.state.settings = settings
    for module in (
        health,
        stations,
        commands,
        fleet_commands,
        drivers,
        tariffs,
        sessions,
        payments,
    ):
        app.include_router(module.router)
    app.include_router(auth_router)
    app.include_router(mailbox_router)
    app.include_router(me_router)
    app.include_router(operators_router)
    app.include_router(audit_router)
    app.include_router(local_lists_router)
    app.include_router(locations_router)
    app.include_router(maintenance_router)
    app.include_router(firmware_router)
    app.include_router(uploads_router)
    app.include_router(codec_router)  # Temporal codec server for the UI and CLI
    app.include_router(station_reports_router)
    app.include_router(customer_information_router)
    app.include_router(station_certificates_router)
    app.include_router(site_load_router)  # smart charging
    for monitoring in (live_router, alerts_router, analytics_router, reports_router):
        app.include_router(monitoring)
    console.install(app)  # the console and driver pages at /, and /docs offline
    app.add_middleware(NulGuard)  # NUL in path, query or JSON body: 422
    app.add_middleware(  # body limits per path, counted as bytes stream in: 413
        BodyLimits,
        limits=[
            CODEC_BODY_LIMIT,
            *default_limits(settings.firmware_max_bytes, settings.diagnostics_max_bytes),
        ],
    )
    app.add_middleware(CodecCors, origins=ui_origins(settings))  # /codec/*: the Temporal UI
    api_metrics.install(app, settings.metrics_token)  # /metrics and request counters
    return app
