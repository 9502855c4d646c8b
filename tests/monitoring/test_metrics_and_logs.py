"""Prometheus metrics of the API and the gateway; JSON logs with station and session ids."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
import websockets
from prometheus_client.parser import text_string_to_metric_families

from ampflow.devstack import free_port
from ampflow.logging_json import JsonFormatter, bind_station
from ampflow.seed import DEMO_STATION
from chargers import basic_auth_header
from chargers.script import scripted
from gateway.server import Gateway
from tests.conftest import DEMO_PASSWORD


def samples(text: str, name: str) -> dict[tuple, float]:
    """{sorted label items: value} of one metric's samples."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


async def test_api_metrics_count_requests_by_route(seeded, api):
    await api.get("/fleet")
    await api.get("/alerts/999999")
    response = await api.get("/metrics")
    assert response.status_code == 200
    counts = samples(response.text, "ampflow_api_requests_total")
    fleet = (("method", "GET"), ("route", "/fleet"), ("status", "200"))
    missing = (("method", "GET"), ("route", "/alerts/{alert_id}"), ("status", "404"))
    assert counts[fleet] >= 1 and counts[missing] >= 1
    latency = samples(response.text, "ampflow_api_request_seconds_count")
    assert latency[(("method", "GET"), ("route", "/fleet"))] >= 1


async def test_gateway_metrics_on_their_own_port(seeded, settings, temporal_client, database_url):
    settings.gateway_metrics_port = free_port()
    gw = Gateway(settings, temporal_client, database_url, settings.task_queue)
    await gw.start(host="127.0.0.1", port=0)
    url = f"ws://127.0.0.1:{gw.port}/ocpp"
    try:
        with pytest.raises(websockets.InvalidStatus):
            await websockets.connect(
                f"{url}/{DEMO_STATION}",
                subprotocols=["ocpp1.6"],
                additional_headers=basic_auth_header(DEMO_STATION, "wrong"),
            )
        async with scripted(url, DEMO_STATION, DEMO_PASSWORD) as charger:
            await charger.status("Available")
            async with httpx.AsyncClient() as http:
                scraped = await http.get(f"http://127.0.0.1:{settings.gateway_metrics_port}/")
    finally:
        await gw.stop()
    text = scraped.text
    assert samples(text, "ampflow_gateway_connections") == {(): 1.0}
    messages = samples(text, "ampflow_gateway_messages_total")
    assert messages[(("action", "BootNotification"), ("result", "ok"))] >= 1
    assert messages[(("action", "StatusNotification"), ("result", "ok"))] >= 1
    calls = samples(text, "ampflow_gateway_call_seconds_count")
    assert calls[(("action", "BootNotification"),)] >= 1
    assert samples(text, "ampflow_gateway_handshakes_rejected_total")[(("status", "401"),)] >= 1


def _record(name: str, msg: str, *args, **extra) -> logging.LogRecord:
    record = logging.LogRecord(name, logging.INFO, __file__, 1, msg, args, None)
    record.__dict__.update(extra)
    return record


def test_json_log_lines_carry_station_and_session_ids():
    formatter = JsonFormatter()
    line = json.loads(formatter.format(_record("gateway.connection", "%s connected", "ST-9")))
    assert line["station_id"] == "ST-9" and line["msg"] == "ST-9 connected"
    assert line["level"] == "INFO" and line["logger"] == "gateway.connection"

    explicit = _record("api", "stop", station_id="ST-1", session_id="session-ST-1-4")
    line = json.loads(formatter.format(explicit))
    assert (line["station_id"], line["session_id"]) == ("ST-1", "session-ST-1-4")

    temporal = _record(
        "temporalio.activity", "authorize", temporal_activity={"workflow_id": "session-X-7"}
    )
    assert json.loads(formatter.format(temporal))["session_id"] == "session-X-7"

    bind_station("ST-CTX")
    try:
        assert json.loads(formatter.format(_record("api", "hello")))["station_id"] == "ST-CTX"
    finally:
        bind_station(None)
    assert "station_id" not in json.loads(formatter.format(_record("api", "hello")))
