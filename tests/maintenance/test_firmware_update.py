"""The firmware repository and the `FirmwareUpdate` workflow with a virtual 1.6J charger."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest

from ampflow.seed import DEMO_STATION
from gateway import events
from store.tables import ChargingSession
from tests.helpers import eventually
from tests.maintenance.conftest import finished_job, received


def image_of(version: str) -> bytes:
    """A firmware image that installs `version` (its first line says so, see chargers/)."""
    return f"AMPFLOW-FIRMWARE {version}\n".encode() + b"\x7fELF " + bytes(range(256)) * 64


IMAGE = image_of("2.0")
FAST = {
    "install_timeout_s": 10,
    "boot_timeout_s": 10,
    "send_attempts": 2,
    "send_retry_delay_s": 0.2,
    "command_timeout_s": 5,
}


async def upload(api, content: bytes = IMAGE, **params) -> dict:
    query = {"version": "2.0", "vendor": "Acme", "model": "X1", **params}
    response = await api.post("/firmware", params=query, content=content)
    assert response.status_code == 201, response.text
    return response.json()


async def update(api, firmware_id: int, **policy) -> str:
    body = {"firmware_id": firmware_id, "policy": {**FAST, **policy}}
    response = await api.post(f"/stations/{DEMO_STATION}/firmware-update", json=body)
    assert response.status_code == 202, response.text
    return response.json()["workflow_id"]


def charging_session(db, station_id: str = DEMO_STATION) -> str:
    now = datetime.now(UTC)
    session_id = f"session-{station_id}-999"
    with db.session() as s:
        s.add(
            ChargingSession(
                id=session_id,
                station_id=station_id,
                transaction_id="999",
                state="Charging",
                started_at=now,
                stopped_at=None,
                created_at=now,
                updated_at=now,
            )
        )
    return session_id


# ---- the repository ----------------------------------------------------------------------


async def test_repository_computes_and_verifies_checksums(seeded, api, anonymous):
    digest = hashlib.sha256(IMAGE).hexdigest()
    image = await upload(api, sha256=digest, signature="c2ln", signing_certificate="-----PEM")
    assert image["sha256"] == digest and image["size"] == len(IMAGE)
    assert image["uploaded_by"] == "admin"
    assert image["download_url"].startswith(f"{api.base_url}/firmware/files/")

    mismatch = await api.post(
        "/firmware", params={"version": "2.1", "sha256": "0" * 64}, content=IMAGE
    )
    assert mismatch.status_code == 422 and digest in mismatch.json()["detail"]
    duplicate = await api.post(
        "/firmware", params={"version": "2.0", "vendor": "Acme", "model": "X1"}, content=IMAGE
    )
    assert duplicate.status_code == 409

    multipart = await api.post(
        "/firmware",
        files={"file": ("fw-3.0.bin", b"three", "application/octet-stream")},
        data={"version": "3.0", "vendor": "Acme", "notes": "multipart"},
    )
    assert multipart.status_code == 201, multipart.text
    assert multipart.json()["file_name"] == "fw-3.0.bin"
    assert multipart.json()["notes"] == "multipart"

    listed = await api.get("/firmware", params={"vendor": "Acme"})
    assert [i["version"] for i in listed.json()] == ["3.0", "2.0"]
    content = await api.get(f"/firmware/{image['id']}/content")
    assert content.content == IMAGE
    # Chargers fetch it without an API key; the token in the URL is the credential.
    served = await anonymous.get(image["download_url"].removeprefix(str(anonymous.base_url)))
    assert served.status_code == 200 and served.content == IMAGE
    assert (await anonymous.get("/firmware/files/wrong/fw.bin")).status_code == 404
    assert (await anonymous.get(f"/firmware/{image['id']}/content")).status_code == 401


# ---- updates -----------------------------------------------------------------------------


async def test_update_installs_verifies_and_reapplies_configuration(station, api):
    image = await upload(api)
    desired = await api.put(
        f"/stations/{DEMO_STATION}/configuration", json={"values": {"HeartbeatInterval": "120"}}
    )
    assert desired.status_code == 200, desired.text
    assert station.settings.get("HeartbeatInterval") == "120"
    # After the reboot the charger takes the interval of the boot answer (300): forgotten.

    workflow_id = await update(api, image["id"])
    assert workflow_id.startswith(f"firmware-{DEMO_STATION}-")
    job = await finished_job(api, workflow_id)
    assert job["state"] == "succeeded", job
    progress = job["progress"]
    assert [s["status"] for s in progress["statuses"]][:3] == [
        "Downloading",
        "Downloaded",
        "Installing",
    ]
    assert progress["booted_versions"] == ["2.0"]
    assert progress["configuration"] == {"HeartbeatInterval": "Accepted"}
    assert station.settings.get("HeartbeatInterval") == "120"
    assert station.journal.find("download")[-1]["sha256"] == image["sha256"]
    boots = station.journal.find("boot", status="Accepted")
    assert [b["firmware"] for b in boots] == ["1.0", "2.0"]
    last = station.journal.find("command")[-1]
    assert (last["action"], last["payload"]) == (
        "ChangeConfiguration",
        {"key": "HeartbeatInterval", "value": "120"},
    )
    [sent] = received(station, "UpdateFirmware")
    assert sent["location"] == image["download_url"]
    # Chargers fetch the image without an API key: the token in the URL is the credential.
    assert station.journal.find("download")[-1]["http"] == 200

    jobs = await api.get("/maintenance/jobs", params={"station_id": DEMO_STATION})
    assert [(j["workflow_id"], j["state"]) for j in jobs.json()] == [(workflow_id, "succeeded")]


@pytest.mark.parametrize(
    "switch, statuses, reason",
    [
        ("download_fails", ["Downloading", "DownloadFailed"], "station reported DownloadFailed"),
        (
            "install_fails",
            ["Downloading", "Downloaded", "Installing", "InstallationFailed"],
            "station reported InstallationFailed",
        ),
    ],
)
async def test_failure_status_fails_the_update(station, api, switch, statuses, reason):
    setattr(station.config.behaviour, switch, True)
    job = await finished_job(api, await update(api, (await upload(api))["id"]))
    assert [e["status"] for e in station.journal.find("firmware_status")] == statuses
    assert job["state"] == "failed"
    assert job["reason"] == reason
    assert job["temporal_status"] == "Failed"


@pytest.mark.parametrize("status", ["InvalidSignature", "InstallVerificationFailed"])
async def test_signed_firmware_failures_fail_the_update(station, api, gateway, status):
    """2.0.1 (and signed 1.6) statuses, published as the 2.0.1 adapter does."""
    station.config.behaviour.download_stalls = True  # Downloading, then nothing
    workflow_id = await update(api, (await upload(api))["id"])

    async def downloading() -> bool:
        job = (await api.get(f"/maintenance/jobs/{workflow_id}")).json()
        return job["progress"].get("state") == "downloading"

    await eventually(downloading)
    await gateway.services.events.publish(
        events.FirmwareStatus(DEMO_STATION, datetime.now(UTC), status, None)
    )
    job = await finished_job(api, workflow_id)
    assert job["reason"] == f"station reported {status}"


async def test_silent_installation_times_out(station, api):
    station.config.behaviour.download_stalls = True
    job = await finished_job(
        api, await update(api, (await upload(api))["id"], install_timeout_s=1.5)
    )
    assert job["state"] == "failed"
    assert job["reason"] == "timed out waiting for the installation (last status: Downloading)"


async def test_missing_reboot_times_out(station, api):
    station.config.behaviour.install_stalls = True  # Downloading, Downloaded, Installing
    job = await finished_job(api, await update(api, (await upload(api))["id"], boot_timeout_s=1.5))
    assert job["reason"] == (
        "timed out waiting for the reboot into the new firmware (last status: Installing)"
    )


@pytest.mark.parametrize(
    "report_installing",
    [True, False],  # False: no Installing; Installed only after the boot
)
async def test_reboot_into_the_wrong_version_fails(station, api, report_installing):
    station.config.behaviour.report_installing = report_installing
    image = await upload(api, content=image_of("1.9"))  # published as 2.0, builds 1.9
    job = await finished_job(api, await update(api, image["id"]))
    statuses = [e["status"] for e in station.journal.find("firmware_status")]
    assert ("Installing" in statuses) == report_installing
    assert statuses[-1] == "Installed"
    assert job["state"] == "failed"
    assert job["reason"] == "rebooted into 1.9, expected 2.0"
    assert job["progress"]["booted_versions"] == ["1.9"]


async def test_refuses_or_waits_while_a_session_is_charging(station, api, db):
    image = await upload(api)
    session_id = charging_session(db)
    refused = await finished_job(api, await update(api, image["id"]))
    assert refused["reason"] == (
        f"refused: session {session_id} is charging; set policy wait_while_charging to "
        "wait for it to end (up to busy_timeout_s), or force to install anyway"
    )
    assert not received(station, "UpdateFirmware")

    waited = await finished_job(
        api,
        await update(api, image["id"], wait_while_charging=True, busy_timeout_s=1, busy_poll_s=0.3),
    )
    assert waited["reason"] == f"session {session_id} still charging after 1s"

    forced = await finished_job(api, await update(api, image["id"], force=True))
    assert forced["state"] == "succeeded", forced


async def test_offline_station_and_wrong_model(seeded, worker, gateway, api, db):
    image = await upload(api, model="X2")
    wrong = await api.post(
        f"/stations/{DEMO_STATION}/firmware-update", json={"firmware_id": image["id"]}
    )
    assert wrong.status_code == 422  # the station has no model yet: X2 does not fit
    job = await finished_job(api, await update(api, image["id"], force=True))
    assert job["reason"].startswith("UpdateFirmware not delivered: offline")
    assert job["progress"]["send_attempts"] == 2
