"""Builds the FastAPI app. OpenAPI at /docs and /openapi.json."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from temporalio.client import Client

from ampflow import __version__
from ampflow.settings import Settings
from ampflow.temporal import connect
from api.routes import commands, drivers, health, sessions, stations, tariffs
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
    )
    app.state.settings = settings
    for module in (health, stations, commands, drivers, tariffs, sessions):
        app.include_router(module.router)
    return app
