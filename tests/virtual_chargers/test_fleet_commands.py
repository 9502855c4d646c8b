"""One command for many stations (`POST /fleet-commands`, the `FleetCommand` workflow), through
the real gateway to virtual chargers of both versions: checked from the chargers' own journals
and from each station's command log."""

from __future__ import annotations

from ampflow.load_setup import register_load_stations
from tests.helpers import eventually

PREFIX = "FC-"
PASSWORD = "fleet-command-secret-16"
VERSIONS = ["1.6", "2.0.1", "1.6", "2.0.1"]


def _station(n: int) -> str:
    return f"{PREFIX}{n:05d}"


async def _finished(api, workflow_id: str) -> dict:
    async def done():
        answer = await api.get(f"/fleet-commands/{workflow_id}")
        return answer.json() if answer.status_code == 200 and answer.json()["done"] else None

    return await eventually(done, timeout=60, interval=0.2)


def _triggers(charger) -> list[dict]:
    return [
        entry
        for entry in charger.journal.find("command", action="TriggerMessage")
        if entry["payload"].get("requestedMessage") == "Heartbeat"
    ]


async def test_a_fleet_command_reaches_each_connected_station_once_and_names_the_offline(
    seeded, worker, live_api, make_charger, database_url
):
    register_load_stations(database_url, PREFIX, 5, PASSWORD, "FC-TAG")
    chargers = [
        await make_charger(_station(n), password=PASSWORD, version=version)
        for n, version in enumerate(VERSIONS)
    ]  # FC-00004 never connects

    started = await live_api.post(
        "/fleet-commands",
        json={
            "name": "trigger_message",
            "params": {"message": "Heartbeat"},
            "station_ids": [_station(n) for n in range(5)],
            "retries": 1,
            "retry_after_s": 1,
        },
    )

    assert started.status_code == 202, started.text
    assert started.json()["stations"] == 5
    progress = await _finished(live_api, started.json()["workflow_id"])
    assert progress["counts"] == {"ok:Accepted": 4, "offline": 1}
    assert list(progress["not_ok"]) == [_station(4)]
    assert progress["rounds"] == 2  # the offline one was tried again
    for charger in chargers:  # from the charger's side: asked exactly once
        assert len(_triggers(charger)) == 1, charger.config.station_id
    for n in range(5):
        log = (await live_api.get(f"/stations/{_station(n)}/commands")).json()
        outcome = "offline" if n == 4 else "ok"
        assert [(r["name"], r["outcome"]) for r in log] == [("trigger_message", outcome)]


async def test_a_station_that_comes_online_between_rounds_gets_the_command(
    seeded, worker, live_api, make_charger, database_url
):
    register_load_stations(database_url, PREFIX, 2, PASSWORD, "FC-TAG")
    first = await make_charger(_station(0), password=PASSWORD)
    started = await live_api.post(
        "/fleet-commands",
        json={
            "name": "trigger_message",
            "params": {"message": "Heartbeat"},
            "station_ids": [_station(0), _station(1)],
            "retries": 2,
            "retry_after_s": 5,
        },
    )
    workflow_id = started.json()["workflow_id"]

    async def first_round_done():
        progress = (await live_api.get(f"/fleet-commands/{workflow_id}")).json()
        return progress["counts"].get("offline") == 1

    await eventually(first_round_done, timeout=30, interval=0.1)
    late = await make_charger(_station(1), password=PASSWORD, version="2.0.1")

    progress = await _finished(live_api, workflow_id)
    assert progress["counts"] == {"ok:Accepted": 2}
    assert progress["rounds"] == 2  # the late one in the second; no third
    assert len(_triggers(first)) == 1 and len(_triggers(late)) == 1
    log = (await live_api.get(f"/stations/{_station(1)}/commands")).json()
    assert [(r["outcome"], r["status"]) for r in log] == [("ok", "Accepted")]


async def test_what_is_not_a_fleet_command_is_refused(seeded, live_api, database_url):
    register_load_stations(database_url, PREFIX, 1, PASSWORD, "FC-TAG")
    per_session = await live_api.post(
        "/fleet-commands", json={"name": "remote_stop", "params": {"transaction_id": "1"}}
    )
    unknown_station = await live_api.post(
        "/fleet-commands", json={"name": "reset", "station_ids": [_station(0), "NOPE-1"]}
    )
    unknown_command = await live_api.post("/fleet-commands", json={"name": "explode"})
    one_password_for_all = await live_api.post(
        "/fleet-commands",
        json={
            "name": "change_configuration",
            "params": {"key": "AuthorizationKey", "value": "the-same-for-every-station"},
        },
    )
    unknown_workflow = await live_api.get("/fleet-commands/session-DEMO-1-1")

    assert per_session.status_code == 422
    assert unknown_station.status_code == 422 and "NOPE-1" in unknown_station.text
    assert unknown_command.status_code == 422
    assert one_password_for_all.status_code == 422
    assert unknown_workflow.status_code == 404
