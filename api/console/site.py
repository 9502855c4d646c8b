"""Puts the console, the driver and guest pages, their assets and the offline API docs on the
app (`api/main.py` calls `install`; create the app with `docs_url=None, redoc_url=None`)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from api.console import docs, driver, errors, fleet, guest, maintenance, records, sessions, signin
from api.console.render import HERE


def install(app: FastAPI) -> None:
    errors.install(app)
    for module in (docs, signin, fleet, sessions, maintenance, records, driver, guest):
        app.include_router(module.router)
    app.include_router(guest.api_router)  # the guest's test payment and live stream
    app.mount("/static/console", StaticFiles(directory=HERE / "static"), name="console-static")
    app.mount("/static/swagger", StaticFiles(directory=docs.swagger_dir()), name="swagger-static")
