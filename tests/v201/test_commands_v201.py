"""Every neutral command reaches a 2.0.1 station through the API and comes back schema-valid.

The station is a virtual 2.0.1 charger (`chargers/`): it validates each CSMS request against the
official 2.0.1 schema before answering (a bad request would be a CALLERROR) and acts on it.
"""

from __future__ import annotations

from ocpp.messages import MessageType, get_validator

from ampflow.seed import DEMO_STATION, DEMO_TAG
from chargers.script import scripted
from domain.commands import COMMAND_NAMES
from domain.session import SessionState
from store.tables import Connector
from tests.conftest import DEMO_PASSWORD
from tests.helpers import charger_session_result, eventually

# neutral command, params -> the 2.0.1 action, the expected status word, what the station got
CASES = [
    ("reset", {"type": "Hard"}, "Reset", "Accepted", {"type": "Immediate"}),
    ("reset", {"type": "Soft"}, "Reset", "Accepted", {"type": "OnIdle"}),
    (
        "unlock_connector",
        {"connector_id": 2},
        "UnlockConnector",
        "Unlocked",
        {"evseId": 2, "connectorId": 1},
    ),
    (
        "change_availability",
        {"connector_id": 1, "operative": False},
        "ChangeAvailability",
        "Accepted",
        {"operationalStatus": "Inoperative", "evse": {"id": 1}},
    ),
    (
        "get_configuration",
        {"variables": ["OCPPCommCtrlr.HeartbeatInterval", "NoSuchCtrlr.X"]},
        "GetVariables",
        None,
        None,
    ),
    (
        "change_configuration",
        {"key": "OCPPCommCtrlr.HeartbeatInterval", "value": 120},
        "SetVariables",
        None,
        None,
    ),
    (
        "trigger_message",
        {"message": "StatusNotification", "connector_id": 2},
        "TriggerMessage",
        "Accepted",
        {"requestedMessage": "StatusNotification", "evse": {"id": 2}},
    ),
    (
        "data_transfer",
        {"vendor_id": "Ampflow", "message_id": "echo", "data": {"n": 1}},
        "DataTransfer",
        "Accepted",
        {"vendorId": "Ampflow", "messageId": "echo", "data": {"n": 1}},
    ),
    ("clear_cache", {}, "ClearCache", "Accepted", {}),
    (
        "raw",
        {"action": "CostUpdated", "payload": {"totalCost": 1.25, "transactionId": "T-1"}},
        "CostUpdated",
        None,
        {"totalCost": 1.25, "transactionId": "T-1"},
    ),
]


# The session and configuration commands of this adapter (maintenance and local-list commands
# have their own modules and tests).
CORE_COMMANDS = COMMAND_NAMES[: COMMAND_NAMES.index("raw") + 1]


def schema_valid(action: str, response: dict) -> bool:
    get_validator(MessageType.CallResult, action, "2.0.1").validate(response)
    return True


async def test_every_neutral_command_reaches_a_201_station(
    seeded, worker, gateway_url, api, temporal_client
):
    covered = {name for name, *_ in CASES} | {"remote_start", "remote_stop"}
    assert covered == set(CORE_COMMANDS)
    async with scripted(gateway_url, DEMO_STATION, DEMO_PASSWORD, version="2.0.1") as station:
        # The station accepts resets without rebooting (its reboot has tests of its own).
        station.charger.answer_with("Reset", lambda p: {"status": "Accepted"})
        for name, params, action, status, received in CASES:
            reply = await api.post(
                f"/stations/{DEMO_STATION}/commands", json={"name": name, "params": params}
            )
            assert reply.status_code == 200, (name, reply.text)
            record = reply.json()
            assert (record["outcome"], record["status"]) == ("ok", status), name
            assert schema_valid(action, record["response"])
            got_action, got = station.received[-1]
            assert got_action == action
            if received is not None:
                assert got == received, name

        # What the answers say, and what the station did afterwards.
        results = station.received
        # Two variables: the station's GetVariables limits were asked first, one at a time.
        *limits, get_vars = [r["getVariableData"] for a, r in results if a == "GetVariables"]
        assert len(get_vars) == 2
        assert [[item["variable"]["instance"] for item in ask] for ask in limits] == [
            ["GetVariables"],
            ["GetVariables"],
        ]
        assert station.charger.settings.get("OCPPCommCtrlr/HeartbeatInterval") == "120"

        def connector(evse_id: int) -> Connector | None:
            with seeded.session() as db:
                return db.get(Connector, (DEMO_STATION, evse_id))

        await eventually(lambda: (c := connector(1)) and c.status == "Unavailable")
        await eventually(lambda: (c := connector(2)) and c.status == "Available")  # triggered

        # remote_start -> RequestStartTransaction; the station starts, remote_stop ends it.
        start = await api.post(
            f"/stations/{DEMO_STATION}/commands",
            json={
                "name": "remote_start",
                "params": {"id_token": DEMO_TAG, "connector_id": 2, "remote_start_id": 77},
            },
        )
        assert (start.json()["outcome"], start.json()["status"]) == ("ok", "Accepted")
        assert schema_valid("RequestStartTransaction", start.json()["response"])
        tx = await eventually(lambda: station.active_on(2))
        assert (tx.evse_id, tx.remote_start_id) == (2, 77)
        await eventually(lambda: station.meter_wh.get(2) is not None)
        await station.event(tx.updated(1500))
        stop = await api.post(
            f"/stations/{DEMO_STATION}/commands",
            json={"name": "remote_stop", "params": {"transaction_id": tx.transaction_id}},
        )
        assert (stop.json()["outcome"], stop.json()["status"]) == ("ok", "Accepted")
        assert schema_valid("RequestStopTransaction", stop.json()["response"])
        view = await charger_session_result(
            temporal_client, seeded, DEMO_STATION, tx.transaction_id
        )
    assert view.state == SessionState.COMPLETED
    assert (view.stop_reason, view.energy_wh) == ("Remote", 1500)


async def test_station_answers_are_passed_on_as_they_are(seeded, worker, gateway_url, api):
    async with scripted(gateway_url, DEMO_STATION, DEMO_PASSWORD, version="2.0.1") as station:
        station.charger.answer_with("Reset", lambda p: {"status": "Rejected"})
        rejected = await api.post(
            f"/stations/{DEMO_STATION}/commands", json={"name": "reset", "params": {}}
        )
        assert (rejected.json()["outcome"], rejected.json()["status"]) == ("ok", "Rejected")

        unknown = await api.post(
            f"/stations/{DEMO_STATION}/commands",
            json={"name": "unlock_connector", "params": {"evse_id": 9, "connector_id": 1}},
        )
        assert unknown.json()["status"] == "UnknownConnector"

        stop = await api.post(
            f"/stations/{DEMO_STATION}/commands",
            json={"name": "remote_stop", "params": {"transaction_id": "no-such-tx"}},
        )
        assert stop.json()["status"] == "Rejected"

        # 2.0.1 reads everything with GetBaseReport, not GetVariables: refused before sending.
        everything = await api.post(
            f"/stations/{DEMO_STATION}/commands", json={"name": "get_configuration"}
        )
        assert everything.status_code == 422 and everything.json()["outcome"] == "not_supported"

        # A 1.6-only action sent raw never reaches a 2.0.1 station.
        raw16 = await api.post(
            f"/stations/{DEMO_STATION}/commands",
            json={"name": "raw", "params": {"action": "RemoteStartTransaction", "payload": {}}},
        )
        assert raw16.json()["outcome"] == "not_supported"
    assert [a for a, _ in station.received] == [
        "Reset",
        "UnlockConnector",
        "RequestStopTransaction",
    ]
