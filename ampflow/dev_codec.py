"""`ampflow dev` only: the codec endpoint the dev server's Web UI calls.

The dev UI has no sign-in, so it cannot send an operator's credentials, and the dev server
cannot be told to add any (`--ui-codec-endpoint` is its only codec flag). This relay, bound to
127.0.0.1 on its own port, accepts `POST /decode` and `POST /encode` from the dev UI's origin
only (CORS, and the `Origin` header checked) and forwards them to the API's `/codec/*` with the
dev operator key added here, on the server side: the key never reaches the browser, the API
keeps its one authenticated, audited path, and no production process trusts an origin.
Why this is acceptable for dev and not for production: docs/security.md.
"""

from __future__ import annotations

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from api.routes.codec import BODY_LIMIT, ui_origins
from runtime.settings import Settings


def relay_app(api_url: str, admin_key: str, origins: list[str]) -> Starlette:
    """Forward the dev UI's codec calls to `api_url`/codec/* with the operator key."""

    async def forward(request: Request) -> Response:
        if request.headers.get("origin") not in origins:
            return JSONResponse({"detail": "only the dev Temporal UI may use this"}, 403)
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > BODY_LIMIT.max_bytes:
                return JSONResponse({"detail": "request body too large"}, 413)
        headers = {"X-API-Key": admin_key, "Content-Type": "application/json"}
        if namespace := request.headers.get("x-namespace"):
            headers["X-Namespace"] = namespace
        operation = request.path_params["operation"]
        if operation not in ("decode", "encode"):
            return JSONResponse({"detail": "not found"}, 404)
        async with httpx.AsyncClient(timeout=30) as client:
            url = f"{api_url}/codec/{operation}"
            answer = await client.post(url, content=body, headers=headers)
        return Response(answer.content, answer.status_code, media_type="application/json")

    return Starlette(
        routes=[Route("/{operation:str}", forward, methods=["POST"])],
        middleware=[
            Middleware(
                CORSMiddleware,
                allow_origins=origins,
                allow_methods=["POST"],
                allow_headers=["Content-Type", "X-Namespace"],
                max_age=600,
            )
        ],
    )


def relay_server(settings: Settings, port: int) -> uvicorn.Server:
    """The relay on 127.0.0.1:`port` for the API of `settings` (set `should_exit` to stop)."""
    assert settings.admin_api_key, "ampflow dev sets the operator key first"
    host = "127.0.0.1" if settings.api_host in ("0.0.0.0", "::") else settings.api_host
    api_url = f"http://{host}:{settings.api_port}"
    app = relay_app(api_url, settings.admin_api_key, ui_origins(settings))
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    return uvicorn.Server(config)
