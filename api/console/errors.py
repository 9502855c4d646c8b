"""Errors on pages answer as pages: sign-in on 401, a plain sentence otherwise — never a
traceback or a bare code. JSON routes keep FastAPI's answers."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from api.console.inner import ApiError
from api.console.render import page

PAGE_SECTIONS = frozenset({"console", "driver", "charge"})


def is_page(request: Request) -> bool:
    """A page (HTML), not a JSON route: `/`, `/console…`, `/driver…`, `/charge…` and a guest's
    `/guest/{token}` (never `/drivers…`, nor the guest's JSON and stream routes)."""
    parts = request.url.path.strip("/").split("/")
    if parts == [""] or parts[0] in PAGE_SECTIONS:
        return True
    return parts[0] == "guest" and len(parts) == 2


def _sign_in_page(request: Request) -> str:
    return "/driver/login" if request.url.path.startswith("/driver") else "/console/login"


def error_page(request: Request, status: int, message: str):
    if status == 401:
        return page(
            request,
            "signin.html",
            None,
            status_code=401,
            action=_sign_in_page(request),
            next=request.url.path,
            error="Please sign in to continue.",
        )
    titles = {403: "Not allowed", 404: "Not found", 409: "Not possible now"}
    if status == 403:
        message = f"Your role may not see or do this. ({message})"
    return page(
        request,
        "error.html",
        getattr(request.state, "caller", None),
        status_code=status,
        title=titles.get(status, "Something went wrong"),
        message=message,
    )


async def _http(request: Request, exc: Exception):
    assert isinstance(exc, HTTPException)
    if not is_page(request):
        return await http_exception_handler(request, exc)
    return error_page(request, exc.status_code, str(exc.detail))


async def _validation(request: Request, exc: Exception):
    assert isinstance(exc, RequestValidationError)
    if not is_page(request):
        return await request_validation_exception_handler(request, exc)
    problems = "; ".join(
        f"{'.'.join(str(p) for p in e.get('loc', [])[1:])}: {e.get('msg')}" for e in exc.errors()
    )
    return error_page(request, 422, f"Please check the address: {problems}")


async def _api_error(request: Request, exc: Exception):
    assert isinstance(exc, ApiError)
    return error_page(request, exc.status, exc.message)


def install(app: FastAPI) -> None:
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(ApiError, _api_error)
