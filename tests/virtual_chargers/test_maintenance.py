"""Firmware updates and diagnostics of virtual chargers, driven through the API end to end:
the CSMS's URLs are real HTTP on 127.0.0.1, the charger downloads and uploads over sockets."""

from __future__ import annotations

import base64
import contextlib
import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.service import RPCError

from domain.maintenance import HealingPolicy, healing_workflow_id
from tests.helpers import eventually
from tests.virtual_chargers.fixtures import finished_job, register

FAST_FIRMWARE = {
    "install_timeout_s": 20,
    "boot_timeout_s": 20,
    "send_attempts": 2,
    "send_retry_delay_s": 0.2,
    "command_timeout_s": 5,
}
FAST_DIAGNOSTICS = {"upload_timeout_s": 20, "retry_delay_s": 0.2, "attempts": 1}
PASSWORD = "vc-station-secret-1"


def image(version: str) -> bytes:
    return f"AMPFLOW-FIRMWARE {version}\n".encode() + bytes(range(256)) * 40


async def upload_image(api, version: str, **extra) -> dict:
    query = {"version": version, "vendor": "Ampflow", "model": "Virtual", **extra}
    response = await api.post("/firmware", params=query, content=image(version))
    assert response.status_code == 201, response.text
    return response.json()


async def start_update(api, station_id: str, firmware_id: int) -> str:
    body = {"firmware_id": firmware_id, "policy": FAST_FIRMWARE}
    response = await api.post(f"/stations/{station_id}/firmware-update", json=body)
    assert response.status_code == 202, response.text
    return response.json()["workflow_id"]


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_firmware_update_boots_the_new_version(
    seeded, worker, live_api, make_charger, version
):
    station_id = "VC-1" if version == "1.6" else "VC-2"
    await register(live_api, station_id, PASSWORD)
    charger = await make_charger(station_id, password=PASSWORD, version=version)
    firmware = await upload_image(live_api, "2.0")

    job = await finished_job(live_api, await start_update(live_api, station_id, firmware["id"]))

    assert job["state"] == "succeeded", job
    assert job["progress"]["booted_versions"] == ["2.0"]
    assert charger.state.firmware_version == "2.0"
    assert charger.accepted_boots == 2
    download = charger.journal.find("download")[-1]
    assert download["ok"] and download["sha256"] == firmware["sha256"]
    statuses = [e["status"] for e in charger.journal.find("firmware_status")]
    expected = ["Downloading", "Downloaded", "Installing", "Installed"]
    if version == "2.0.1":
        expected = ["Downloading", "Downloaded", "Installing", "InstallRebooting", "Installed"]
    assert statuses == expected
    boots = charger.journal.find("boot", status="Accepted")
    assert [b["firmware"] for b in boots] == ["1.0", "2.0"]
    assert boots[-1]["reason"] == "FirmwareUpdate"
    station = (await live_api.get(f"/stations/{station_id}")).json()
    assert station["firmware_version"] == "2.0"


@pytest.mark.parametrize(
    "switch, status, reason_part",
    [
        ("download_fails", "DownloadFailed", "DownloadFailed"),
        ("install_fails", "InstallationFailed", "InstallationFailed"),
    ],
)
async def test_firmware_failures_fail_the_job(
    seeded, worker, live_api, make_charger, switch, status, reason_part
):
    await register(live_api, "VC-1", PASSWORD)
    charger = await make_charger("VC-1", password=PASSWORD)
    setattr(charger.config.behaviour, switch, True)
    firmware = await upload_image(live_api, "2.1")
    job = await finished_job(live_api, await start_update(live_api, "VC-1", firmware["id"]))
    assert job["state"] == "failed"
    assert reason_part in job["reason"]
    assert charger.journal.find("firmware_status")[-1]["status"] == status
    assert charger.state.firmware_version == "1.0" and charger.accepted_boots == 1


def _signed(content: bytes) -> tuple[str, str]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Ampflow firmware signing")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    signature = base64.b64encode(key.sign(content, ec.ECDSA(hashes.SHA256()))).decode()
    return signature, certificate.public_bytes(serialization.Encoding.PEM).decode()


@pytest.mark.parametrize("tampered", [False, True])
async def test_signed_firmware_is_verified_by_a_201_station(
    seeded, worker, live_api, make_charger, tampered
):
    await register(live_api, "VC-2", PASSWORD)
    charger = await make_charger("VC-2", password=PASSWORD, version="2.0.1")
    signature, certificate = _signed(image("3.0") + (b"x" if tampered else b""))
    firmware = await upload_image(
        live_api, "3.0", signature=signature, signing_certificate=certificate
    )
    job = await finished_job(live_api, await start_update(live_api, "VC-2", firmware["id"]))
    statuses = [e["status"] for e in charger.journal.find("firmware_status")]
    if tampered:
        assert job["state"] == "failed", job
        assert statuses == ["Downloading", "Downloaded", "InvalidSignature"]
        assert charger.state.firmware_version == "1.0"
    else:
        assert job["state"] == "succeeded", job
        assert statuses[:3] == ["Downloading", "Downloaded", "SignatureVerified"]
        assert charger.state.firmware_version == "3.0"


@pytest.mark.parametrize("version, method", [("1.6", "put"), ("1.6", "post"), ("2.0.1", "put")])
async def test_diagnostics_job_returns_the_uploaded_file(
    seeded, worker, live_api, make_charger, version, method
):
    station_id = "VC-1" if version == "1.6" else "VC-2"
    await register(live_api, station_id, PASSWORD)
    charger = await make_charger(station_id, password=PASSWORD, version=version)
    charger.config.behaviour.upload_method = method
    response = await live_api.post(f"/stations/{station_id}/diagnostics", json=FAST_DIAGNOSTICS)
    assert response.status_code == 202, response.text
    workflow_id = response.json()["workflow_id"]

    job = await finished_job(live_api, workflow_id)

    assert job["state"] == "succeeded", job
    uploaded = charger.journal.find("upload")[-1]
    assert uploaded["ok"] and uploaded["method"] == method.upper()
    download = await live_api.get(f"/maintenance/jobs/{workflow_id}/file")
    assert download.status_code == 200
    assert hashlib.sha256(download.content).hexdigest() == uploaded["sha256"]
    assert len(download.content) == uploaded["bytes"]
    assert b'"ev":"boot"' in download.content  # the charger's own journal lines
    assert job["progress"]["statuses"][-1]["status"] == "Uploaded"


async def test_failed_upload_fails_the_diagnostics_job(seeded, worker, live_api, make_charger):
    await register(live_api, "VC-1", PASSWORD)
    charger = await make_charger("VC-1", password=PASSWORD)
    charger.config.behaviour.upload_fails = True
    response = await live_api.post("/stations/VC-1/diagnostics", json=FAST_DIAGNOSTICS)
    job = await finished_job(live_api, response.json()["workflow_id"])
    assert job["state"] == "failed"
    assert job["reason"] == "station reported UploadFailed"


@pytest.mark.parametrize(
    "version, clears_on, done",
    [
        ("1.6", "probe", ["probe"]),
        ("1.6", "soft", ["probe", "soft_reset"]),
        ("2.0.1", "hard", ["probe", "soft_reset", "hard_reset"]),
    ],
)
async def test_self_healing_heals_a_faulted_charger(
    seeded, worker, gateway, live_api, make_charger, temporal_client, version, clears_on, done
):
    station_id = f"HEAL-{version}-{clears_on}".replace(".", "")
    await _terminate(temporal_client, healing_workflow_id(station_id))
    gateway.maintenance.policy = HealingPolicy(
        settle_s=1.5, poll_s=0.3, charging_wait_s=0.3, max_charging_waits=2, silent_after_s=900
    )
    await register(live_api, station_id, PASSWORD)
    charger = await make_charger(station_id, password=PASSWORD, version=version)
    await charger.fault(1, "GroundFailure", clears_on={clears_on})

    workflow_id = healing_workflow_id(station_id)

    async def started():
        response = await live_api.get(f"/maintenance/jobs/{workflow_id}")
        return response.status_code == 200

    await eventually(started, timeout=30)
    job = await finished_job(live_api, workflow_id)
    assert job["state"] == "succeeded", job
    assert [s["step"] for s in job["progress"]["steps"]] == done
    assert charger.connectors[1].fault is None
    assert charger.journal.find("recovered")[0].get("by") == clears_on
    await _terminate(temporal_client, workflow_id)


async def _terminate(client, workflow_id: str) -> None:
    with contextlib.suppress(RPCError):
        await client.get_workflow_handle(workflow_id).terminate("test cleanup")


async def test_rollout_over_a_mixed_fleet_with_a_failing_download(
    seeded, worker, live_api, make_charger
):
    names = ["RO-1", "RO-2", "RO-3", "RO-4"]
    chargers = {}
    for n, name in enumerate(names, start=1):
        await register(live_api, name, PASSWORD)
        version = "1.6" if n % 2 else "2.0.1"
        chargers[name] = await make_charger(name, password=PASSWORD, version=version)
    chargers["RO-3"].config.behaviour.download_fails = True
    firmware = await upload_image(live_api, "2.0")
    body = {
        "name": "vc-spring",
        "firmware_id": firmware["id"],
        "targets": {"station_ids": names},
        "policy": FAST_FIRMWARE,
        "max_concurrency": 2,
        "failure_threshold": 1.0,
    }
    response = await live_api.post("/rollouts", json=body)
    assert response.status_code == 202, response.text

    async def finished():
        current = (await live_api.get("/rollouts/vc-spring")).json()
        return current if current["state"] == "completed" and not current["running"] else None

    result = await eventually(finished, timeout=120, interval=0.3)
    assert sorted(result["succeeded"]) == ["RO-1", "RO-2", "RO-4"]
    assert list(result["failed"]) == ["RO-3"]
    for name in ("RO-1", "RO-2", "RO-4"):
        assert chargers[name].state.firmware_version == "2.0"
    assert chargers["RO-3"].state.firmware_version == "1.0"
    assert chargers["RO-3"].journal.find("firmware_status")[-1]["status"] == "DownloadFailed"
