"""2.0.1 display messages and variable monitoring, through the real API and gateway: the
charger stores them (across reboots), answers Get* with schema-valid Notify* reports and
journals every change."""

from __future__ import annotations

from ampflow.seed import DEMO_STATION, DEMO_TAG
from chargers import schemas
from tests.helpers import eventually
from tests.virtual_chargers.fixtures import command

HEARTBEAT = {"name": "OCPPCommCtrlr"}, {"name": "HeartbeatInterval"}


def message(message_id: int, content: str, priority: str = "NormalCycle", **extra) -> dict:
    return {
        "message": {
            "id": message_id,
            "priority": priority,
            "message": {"format": "UTF8", "content": content},
            **extra,
        }
    }


def sent(charger, action: str) -> list[dict]:
    """Payloads of the CALLs `action` the charger sent (each validated before sending)."""
    return [e["payload"] for e in charger.journal.find("call", action=action)]


async def raw(api, action: str, payload: dict) -> dict:
    record = await command(api, DEMO_STATION, "raw", action=action, payload=payload)
    assert record["outcome"] == "ok", record
    schemas.validate("2.0.1", action, record["response"], response=True)
    return record["response"]


async def test_display_messages_are_kept_reported_and_cleared(
    seeded, worker, live_api, make_charger
):
    charger = await make_charger(version="2.0.1")
    assert (await raw(live_api, "SetDisplayMessage", message(1, "Welcome")))["status"] == "Accepted"
    urgent = message(2, "Out of order soon", "AlwaysFront", state="Idle")
    assert (await raw(live_api, "SetDisplayMessage", urgent))["status"] == "Accepted"
    unknown_tx = message(3, "Your bill", transactionId="no-such-tx")
    assert (await raw(live_api, "SetDisplayMessage", unknown_tx))["status"] == "UnknownTransaction"
    tx = await charger.sessions.start_local(DEMO_TAG)
    for_tx = message(3, "Your bill", transactionId=tx.transaction_id)
    assert (await raw(live_api, "SetDisplayMessage", for_tx))["status"] == "Accepted"
    changed = message(1, "Welcome back")
    assert (await raw(live_api, "SetDisplayMessage", changed))["status"] == "Accepted"

    answer = await raw(live_api, "GetDisplayMessages", {"requestId": 7})
    assert answer["status"] == "Accepted"
    [report] = await eventually(lambda: sent(charger, "NotifyDisplayMessages"))
    assert report["requestId"] == 7 and report["tbc"] is False
    contents = {m["id"]: m["message"]["content"] for m in report["messageInfo"]}
    assert contents == {1: "Welcome back", 2: "Out of order soon", 3: "Your bill"}
    schemas.validate("2.0.1", "NotifyDisplayMessages", report)

    front = await raw(live_api, "GetDisplayMessages", {"requestId": 8, "priority": "AlwaysFront"})
    assert front["status"] == "Accepted"
    reports = await eventually(lambda: sent(charger, "NotifyDisplayMessages")[1:])
    assert [m["id"] for m in reports[0]["messageInfo"]] == [2]
    none = await raw(live_api, "GetDisplayMessages", {"requestId": 9, "id": [42]})
    assert none["status"] == "Unknown"

    assert (await raw(live_api, "ClearDisplayMessage", {"id": 2}))["status"] == "Accepted"
    assert (await raw(live_api, "ClearDisplayMessage", {"id": 2}))["status"] == "Unknown"
    await charger.sessions.stop(tx.connector, "Local")

    # Messages are kept across a reboot.
    await charger.reboot("RemoteReset", hard=False)
    await charger.wait_booted(2)
    kept = await raw(live_api, "GetDisplayMessages", {"requestId": 10})
    assert kept["status"] == "Accepted"
    last = await eventually(lambda: sent(charger, "NotifyDisplayMessages")[2:])
    assert sorted(m["id"] for m in last[0]["messageInfo"]) == [1, 3]
    journal = [(e["action"], e["id"]) for e in charger.journal.find("display_message")]
    assert journal == [("set", 1), ("set", 2), ("set", 3), ("set", 1), ("clear", 2)]
    assert not charger.journal.find("bug")


async def test_variable_monitors_are_set_reported_and_cleared(
    seeded, worker, live_api, make_charger
):
    charger = await make_charger(version="2.0.1")
    component, variable = HEARTBEAT
    data = [
        {
            "value": 600,
            "type": "UpperThreshold",
            "severity": 4,
            "component": component,
            "variable": variable,
        },
        {
            "value": 30,
            "type": "Periodic",
            "severity": 8,
            "component": component,
            "variable": variable,
        },
        {
            "value": 1,
            "type": "Delta",
            "severity": 2,
            "component": {"name": "NoSuchCtrlr"},
            "variable": variable,
        },
        {
            "value": 700,
            "type": "UpperThreshold",
            "severity": 4,
            "component": component,
            "variable": variable,
        },
    ]
    answer = await raw(live_api, "SetVariableMonitoring", {"setMonitoringData": data})
    statuses = [r["status"] for r in answer["setMonitoringResult"]]
    assert statuses == ["Accepted", "Accepted", "UnknownComponent", "Duplicate"]
    upper, periodic = (r["id"] for r in answer["setMonitoringResult"][:2])
    replace = {**data[0], "id": upper, "value": 900}
    again = await raw(live_api, "SetVariableMonitoring", {"setMonitoringData": [replace]})
    assert again["setMonitoringResult"][0] == {
        "id": upper,
        "status": "Accepted",
        "type": "UpperThreshold",
        "severity": 4,
        "component": component,
        "variable": variable,
    }

    threshold = {"requestId": 3, "monitoringCriteria": ["ThresholdMonitoring"]}
    assert (await raw(live_api, "GetMonitoringReport", threshold))["status"] == "Accepted"
    [report] = await eventually(lambda: sent(charger, "NotifyMonitoringReport"))
    schemas.validate("2.0.1", "NotifyMonitoringReport", report)
    assert (report["requestId"], report["seqNo"], report["tbc"]) == (3, 0, False)
    [monitor] = report["monitor"]
    assert (monitor["component"], monitor["variable"]) == (component, variable)
    assert [(m["id"], m["value"]) for m in monitor["variableMonitoring"]] == [(upper, 900)]
    elsewhere = {"requestId": 4, "componentVariable": [{"component": {"name": "AuthCtrlr"}}]}
    assert (await raw(live_api, "GetMonitoringReport", elsewhere))["status"] == "EmptyResultSet"

    assert (await raw(live_api, "SetMonitoringLevel", {"severity": 5}))["status"] == "Accepted"
    assert (await raw(live_api, "SetMonitoringLevel", {"severity": 12}))["status"] == "Rejected"
    assert charger.state.monitoring_level == 5

    cleared = await raw(live_api, "ClearVariableMonitoring", {"id": [periodic, 99]})
    assert cleared["clearMonitoringResult"] == [
        {"id": periodic, "status": "Accepted"},
        {"id": 99, "status": "NotFound"},
    ]
    assert [m["id"] for m in charger.state.monitors] == [upper]
    base = await raw(live_api, "SetMonitoringBase", {"monitoringBase": "FactoryDefault"})
    assert base["status"] == "Accepted" and charger.state.monitors == []
    everything = {"requestId": 5}
    assert (await raw(live_api, "GetMonitoringReport", everything))["status"] == "EmptyResultSet"
    actions = [e["action"] for e in charger.journal.find("monitor")]
    assert actions == ["set", "set", "set", "level", "clear", "clear"]
    assert not charger.journal.find("bug")
