"""The `Diagnostics` workflow with a virtual 1.6J charger: upload, failures, retries, timeout."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from ampflow.seed import DEMO_STATION
from chargers import Charger
from chargers.script import iso
from tests.maintenance.conftest import finished_job, received

FAST = {"upload_timeout_s": 5, "retry_delay_s": 0.2, "attempts": 1}


async def request(api, **body) -> str:
    response = await api.post(f"/stations/{DEMO_STATION}/diagnostics", json={**FAST, **body})
    assert response.status_code == 202, response.text
    return response.json()["workflow_id"]


def answers_without_uploading(charger: Charger, after: int = 0) -> None:
    """From the `after`+1-th GetDiagnostics on, answer with a file name and never upload."""
    asked = 0

    def answer(payload: dict):
        nonlocal asked
        asked += 1
        if asked <= after:
            return charger.protocol.get_diagnostics(payload)
        return {"fileName": "diagnostics.zip"}

    charger.answer_with("GetDiagnostics", answer)


@pytest.mark.parametrize(
    "method, name_in", [("put", "none"), ("put", "header"), ("put", "path"), ("post", "header")]
)
async def test_uploaded_file_is_stored_and_downloadable(station, api, method, name_in):
    station.config.behaviour.upload_method = method
    station.config.behaviour.upload_name = name_in
    now = datetime.now(UTC)
    oldest, latest = iso(now - timedelta(hours=1)), iso(now + timedelta(hours=1))
    workflow_id = await request(api, oldest=oldest, latest=latest)
    assert workflow_id.startswith(f"diagnostics-{DEMO_STATION}-")

    job = await finished_job(api, workflow_id)
    assert job["state"] == "succeeded", job
    assert job["requested_by"] == "admin"
    progress = job["progress"]
    assert [s["status"] for s in progress["statuses"]] == ["Uploading", "Uploaded"]
    [uploaded] = station.journal.find("upload")
    assert uploaded["method"] == method.upper()
    assert progress["file"]["size"] == uploaded["bytes"]
    assert progress["file"]["sha256"] == uploaded["sha256"]
    station_name = station.journal.find("answer", action="GetDiagnostics")[0]["payload"]["fileName"]
    assert uploaded["file"] == station_name
    named = name_in != "none"  # a bare PUT names no file: the name is made up
    assert progress["file"]["file_name"] == (station_name if named else "DEMO-1-diagnostics-1")
    assert progress["station_file_name"] == station_name

    [sent] = received(station, "GetDiagnostics")
    assert sent["startTime"] == oldest and sent["stopTime"] == latest
    assert sent["location"].startswith(f"{api.base_url}/uploads/")

    download = await api.get(f"/maintenance/jobs/{workflow_id}/file")
    assert download.status_code == 200
    assert hashlib.sha256(download.content).hexdigest() == uploaded["sha256"]
    assert b'"ev":"boot"' in download.content  # the charger's own journal lines of the window
    assert progress["file"]["file_name"] in download.headers["content-disposition"]


async def test_upload_url_is_single_use_and_size_limited(station, api, settings):
    workflow_id = await request(api)
    await finished_job(api, workflow_id)
    location = received(station, "GetDiagnostics")[0]["location"]
    again = await api.put(location.removeprefix(str(api.base_url)), content=b"twice")
    assert again.status_code == 410
    unknown = await api.put("/uploads/not-a-token", content=b"x")
    assert unknown.status_code == 404

    settings.diagnostics_max_bytes = 100
    answers_without_uploading(station, after=1)  # uploads once more, then goes quiet
    workflow_id = await request(api, attempts=2)
    job = await finished_job(api, workflow_id)
    assert station.journal.find("upload")[-1]["http"] == 413
    assert job["state"] == "failed"
    assert job["reason"] == "no upload within 5s (last status: none)"
    assert job["progress"]["attempt"] == 2


async def test_upload_failure_is_retried_with_a_new_url(station, api):
    station.config.behaviour.upload_failures = 1
    workflow_id = await request(api, attempts=2)
    job = await finished_job(api, workflow_id)
    assert job["state"] == "succeeded", job
    first, second = (params["location"] for params in received(station, "GetDiagnostics"))
    assert first != second
    statuses = [s["status"] for s in job["progress"]["statuses"]]
    assert statuses == ["Uploading", "UploadFailed", "Uploading", "Uploaded"]


async def test_upload_failure_fails_the_job_when_attempts_run_out(station, api):
    station.config.behaviour.upload_fails = True
    job = await finished_job(api, await request(api))
    assert job["state"] == "failed"
    assert job["reason"] == "station reported UploadFailed"
    assert job["temporal_status"] == "Failed"


async def test_stuck_upload_times_out(station, api):
    station.config.behaviour.upload_stalls = True  # Uploading, then nothing
    job = await finished_job(api, await request(api, upload_timeout_s=2))
    assert job["state"] == "failed"
    assert job["reason"] == "no upload within 2s (last status: Uploading)"


async def test_station_without_diagnostics(station, api):
    station.answer_with("GetDiagnostics", lambda payload: {})  # no file for this period
    job = await finished_job(api, await request(api))
    assert job["state"] == "failed"
    assert job["reason"] == "station has no diagnostics for this period"


async def test_offline_station_fails_after_its_attempts(seeded, worker, gateway, api):
    job = await finished_job(api, await request(api, attempts=2))
    assert job["state"] == "failed"
    assert job["reason"].startswith("request not delivered: offline")
    assert job["progress"]["attempt"] == 2


async def test_one_diagnostics_job_per_station_at_a_time(station, api):
    answers_without_uploading(station)
    first = await request(api, upload_timeout_s=3)
    second = await api.post(f"/stations/{DEMO_STATION}/diagnostics", json=FAST)
    assert second.status_code == 409 and first in second.json()["detail"]
    cancel = await api.post(f"/maintenance/jobs/{first}/cancel")
    assert cancel.status_code == 202
    job = await finished_job(api, first)
    assert job["state"] == "cancelled"


async def test_charger_uploads_without_an_api_key(station, api):
    """Chargers have no API key: the one-time URL is their credential (the virtual charger
    uploads with its own HTTP client, which sends none)."""
    job = await finished_job(api, await request(api))
    assert job["state"] == "succeeded", (job, station.journal.find("upload"))
    assert station.journal.find("upload")[-1]["ok"]
