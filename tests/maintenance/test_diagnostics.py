"""The `Diagnostics` workflow with a simulated 1.6J station: upload, failures, retries, timeout."""

from __future__ import annotations

import hashlib

import pytest

from ampflow.seed import DEMO_STATION
from tests.maintenance.conftest import finished_job

FAST = {"upload_timeout_s": 5, "retry_delay_s": 0.2, "attempts": 1}


async def request(api, **body) -> str:
    response = await api.post(f"/stations/{DEMO_STATION}/diagnostics", json={**FAST, **body})
    assert response.status_code == 202, response.text
    return response.json()["workflow_id"]


@pytest.mark.parametrize("mode", ["put", "put_named", "post"])
async def test_uploaded_file_is_stored_and_downloadable(station, api, mode):
    station.diagnostics_modes = [mode]
    workflow_id = await request(api, oldest="2026-01-01T00:00:00Z", latest="2026-01-02T00:00:00Z")
    assert workflow_id.startswith(f"diagnostics-{DEMO_STATION}-")

    job = await finished_job(api, workflow_id)
    assert job["state"] == "succeeded", job
    assert job["requested_by"] == "admin"
    progress = job["progress"]
    assert [s["status"] for s in progress["statuses"]] == ["Uploading", "Uploaded"]
    content = station.diagnostics_content
    assert progress["file"]["size"] == len(content)
    assert progress["file"]["sha256"] == hashlib.sha256(content).hexdigest()
    named = mode != "put"  # a bare PUT names no file: the name is made up
    assert progress["file"]["file_name"] == "diagnostics.zip" if named else "DEMO-1-diagnostics-1"
    assert progress["station_file_name"] == "diagnostics.zip"

    sent = station.received[0][1]
    assert sent["start_time"] == "2026-01-01T00:00:00Z"
    assert sent["location"].startswith("http://127.0.0.1:8000/uploads/")

    download = await api.get(f"/maintenance/jobs/{workflow_id}/file")
    assert download.status_code == 200
    assert download.content == content
    assert progress["file"]["file_name"] in download.headers["content-disposition"]


async def test_upload_url_is_single_use_and_size_limited(station, api, settings):
    station.diagnostics_modes = ["put"]
    workflow_id = await request(api)
    await finished_job(api, workflow_id)
    location = station.received[0][1]["location"].removeprefix("http://127.0.0.1:8000")
    again = await api.put(location, content=b"twice")
    assert again.status_code == 410
    unknown = await api.put("/uploads/not-a-token", content=b"x")
    assert unknown.status_code == 404

    settings.diagnostics_max_bytes = 100
    station.diagnostics_modes = ["put", "silent"]
    workflow_id = await request(api, attempts=2)
    job = await finished_job(api, workflow_id)
    assert station.upload_responses[-1].status_code == 413
    assert job["state"] == "failed"
    assert job["reason"] == "no upload within 5s (last status: none)"
    assert job["progress"]["attempt"] == 2


async def test_upload_failure_is_retried_with_a_new_url(station, api):
    station.diagnostics_modes = ["fail", "put"]
    workflow_id = await request(api, attempts=2)
    job = await finished_job(api, workflow_id)
    assert job["state"] == "succeeded", job
    first, second = (params["location"] for _, params in station.received)
    assert first != second
    statuses = [s["status"] for s in job["progress"]["statuses"]]
    assert statuses == ["Uploading", "UploadFailed", "Uploading", "Uploaded"]


async def test_upload_failure_fails_the_job_when_attempts_run_out(station, api):
    station.diagnostics_modes = ["fail"]
    job = await finished_job(api, await request(api))
    assert job["state"] == "failed"
    assert job["reason"] == "station reported UploadFailed"
    assert job["temporal_status"] == "Failed"


async def test_stuck_upload_times_out(station, api):
    station.diagnostics_modes = ["stuck"]  # Uploading, then nothing
    job = await finished_job(api, await request(api, upload_timeout_s=2))
    assert job["state"] == "failed"
    assert job["reason"] == "no upload within 2s (last status: Uploading)"


async def test_station_without_diagnostics(station, api):
    station.diagnostics_modes = ["none"]
    job = await finished_job(api, await request(api))
    assert job["state"] == "failed"
    assert job["reason"] == "station has no diagnostics for this period"


async def test_offline_station_fails_after_its_attempts(seeded, worker, gateway, api):
    job = await finished_job(api, await request(api, attempts=2))
    assert job["state"] == "failed"
    assert job["reason"].startswith("request not delivered: offline")
    assert job["progress"]["attempt"] == 2


async def test_one_diagnostics_job_per_station_at_a_time(station, api):
    station.diagnostics_modes = ["silent"]
    first = await request(api, upload_timeout_s=3)
    second = await api.post(f"/stations/{DEMO_STATION}/diagnostics", json=FAST)
    assert second.status_code == 409 and first in second.json()["detail"]
    cancel = await api.post(f"/maintenance/jobs/{first}/cancel")
    assert cancel.status_code == 202
    job = await finished_job(api, first)
    assert job["state"] == "cancelled"


async def test_charger_uploads_without_an_api_key(station, api, anonymous):
    """Chargers have no API key: the one-time URL is their credential."""
    station.http = anonymous
    station.diagnostics_modes = ["put"]
    job = await finished_job(api, await request(api))
    assert job["state"] == "succeeded", (job, station.upload_responses)
