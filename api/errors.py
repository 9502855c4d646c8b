"""Last-resort answers for input the models did not catch: 422, never a 500.

A value PostgreSQL refuses (out of range, NUL in text, a bad time zone, ...) raises
`sqlalchemy.exc.DataError`; arithmetic on extreme input raises `OverflowError`. Both are the
client's input, so they are answered 422 with a clear message and logged (as a warning, with the
route and the database's error class — never the statement's bound values, which may be personal
data or secrets) so that the model that should have refused the value can be tightened.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError

log = logging.getLogger(__name__)


def _route(request: Request) -> str:
    route = request.scope.get("route")
    return f"{request.method} {getattr(route, 'path', None) or 'unmatched'}"


async def data_error(request: Request, exc: Exception) -> JSONResponse:
    """A value the database cannot store or compare: 422."""
    cause = getattr(exc, "orig", None) or exc
    log.warning("input refused by the database at %s: %s", _route(request), type(cause).__name__)
    return JSONResponse(
        {
            "detail": "a value is out of range or cannot be stored (e.g. a number too large, "
            "a NUL character, a date-time out of range)"
        },
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
    )


async def overflow_error(request: Request, exc: Exception) -> JSONResponse:
    """Arithmetic on the input overflowed (a date or number far out of range): 422."""
    log.warning("input overflowed at %s: %s", _route(request), exc)
    return JSONResponse(
        {"detail": "a value is out of range (a number or date-time too large)"},
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(DataError, data_error)
    app.add_exception_handler(OverflowError, overflow_error)
