"""Dependencies shared by the routes: DB session, Temporal client, operator authentication."""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.security import APIKeyHeader
from sqlmodel import Session
from temporalio.client import Client

from ampflow.settings import Settings

_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_db(request: Request) -> Iterator[Session]:
    with request.app.state.db.session() as session:
        yield session


def get_temporal(request: Request) -> Client:
    return request.app.state.temporal


def require_operator(
    request: Request, api_key: Annotated[str | None, Security(_api_key_header)]
) -> str:
    """The caller must present the operator key in `X-API-Key` (401 otherwise)."""
    expected = request.app.state.settings.admin_api_key
    if not api_key or not expected or not hmac.compare_digest(api_key, expected):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing or invalid X-API-Key",
            headers={"WWW-Authenticate": "APIKey"},
        )
    return "admin"


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_db)]
TemporalDep = Annotated[Client, Depends(get_temporal)]
OperatorDep = Annotated[str, Depends(require_operator)]
