"""Maintenance over OCPP 2.0.1: GetLog with request ids, signed UpdateFirmware, GetBaseReport."""

from __future__ import annotations

import hashlib

import pytest

from ampflow.seed import DEMO_STATION
from chargers import Behaviour, Charger
from tests.helpers import eventually
from tests.maintenance.conftest import finished_job, received
from tests.maintenance.test_firmware_update import FAST, image_of

BASE = f"/stations/{DEMO_STATION}"


@pytest.fixture
async def station201(seeded, worker, make_charger, api) -> Charger:
    """DEMO-1 as a virtual 2.0.1 charger (firmware 1.0); it takes any signature as valid (the
    test images carry a made-up one)."""
    behaviour = Behaviour(reconnect_min_s=0.2, reconnect_max_s=1, signature="accept")
    return await make_charger(DEMO_STATION, version="2.0.1", connectors=2, behaviour=behaviour)


async def test_security_log_through_get_log(station201, api):
    def with_a_stale_notification(payload: dict):
        answer, upload = station201.protocol.get_log(payload)

        async def stale_then_upload() -> None:
            # A stale notification of another request must not disturb the job.
            notice = {"status": "UploadFailure", "requestId": 1}
            await station201.send("LogStatusNotification", notice)
            await upload

        return answer, stale_then_upload()

    station201.answer_with("GetLog", with_a_stale_notification)
    started = await api.post(
        f"{BASE}/diagnostics",
        json={"log_type": "SecurityLog", "attempts": 1, "oldest": "2026-01-01T00:00:00Z"},
    )
    assert started.status_code == 202, started.text
    job = await finished_job(api, started.json()["workflow_id"])
    assert job["state"] == "succeeded", job
    [sent] = received(station201, "GetLog")
    assert sent["logType"] == "SecurityLog" and sent["requestId"] != 1
    assert sent["requestId"] == job["progress"]["request_id"]
    # The stale UploadFailure of request 1 was ignored.
    assert [s["status"] for s in job["progress"]["statuses"]] == ["Uploading", "Uploaded"]
    file = await api.get(f"/maintenance/jobs/{job['workflow_id']}/file")
    [uploaded] = station201.journal.find("upload")
    assert hashlib.sha256(file.content).hexdigest() == uploaded["sha256"]
    answered = station201.journal.find("answer", action="GetLog")[0]["payload"]
    assert job["progress"]["file"]["file_name"] == answered["filename"] == uploaded["file"]


async def _signed_image(api) -> dict:
    response = await api.post(
        "/firmware",
        params={
            "version": "3.0",
            "vendor": "Ampflow",
            "signature": "c2lnbmF0dXJl",
            "signing_certificate": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
        },
        content=image_of("3.0"),
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
    assert station201.settings.get("OCPPCommCtrlr/HeartbeatInterval") == "120"
    # After the reboot the charger takes the interval of the boot answer (300): forgotten.

    image = await _signed_image(api)
    job = await _update(api, image)
    assert job["state"] == "succeeded", job
    assert job["progress"]["configuration"] == {key: "Accepted"}
    assert station201.settings.get("OCPPCommCtrlr/HeartbeatInterval") == "120"
    [sent] = received(station201, "UpdateFirmware")
    firmware = sent["firmware"]
    assert firmware["location"] == image["download_url"]
    assert firmware["signature"] == "c2lnbmF0dXJl"
    assert firmware["signingCertificate"].startswith("-----BEGIN CERTIFICATE-----")
    assert sent["requestId"] == job["progress"]["request_id"]
    statuses = [s["status"] for s in job["progress"]["statuses"]]
    assert statuses[:5] == [
        "Downloading",
        "Downloaded",
        "SignatureVerified",
        "Installing",
        "InstallRebooting",
    ]
    assert job["progress"]["booted_versions"] == ["3.0"]
    assert station201.state.firmware_version == "3.0"


@pytest.mark.parametrize(
    "switch, value, status",
    [
        ("signature", "reject", "InvalidSignature"),
        ("install_verification_fails", True, "InstallVerificationFailed"),
    ],
)
async def test_signed_firmware_failures(station201, api, switch, value, status):
    setattr(station201.config.behaviour, switch, value)
    job = await _update(api, await _signed_image(api))
    statuses = [e["status"] for e in station201.journal.find("firmware_status")]
    assert statuses[-1] == status
    assert job["reason"] == f"station reported {status}"


async def test_refused_certificate(station201, api):
    station201.answer_with("UpdateFirmware", lambda payload: {"status": "InvalidCertificate"})
    job = await _update(api, await _signed_image(api))
    assert job["reason"] == "station answered UpdateFirmware with InvalidCertificate"


async def test_get_base_report_is_requested(station201, api):
    response = await api.post(
        f"{BASE}/device-model/refresh", json={"report_base": "SummaryInventory"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "Accepted"
    [sent] = received(station201, "GetBaseReport")
    assert sent["reportBase"] == "SummaryInventory"
    # The charger answers with NotifyReport; stored once the 2.0.1 handler publishes it.

    async def stored() -> list:
        entries = (await api.get(f"{BASE}/device-model")).json()
        return [(e["component_key"], e["variable_key"]) for e in entries]

    keys = await eventually(stored, timeout=10)
    assert ("ChargingStation", "AvailabilityState") in keys
