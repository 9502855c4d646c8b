"""Friendly remote operations (thin wrappers over StationCommand), the device model, job lists."""

from __future__ import annotations

from datetime import UTC, datetime

from ampflow.seed import DEMO_STATION, DEMO_TAG
from gateway.device_model_listener import DeviceModelReport
from tests.helpers import eventually
from tests.maintenance.conftest import finished_job, received

BASE = f"/stations/{DEMO_STATION}"


async def test_reset_unlock_and_availability_are_recorded(station, api):
    reset = await api.post(f"{BASE}/reset", json={"type": "Hard"})
    assert reset.status_code == 200, reset.text
    assert reset.json()["outcome"] == "ok" and reset.json()["status"] == "Accepted"
    await station.wait_booted(2)  # the charger rebooted
    unlock = await api.post(f"{BASE}/unlock", json={"connector_id": 2})
    assert unlock.json()["status"] == "Unlocked"
    await station.sessions.start_local(DEMO_TAG, connector=1)  # a session is running: later
    availability = await api.post(f"{BASE}/availability", json={"operative": False})
    assert availability.json()["status"] == "Scheduled"
    assert [p["type"] for p in received(station, "ChangeAvailability")] == ["Inoperative"]

    history = (await api.get(f"{BASE}/commands")).json()
    assert [c["name"] for c in history] == ["change_availability", "unlock_connector", "reset"]
    assert {c["requested_by"] for c in history} == {"admin"}

    offline = await api.post("/stations/NOPE/reset", json={})
    assert offline.status_code == 404


async def test_configuration_read_change_and_remember(station, api):
    assert station.settings.get("MeterValueSampleInterval") == "60"
    assert station.settings.table["ChargeProfileMaxStackLevel"].readonly

    changed = await api.put(
        f"{BASE}/configuration",
        json={"values": {"MeterValueSampleInterval": "30", "ChargeProfileMaxStackLevel": "9"}},
    )
    assert changed.status_code == 200, changed.text
    results = changed.json()["results"]
    assert results["MeterValueSampleInterval"]["status"] == "Accepted"
    assert results["ChargeProfileMaxStackLevel"]["status"] == "Rejected"
    assert changed.json()["desired"] == {
        "ChargeProfileMaxStackLevel": "9",
        "MeterValueSampleInterval": "30",
    }

    read = await api.get(f"{BASE}/configuration", params={"keys": ["MeterValueSampleInterval"]})
    assert read.status_code == 200, read.text
    assert read.json()["configuration"] == [
        {"key": "MeterValueSampleInterval", "readonly": False, "value": "30"}
    ]
    assert read.json()["desired"]["MeterValueSampleInterval"] == "30"

    once = await api.put(
        f"{BASE}/configuration", json={"values": {"HeartbeatInterval": "60"}, "remember": False}
    )
    assert "HeartbeatInterval" not in once.json()["desired"]


async def test_device_model_from_16_configuration_and_201_reports(station, api, gateway):
    refreshed = await api.post(f"{BASE}/device-model/refresh", json={})
    assert refreshed.status_code == 200, refreshed.text
    model = (await api.get(f"{BASE}/device-model")).json()
    reported = station.journal.find("answer", action="GetConfiguration")[-1]["payload"]
    keys = sorted(k["key"] for k in reported["configurationKey"])
    assert [(e["component_key"], e["variable_key"]) for e in model] == [
        ("Configuration", key) for key in keys
    ]
    [heartbeat] = [e for e in model if e["variable_key"] == "HeartbeatInterval"]
    assert heartbeat["attributes"][0]["value"] == "300"

    # A 2.0.1 NotifyReport part, as the 2.0.1 adapter publishes it.
    report = [
        {
            "component": {"name": "EVSE", "evse": {"id": 1}},
            "variable": {"name": "Power"},
            "variableAttribute": [{"type": "MaxSet", "value": "22000", "mutability": "ReadOnly"}],
            "variableCharacteristics": {
                "unit": "W",
                "dataType": "decimal",
                "supportsMonitoring": True,
            },
        },
        {
            "component": {"name": "OCPPCommCtrlr"},
            "variable": {"name": "HeartbeatInterval"},
            "variableAttribute": [{"value": "300"}],
        },
    ]
    await gateway.services.events.publish(
        DeviceModelReport(DEMO_STATION, datetime.now(UTC), 7, 0, False, report)
    )

    async def stored() -> list:
        entries = (await api.get(f"{BASE}/device-model")).json()
        return entries if len(entries) == len(keys) + 2 else []

    entries = await eventually(stored)
    assert [(e["component_key"], e["variable_key"]) for e in entries] == [
        *(("Configuration", key) for key in keys),
        ("EVSE@1", "Power"),
        ("OCPPCommCtrlr", "HeartbeatInterval"),
    ]
    assert entries[len(keys)]["characteristics"]["unit"] == "W"
    only = await api.get(f"{BASE}/device-model", params={"component": "EVSE@1"})
    assert len(only.json()) == 1


async def test_jobs_list_joins_visibility_and_records(station, api):
    ok = (await api.post(f"{BASE}/diagnostics", json={"attempts": 1})).json()["workflow_id"]
    await finished_job(api, ok)
    station.config.behaviour.upload_fails = True
    bad = (await api.post(f"{BASE}/diagnostics", json={"attempts": 1})).json()["workflow_id"]
    await finished_job(api, bad)

    async def listed() -> list | None:
        jobs = (await api.get("/maintenance/jobs", params={"station_id": DEMO_STATION})).json()
        return jobs if all(j["temporal_status"] for j in jobs) else None

    jobs = await eventually(listed)
    assert [(j["workflow_id"], j["state"], j["temporal_status"]) for j in jobs] == [
        (bad, "failed", "Failed"),
        (ok, "succeeded", "Completed"),
    ]
    failed = await api.get("/maintenance/jobs", params={"state": "failed", "kind": "diagnostics"})
    assert [j["workflow_id"] for j in failed.json()] == [bad]
    none = await api.get("/maintenance/jobs", params={"kind": "firmware_rollout"})
    assert none.json() == []
    detail = (await api.get(f"/maintenance/jobs/{ok}")).json()
    assert detail["progress"]["file"]["size"] == station.journal.find("upload", ok=True)[0]["bytes"]
    assert (await api.get("/maintenance/jobs/nope")).status_code == 404
