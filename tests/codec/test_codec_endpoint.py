"""The API's codec endpoint (Temporal's codec server protocol): operator-authenticated, decode
for admin and support only, audited, CORS for the Temporal UI's origin only, bounded bodies;
the real `temporal` CLI and the dev UI's relay decode through it."""

from __future__ import annotations

import asyncio
import base64
import json

import httpx
from temporalio.api.common.v1 import Payload

from ampflow.dev_codec import relay_app
from ampflow.devstack import temporal_cli
from api.main import create_app
from runtime.codec import ENCODING, KEY_ID
from tests.access.helpers import api_key
from tests.access.live import serve
from tests.conftest import ADMIN_KEY

SECRET = b'{"id_token":"DEMO-TAG"}'


def as_json(payload: Payload) -> dict:
    return {
        "metadata": {k: base64.b64encode(v).decode() for k, v in payload.metadata.items()},
        "data": base64.b64encode(payload.data).decode(),
    }


def plain_json() -> dict:
    return as_json(Payload(metadata={"encoding": b"json/plain"}, data=SECRET))


async def test_credentials_and_roles(api):
    body = {"payloads": [plain_json()]}
    for path in ("/codec/decode", "/codec/encode"):
        response = await api.post(path, json=body, headers={"X-API-Key": "wrong"})
        assert response.status_code == 401, path
    anonymous_client = httpx.AsyncClient(transport=api._transport, base_url="http://api")
    async with anonymous_client:
        assert (await anonymous_client.post("/codec/decode", json=body)).status_code == 401
    for role in ("technician", "analyst"):  # no personal data for them
        key = await api_key(api, role)
        assert (await api.post("/codec/decode", json=body, headers=key)).status_code == 403
    support = await api_key(api, "support")
    assert (await api.post("/codec/decode", json=body, headers=support)).status_code == 200
    assert (await api.post("/codec/encode", json=body, headers=support)).status_code == 403


async def test_round_trip_with_the_workers_codec_and_audit(api, temporal_client):
    encoded = await api.post("/codec/encode", json={"payloads": [plain_json()]})
    assert encoded.status_code == 200, encoded.text
    [sealed] = encoded.json()["payloads"]
    assert base64.b64decode(sealed["metadata"]["encoding"]) == ENCODING
    assert base64.b64decode(sealed["metadata"][KEY_ID]) == b"test-1"
    assert b"DEMO-TAG" not in base64.b64decode(sealed["data"])

    # What a worker wrote (the client's codec) decodes at the API; plaintext passes through.
    codec = temporal_client.data_converter.payload_codec
    [from_worker] = await codec.encode([Payload(metadata={"encoding": b"json/plain"}, data=SECRET)])
    body = {"payloads": [sealed, as_json(from_worker), plain_json()]}
    decoded = await api.post("/codec/decode", json=body, headers={"X-Namespace": "default"})
    assert decoded.status_code == 200, decoded.text
    assert decoded.json()["payloads"] == [plain_json()] * 3

    entries = (await api.get("/audit", params={"action": "codec.decode"})).json()
    assert [(e["actor"], e["target"], e["detail"]) for e in entries] == [
        ("admin", "default", {"payloads": 3})
    ]
    assert (await api.get("/audit", params={"action": "codec.encode"})).json()


async def test_bad_input_is_refused_without_5xx(api, temporal_client):
    codec = temporal_client.data_converter.payload_codec
    [sealed] = await codec.encode([Payload(metadata={"encoding": b"json/plain"}, data=SECRET)])
    tampered = as_json(Payload(metadata=sealed.metadata, data=sealed.data[:-1] + b"\x01"))
    response = await api.post("/codec/decode", json={"payloads": [tampered]})
    assert response.status_code == 422 and "does not decrypt" in response.text
    other = await api.post("/codec/decode", json={"payloads": []}, headers={"X-Namespace": "x"})
    assert other.status_code == 400
    assert (await api.post("/codec/decode", json={})).json() == {"payloads": []}
    huge = {"payloads": [{"metadata": {}, "data": "A" * (5 * 1024 * 1024)}]}
    assert (await api.post("/codec/decode", json=huge)).status_code == 413


async def test_cors_only_for_the_temporal_ui_origin(api, settings):
    ui = f"http://127.0.0.1:{settings.temporal_ui_port}"
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-namespace",
    }
    allowed = await api.options("/codec/decode", headers={"Origin": ui, **preflight})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == ui
    evil = await api.options("/codec/decode", headers={"Origin": "http://evil.test", **preflight})
    assert evil.status_code == 400
    assert "access-control-allow-origin" not in evil.headers
    elsewhere = await api.options("/sessions", headers={"Origin": ui, **preflight})
    assert "access-control-allow-origin" not in elsewhere.headers  # the rest stays same-origin
    posted = await api.post("/codec/decode", json={"payloads": []}, headers={"Origin": ui})
    assert posted.headers["access-control-allow-origin"] == ui


async def test_temporal_cli_and_dev_ui_relay_decode_through_the_api(
    settings, database_url, temporal_client, temporal_address, db
):
    """The real `temporal` CLI (a codec server client) shows a decoded input; the dev UI's
    relay forwards only the UI origin's calls, adding the operator key server-side."""
    workflow_id = "codec-cli-check"
    await temporal_client.start_workflow(
        "NoSuchWorkflow", {"id_token": "DEMO-TAG"}, id=workflow_id, task_queue=settings.task_queue
    )
    app = create_app(settings, database_url, temporal=temporal_client)
    async with app.router.lifespan_context(app), serve(app) as url:
        command = [temporal_cli(), "workflow", "show", "--address", temporal_address]
        command += ["--workflow-id", workflow_id, "--output", "json"]
        stored = _first_input(await _run(*command))
        assert stored["metadata"]["encoding"] == ENCODING.decode()
        assert b"DEMO-TAG" not in stored["data"]
        command += ["--codec-endpoint", f"{url}/codec", "--codec-header", f"X-API-Key={ADMIN_KEY}"]
        shown = _first_input(await _run(*command))
        assert json.loads(shown["data"]) == {"id_token": "DEMO-TAG"}

        ui = f"http://127.0.0.1:{settings.temporal_ui_port}"
        relay = relay_app(url, ADMIN_KEY, [ui])
        transport = httpx.ASGITransport(app=relay)
        async with httpx.AsyncClient(transport=transport, base_url="http://relay") as client:
            handle = temporal_client.get_workflow_handle(workflow_id)
            started = (await handle.fetch_history()).events[0]
            attrs = started.workflow_execution_started_event_attributes
            body = {"payloads": [as_json(p) for p in attrs.input.payloads]}
            refused = await client.post("/decode", json=body)  # no Origin: not the UI
            assert refused.status_code == 403
            answer = await client.post("/decode", json=body, headers={"Origin": ui})
            assert answer.status_code == 200, answer.text
            [decoded] = answer.json()["payloads"]
            assert json.loads(base64.b64decode(decoded["data"])) == {"id_token": "DEMO-TAG"}
    await handle.terminate()


async def _run(*command: str) -> str:
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    return out.decode()


def _first_input(shown: str) -> dict:
    """The workflow's input payload as `temporal workflow show --output json` prints it."""
    event = json.loads(shown)["events"][0]
    [payload] = event["workflowExecutionStartedEventAttributes"]["input"]["payloads"]
    metadata = {k: base64.b64decode(v).decode() for k, v in payload["metadata"].items()}
    return {"metadata": metadata, "data": base64.b64decode(payload.get("data", ""))}
