"""Maintenance over OCPP 2.0.1: GetLog with request ids, signed UpdateFirmware, GetBaseReport."""

from __future__ import annotations

import pytest

from ampflow.seed import DEMO_STATION
from tests.conftest import DEMO_PASSWORD
from tests.helpers import eventually
from tests.maintenance.conftest import finished_job
from tests.maintenance.station_v201 import maintenance_station_201
from tests.maintenance.test_firmware_update import FAST, IMAGE

BASE = f"/stations/{DEMO_STATION}"


@pytest.fixture
async def station201(seeded, worker, gateway_url, api):
    async with maintenance_station_201(gateway_url, DEMO_STATION, DEMO_PASSWORD, api) as s:
        yield s


async def test_security_log_through_get_log(station201, api):
    started = await api.post(
        f"{BASE}/diagnostics",
        json={"log_type": "SecurityLog", "attempts": 1, "oldest": "2026-01-01T00:00:00Z"},
    )
    assert started.status_code == 202, started.text
    job = await finished_job(api, started.json()["workflow_id"])
    assert job["state"] == "succeeded", job
    name, sent = station201.received[-1]
    assert name == "GetLog" and sent["log_type"] == "SecurityLog"
    assert sent["request_id"] == job["progress"]["request_id"]
    # The stale UploadFailure of request 1 was ignored.
    assert [s["status"] for s in job["progress"]["statuses"]] == ["Uploading", "Uploaded"]
    file = await api.get(f"/maintenance/jobs/{job['workflow_id']}/file")
    assert file.content == station201.log_content
    assert job["progress"]["file"]["file_name"] == "security.log"


async def _signed_image(api) -> dict:
    response = await api.post(
        "/firmware",
        params={
            "version": "sim-3.0",
            "vendor": "Ampflow",
            "signature": "c2lnbmF0dXJl",
            "signing_certificate": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
        },
        content=IMAGE,
    )
    assert response.status_code == 201, response.text
    return response.json()


async def _update(api, image: dict) -> dict:
    body = {"firmware_id": image["id"], "policy": FAST}
    started = await api.post(f"{BASE}/firmware-update", json=body)
    assert started.status_code == 202, started.text
    return await finished_job(api, started.json()["workflow_id"])


async def test_signed_firmware_update(station201, api):
    key = "OCPPCommCtrlr.HeartbeatInterval"  # 2.0.1 desired configuration: Component.Variable
    desired = await api.put(f"{BASE}/configuration", json={"values": {key: "120"}})
    assert desired.json()["results"][key]["outcome"] == "ok", desired.text
    station201.model.variables[("OCPPCommCtrlr", "HeartbeatInterval")][0] = "300"  # forgotten

    image = await _signed_image(api)
    job = await _update(api, image)
    assert job["state"] == "succeeded", job
    assert job["progress"]["configuration"] == {key: "Accepted"}
    assert station201.model.variables[("OCPPCommCtrlr", "HeartbeatInterval")][0] == "120"
    name, sent = next(r for r in station201.received if r[0] == "UpdateFirmware")
    firmware = sent["firmware"]
    assert firmware["location"] == image["download_url"]
    assert firmware["signature"] == "c2lnbmF0dXJl"
    assert firmware["signing_certificate"].startswith("-----BEGIN CERTIFICATE-----")
    assert sent["request_id"] == job["progress"]["request_id"]
    statuses = [s["status"] for s in job["progress"]["statuses"]]
    assert statuses[:5] == [
        "Downloading",
        "Downloaded",
        "SignatureVerified",
        "Installing",
        "InstallRebooting",
    ]
    assert job["progress"]["booted_versions"] == ["sim-3.0"]


@pytest.mark.parametrize("status", ["InvalidSignature", "InstallVerificationFailed"])
async def test_signed_firmware_failures(station201, api, status):
    station201.firmware_script = ["Downloading", "Downloaded", status]
    job = await _update(api, await _signed_image(api))
    assert job["reason"] == f"station reported {status}"


async def test_refused_certificate(station201, api):
    station201.update_answer = "InvalidCertificate"
    job = await _update(api, await _signed_image(api))
    assert job["reason"] == "station answered UpdateFirmware with InvalidCertificate"


async def test_get_base_report_is_requested(station201, api):
    response = await api.post(
        f"{BASE}/device-model/refresh", json={"report_base": "SummaryInventory"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "Accepted"
    name, sent = station201.received[-1]
    assert name == "GetBaseReport" and sent["report_base"] == "SummaryInventory"
    # Stored once the 2.0.1 NotifyReport handler publishes DeviceModelReport events.
    await station201.report(
        sent["request_id"],
        [
            {
                "component": {"name": "OCPPCommCtrlr"},
                "variable": {"name": "HeartbeatInterval"},
                "variable_attribute": [{"value": "300"}],
            }
        ],
    )

    async def stored() -> bool:
        return bool((await api.get(f"{BASE}/device-model")).json())

    await eventually(stored, timeout=10)
