"""ASGI guards in front of every route: request body limits and NUL characters.

`BodyLimits` gives every request a byte budget chosen by its path (smallest for the
unauthenticated routes) and counts the body as it streams in — with or without a
`Content-Length` — answering 413 as soon as the budget is exceeded, so nothing larger is ever
buffered. It reuses Starlette's body-limit responder, which FastAPI's body parsing recognises.

`NulGuard` answers 422 to a NUL character in the path, the query string or a JSON body:
PostgreSQL text cannot hold it and no identifier of ours contains one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from starlette.middleware.body_limit import RequestBodyLimitResponder
from starlette.types import ASGIApp, Message, Receive, Scope, Send

KIB = 1024
MIB = 1024 * KIB
MULTIPART_SLACK = MIB  # headers and boundaries around an uploaded file


@dataclass(frozen=True, slots=True)
class Limit:
    """`max_bytes` for requests whose path starts with `prefix` (and method, if given)."""

    prefix: str
    max_bytes: int
    method: str | None = None


def default_limits(firmware_max_bytes: int, diagnostics_max_bytes: int) -> list[Limit]:
    """The table of limits, first match wins; anything else gets 1 MiB."""
    return [
        Limit("/auth/", 16 * KIB),  # unauthenticated: credentials and e-mail addresses
        Limit("/webhooks/", 256 * KIB),  # unauthenticated until the signature is checked
        Limit("/pay/", 16 * KIB),  # guests
        Limit("/uploads/", diagnostics_max_bytes + MULTIPART_SLACK),  # one-time upload URLs
        Limit("/firmware", firmware_max_bytes + MULTIPART_SLACK, method="POST"),
        Limit("/", MIB),
    ]


class BodyLimits:
    """Refuse request bodies over the path's limit with 413, counting streamed bytes."""

    def __init__(self, app: ASGIApp, limits: list[Limit]) -> None:
        self.app = app
        self.limits = limits

    def limit_for(self, method: str, path: str) -> int:
        for limit in self.limits:
            if path.startswith(limit.prefix) and limit.method in (None, method):
                return limit.max_bytes
        return MIB

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["method"], scope["path"])
        await RequestBodyLimitResponder(self.app, limit)(scope, receive, send)


# A JSON `\u0000` escape: preceded by an even number of backslashes (none included).
_JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


def _is_json(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            media = value.split(b";", 1)[0].strip().lower()
            return media == b"application/json" or media.endswith(b"+json")
    return False


class NulGuard:
    """422 for NUL in the path, the query string or a JSON body (bodies are already bounded
    by `BodyLimits`, which runs first)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw_path = scope.get("raw_path") or scope["path"].encode("utf-8", "surrogateescape")
        if b"\x00" in unquote_to_bytes(raw_path) or b"\x00" in unquote_to_bytes(
            scope.get("query_string", b"")
        ):
            await _refuse(send, "the path or query contains a NUL character")
            return
        if not _is_json(scope):
            await self.app(scope, receive, send)
            return
        body, replay = await _buffer(receive)
        if _JSON_NUL.search(body):
            await _refuse(send, "the JSON body contains a NUL character (\\u0000)")
            return
        await self.app(scope, replay, send)


async def _buffer(receive: Receive) -> tuple[bytes, Callable]:
    """Read the whole body; returns it and a `receive` that plays it back."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # disconnect, as the server reports it

    return body, replay


async def _refuse(send: Send, detail: str) -> None:
    payload = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 422,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
