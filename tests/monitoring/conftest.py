"""Fixtures of the monitoring tests: short alert thresholds (the root `worker`, `gateway` and
`api` fixtures get them), a local webhook receiver, and a real uvicorn server for SSE."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import uvicorn
from temporalio.client import Client

from api.main import create_app
from runtime.settings import Settings
from store.db import Database
from tests.helpers import eventually

WEBHOOK_SECRET = "whsec-test-monitoring"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    """An HTTP server on 127.0.0.1 that records every POST (answers 204)."""

    url: str = ""
    received: list[Received] = field(default_factory=list)

    def events(self, key: str | None = None) -> list[dict]:
        docs = [r.json() for r in self.received]
        return [d for d in docs if key is None or d["alert"]["key"] == key]


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            receiver.received.append(Received(self.path, dict(self.headers.items()), body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/alerts"
    yield receiver
    server.shutdown()
    server.server_close()


@pytest.fixture
def settings(settings: Settings, webhook: WebhookReceiver) -> Settings:
    """The root settings, with thresholds short enough to fire within a test."""
    return settings.model_copy(
        update={
            "alert_sweep_interval_s": 0.3,
            "alert_offline_after_s": 1,
            "alert_stuck_after_s": 1,
            "alert_auth_failures": 3,
            "alert_auth_window_s": 2,
            "alert_webhook_url": webhook.url,
            "alert_webhook_secret": WEBHOOK_SECRET,
            "healing_enabled": False,
        }
    )


@pytest.fixture
async def api_server(
    settings: Settings, database_url: str, temporal_client: Client, db: Database
) -> AsyncIterator[str]:
    """A real uvicorn server on 127.0.0.1 (the ASGI test transport cannot stream); its URL."""
    app = create_app(settings, database_url, temporal=temporal_client)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    await eventually(lambda: server.started, timeout=15)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await asyncio.wait_for(task, 15)
