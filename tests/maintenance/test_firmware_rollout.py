"""`FirmwareRollout` over virtual 1.6J chargers: waves, the failure threshold, pause, cancel."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from chargers import Charger
from domain.credentials import hash_password
from store.tables import Station
from tests.helpers import eventually
from tests.maintenance.conftest import finished_job, received
from tests.maintenance.test_firmware_update import FAST, upload
from tests.virtual_chargers.fixtures import MakeCharger

PASSWORD = "rollout-secret"


def register(db, names: list[str]) -> None:
    with db.session() as session:
        for name in names:
            session.add(
                Station(id=name, password_hash=hash_password(PASSWORD), ocpp_versions="ocpp1.6")
            )


@contextlib.asynccontextmanager
async def fleet(
    db, make_charger: MakeCharger, names: list[str]
) -> AsyncIterator[dict[str, Charger]]:
    """Registered, connected and booted virtual chargers (Acme X1, firmware 1.0), by id."""
    register(db, names)
    stations = {
        name: await make_charger(name, password=PASSWORD, vendor="Acme", model="X1")
        for name in names
    }
    try:
        yield stations
    finally:
        for station in stations.values():
            await station.stop()


async def rollout(api, name: str, image_id: int, **options) -> None:
    body = {
        "name": name,
        "firmware_id": image_id,
        "targets": {"current_versions": ["1.0"]},
        "policy": FAST,
        **options,
    }
    response = await api.post("/rollouts", json=body)
    assert response.status_code == 202, response.text
    assert response.json()["workflow_id"] == f"rollout-{name}"


async def progress(api, name: str) -> dict:
    response = await api.get(f"/rollouts/{name}")
    assert response.status_code == 200, response.text
    return response.json()


def updated(station: Charger) -> bool:
    return bool(received(station, "UpdateFirmware"))


async def test_rollout_halts_at_the_failure_threshold_and_resumes(
    seeded, worker, make_charger, api, db
):
    names = ["RO-1", "RO-2", "RO-3", "RO-4"]
    async with fleet(db, make_charger, names) as stations:
        stations["RO-3"].config.behaviour.download_fails = True
        image = await upload(api)
        await rollout(api, "spring", image["id"], max_concurrency=2, failure_threshold=0.3)

        # RO-3's failure halts the rollout at once; RO-2, already running, finishes.
        halted = await eventually(
            lambda: _state(api, "spring", "halted", settled=True), timeout=30, interval=0.2
        )
        assert halted["waves"] == [["RO-1"], ["RO-2", "RO-3"], ["RO-4"]]
        assert sorted(halted["succeeded"]) == ["RO-1", "RO-2"]
        assert halted["failed"] == {"RO-3": "station reported DownloadFailed"}
        assert halted["pending"] == ["RO-4"]
        assert halted["halted_reason"] == "1 of 2 updates failed (ratio 0.50 > 0.3)"
        assert not updated(stations["RO-4"])

        assert (await api.post("/rollouts/spring/resume")).status_code == 200
        done = await eventually(lambda: _state(api, "spring", "completed"), timeout=30)
        assert sorted(done["succeeded"]) == ["RO-1", "RO-2", "RO-4"]
        assert stations["RO-4"].state.firmware_version == "2.0"

    job = await finished_job(api, "rollout-spring")
    assert job["state"] == "succeeded" and job["kind"] == "firmware_rollout"
    children = await api.get("/maintenance/jobs", params={"kind": "firmware_update"})
    states = {j["station_id"]: j["state"] for j in children.json()}
    assert states == {
        "RO-1": "succeeded",
        "RO-2": "succeeded",
        "RO-3": "failed",
        "RO-4": "succeeded",
    }
    again = await api.post(
        "/rollouts", json={"name": "spring", "firmware_id": image["id"], "targets": {}}
    )
    assert again.status_code == 202  # the name is free again once the rollout ended


async def test_rollout_pause_and_cancel(seeded, worker, make_charger, api, db):
    async with fleet(db, make_charger, ["RP-1", "RP-2", "RP-3"]) as stations:
        stations["RP-1"].config.behaviour.download_stalls = True  # never finishes by itself
        image = await upload(api)
        await rollout(api, "paused", image["id"], policy={**FAST, "install_timeout_s": 60})
        await eventually(lambda: updated(stations["RP-1"]), timeout=15)
        assert (await api.post("/rollouts/paused/pause")).status_code == 200
        paused = await eventually(lambda: _state(api, "paused", "paused"), timeout=15)
        assert paused and paused["running"] == {"RP-1": paused["running"]["RP-1"]}

        assert (await api.post("/rollouts/paused/cancel")).status_code == 200
        cancelled = await eventually(
            lambda: _state(api, "paused", "cancelled", settled=True), timeout=15
        )
        assert cancelled["failed"] == {"RP-1": "cancelled"}
        assert cancelled["pending"] == ["RP-2", "RP-3"]
        assert not updated(stations["RP-2"])
        child = await finished_job(api, paused["running"]["RP-1"])
        assert child["state"] == "cancelled"
    await finished_job(api, "rollout-paused")
    ended = await api.post("/rollouts/paused/resume")
    assert ended.status_code == 409


async def _state(api, name: str, state: str, settled: bool = False) -> dict | None:
    """The progress once in `state` (and, if `settled`, with nothing running)."""
    current = await progress(api, name)
    if current["state"] != state or (settled and current["running"]):
        return None
    return current


async def test_long_rollout_continues_as_new_between_waves(
    seeded, worker, make_charger, api, db, temporal_client
):
    names = ["RC-1", "RC-2", "RC-3"]
    async with fleet(db, make_charger, names):
        image = await upload(api)
        await rollout(api, "long", image["id"], growth_factor=1.0, history_limit=10)
        done = await eventually(lambda: _state(api, "long", "completed"), timeout=45)
    assert done["waves"] == [["RC-1"], ["RC-2"], ["RC-3"]]
    assert sorted(done["succeeded"]) == names
    job = await finished_job(api, "rollout-long")
    assert job["state"] == "succeeded"
    # One run per wave: the history stays short.
    await eventually(lambda: _run_count(temporal_client, "rollout-long", 3), timeout=10)


async def _run_count(client, workflow_id: str, count: int) -> bool:
    runs = [r async for r in client.list_workflows(f"WorkflowId = '{workflow_id}'")]
    return len(runs) == count
