"""The JSON API, called in-process with the caller's own credentials.

Console pages read through the same routes as every client: the role table, ownership checks,
validation and audit all apply. A caller signed in by the console cookie gets a short-lived access
token for its own sign-in session; API keys and bearer tokens are passed on as they came.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
from fastapi import Request

from api import security
from domain.roles import Principal

INNER_TOKEN_TTL_S = 60


@dataclass
class ApiError(Exception):
    """An answer of the API that is not a success, with its message for people."""

    status: int
    message: str


def seg(value: object) -> str:
    """A value as one path segment of an inner request (`/`, `?` and `#` escaped)."""
    return quote(str(value), safe="")


def message_of(response: httpx.Response) -> str:
    """The API's `detail` as one readable sentence (validation errors: field and problem)."""
    try:
        detail = response.json().get("detail", response.text)
    except ValueError:
        return response.text[:300] or f"error {response.status_code}"
    if isinstance(detail, list):
        parts = []
        for item in detail:
            where = ".".join(str(p) for p in item.get("loc", [])[1:]) or "input"
            parts.append(f"{where}: {item.get('msg', 'invalid')}")
        return "; ".join(parts)
    if isinstance(detail, dict):
        return str(detail.get("message") or detail)
    return str(detail)


def _credentials(request: Request, caller: Principal) -> dict[str, str]:
    if "x-api-key" in request.headers:
        return {"X-API-Key": request.headers["x-api-key"]}
    if "authorization" in request.headers:
        return {"Authorization": request.headers["authorization"]}
    if caller.session_id is None or caller.subject_id is None:
        return {}
    token = security.issue_access_token(
        security.access_keys(request.app.state.settings),
        f"{caller.kind}:{caller.subject_id}",
        caller.role.value,
        caller.session_id,
        INNER_TOKEN_TTL_S,
    )
    return {"Authorization": f"Bearer {token}"}


class Api:
    """`await api.get("/stations")` → the decoded JSON, or `ApiError`."""

    def __init__(self, request: Request, caller: Principal) -> None:
        self.request = request
        self.caller = caller
        client = request.client
        self._transport = httpx.ASGITransport(
            app=request.app, client=(client.host if client else "127.0.0.1", 0)
        )

    async def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        credentials = _credentials(self.request, self.caller)  # fresh: streams outlive a token
        headers = {**credentials, **kwargs.pop("headers", {})}
        async with httpx.AsyncClient(
            transport=self._transport, base_url="http://ampflow.inner", timeout=60
        ) as client:
            return await client.request(method, path, headers=headers, **kwargs)

    async def get(self, path: str, **params: Any) -> Any:
        clean = {k: v for k, v in params.items() if v not in (None, "")}
        response = await self.call("GET", path, params=clean)
        if response.status_code >= 400:
            raise ApiError(response.status_code, message_of(response))
        return response.json()

    async def maybe(self, path: str, default: Any = None, **params: Any) -> Any:
        """Like `get`, but a refusal (role, not found) gives `default`."""
        try:
            return await self.get(path, **params)
        except ApiError:
            return default
