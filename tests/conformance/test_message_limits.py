"""2.0.1 message limits (#19 B; OCTT TC_B_08, B06.FR.05): the CSMS never sends a station more
GetVariables / SetVariables items than its `DeviceDataCtrlr.ItemsPerMessage[<action>]`, nor a
bigger frame than its `BytesPerMessage[<action>]`; a longer request goes out as several and the
operator gets one merged answer, in the order asked.

The station here is a scripted virtual charger on the real gateway that knows its limits, answers
a longer list with a CALLERROR (as a strict charger may), and tells the test every list it got."""

from __future__ import annotations

import orjson
import pytest
from sqlmodel import select

from ampflow.seed import DEMO_STATION
from chargers.rpc import OcppFault
from chargers.script import scripted
from store.maintenance_tables import DeviceModelVariable
from tests.conftest import DEMO_PASSWORD
from tests.helpers import eventually

LIST = {"GetVariables": "getVariableData", "SetVariables": "setVariableData"}
LIMIT_NAMES = ("ItemsPerMessage", "BytesPerMessage")


def frame_size(action: str, payload: dict) -> int:
    """Bytes of the CALL frame (a 36-character message id, as the gateway's uuid4)."""
    return len(orjson.dumps([2, "0" * 36, action, payload]))


class LimitedStation:
    """Limits per (variable, instance); lists received per action; limit questions received."""

    def __init__(self, script, limits: dict[tuple[str, str], int]) -> None:
        self.limits = limits
        self.lists: dict[str, list[list[dict]]] = {"GetVariables": [], "SetVariables": []}
        self.frames: dict[str, list[int]] = {"GetVariables": [], "SetVariables": []}
        self.asked: list[tuple[str, str]] = []
        script.charger.answer_with("GetVariables", self.get_variables)
        script.charger.answer_with("SetVariables", self.set_variables)

    def _check(self, action: str, payload: dict) -> list[dict]:
        items = payload[LIST[action]]
        size = frame_size(action, payload)
        most = self.limits.get(("ItemsPerMessage", action))
        largest = self.limits.get(("BytesPerMessage", action))
        if (most and len(items) > most) or (largest and size > largest):
            raise OcppFault("OccurrenceConstraintViolation", f"{len(items)} items, {size} bytes")
        return items

    def get_variables(self, payload: dict) -> dict:
        items = self._check("GetVariables", payload)
        results = []
        for item in items:
            ref = {k: item[k] for k in ("component", "variable")}
            key = (item["variable"]["name"], item["variable"].get("instance"))
            if item["component"]["name"] == "DeviceDataCtrlr" and key[0] in LIMIT_NAMES:
                self.asked.append(key)
                if key in self.limits:
                    value = {"attributeStatus": "Accepted", "attributeValue": str(self.limits[key])}
                else:
                    value = {"attributeStatus": "UnknownVariable"}
            else:
                value = {"attributeStatus": "Accepted", "attributeValue": f"value of {key[0]}"}
            results.append({**ref, **value})
        if not (len(items) == 1 and items[0]["variable"]["name"] in LIMIT_NAMES):
            self.lists["GetVariables"].append(items)  # not a question about the limits
        return {"getVariableResult": results}

    def set_variables(self, payload: dict) -> dict:
        items = self._check("SetVariables", payload)
        self.lists["SetVariables"].append(items)
        self.frames["SetVariables"].append(frame_size("SetVariables", payload))
        return {
            "setVariableResult": [
                {**{k: item[k] for k in ("component", "variable")}, "attributeStatus": "Accepted"}
                for item in items
            ]
        }


def names(count: int) -> list[str]:
    return [f"TestCtrlr{i}.Setting{i}" for i in range(count)]


async def command(api, name: str, params: dict):
    return await api.post(
        f"/stations/{DEMO_STATION}/commands", json={"name": name, "params": params}
    )


async def test_get_variables_is_split_to_items_per_message_and_merged(
    seeded, worker, gateway_url, api
):
    async with scripted(gateway_url, DEMO_STATION, DEMO_PASSWORD, version="2.0.1") as script:
        station = LimitedStation(script, {("ItemsPerMessage", "GetVariables"): 4})
        wanted = names(9)
        reply = await command(api, "get_configuration", {"variables": wanted})
        assert reply.status_code == 200, reply.text
        # The station was asked for its limits one variable at a time, then got 4 + 4 + 1.
        assert station.asked == [
            ("ItemsPerMessage", "GetVariables"),
            ("BytesPerMessage", "GetVariables"),
        ]
        assert [len(batch) for batch in station.lists["GetVariables"]] == [4, 4, 1]
        results = reply.json()["response"]["getVariableResult"]
        got = [f"{r['component']['name']}.{r['variable']['name']}" for r in results]
        assert got == wanted
        # Asked once per connection: the next long request is split without asking again.
        assert (await command(api, "get_configuration", {"variables": names(5)})).status_code == 200
        assert len(station.asked) == 2
        assert [len(b) for b in station.lists["GetVariables"]] == [4, 4, 1, 4, 1]


async def test_set_variables_respects_items_and_bytes_per_message(seeded, worker, gateway_url, api):
    limits = {("ItemsPerMessage", "SetVariables"): 3, ("BytesPerMessage", "SetVariables"): 400}
    async with scripted(gateway_url, DEMO_STATION, DEMO_PASSWORD, version="2.0.1") as script:
        station = LimitedStation(script, limits)
        values = [{"name": n, "value": "x" * 40} for n in names(7)]
        reply = await command(api, "change_configuration", {"variables": values})
        assert reply.status_code == 200, reply.text
        batches = station.lists["SetVariables"]
        assert sum(len(b) for b in batches) == 7 and len(batches) > 7 // 3
        assert all(len(b) <= 3 for b in batches)
        assert all(size <= 400 for size in station.frames["SetVariables"])
        results = reply.json()["response"]["setVariableResult"]
        assert [r["variable"]["name"] for r in results] == [f"Setting{i}" for i in range(7)]
        assert {r["attributeStatus"] for r in results} == {"Accepted"}

        # One item that alone is bigger than the station takes is not sent at all.
        huge = await command(
            api, "change_configuration", {"variables": [{"name": "A.B", "value": "y" * 600}] * 2}
        )
        assert huge.status_code == 422, huge.text
        assert "BytesPerMessage" in huge.json()["error"]
        assert sum(len(b) for b in station.lists["SetVariables"]) == 7


@pytest.mark.parametrize("reported", [("ItemsPerMessage", "BytesPerMessage"), ("ItemsPerMessage",)])
async def test_limits_from_the_reported_device_model_need_no_question(
    seeded, worker, gateway_url, api, db, reported
):
    """A model that names only ItemsPerMessage says the station has no BytesPerMessage."""
    async with scripted(gateway_url, DEMO_STATION, DEMO_PASSWORD, version="2.0.1") as script:
        station = LimitedStation(script, {("ItemsPerMessage", "GetVariables"): 2})
        await script.charger.call(
            "NotifyReport",
            {
                "requestId": 1,
                "generatedAt": "2026-01-01T12:00:00Z",
                "seqNo": 0,
                "reportData": [
                    {
                        "component": {"name": "DeviceDataCtrlr"},
                        "variable": {"name": name, "instance": "GetVariables"},
                        "variableAttribute": [{"type": "Actual", "value": value}],
                        "variableCharacteristics": {
                            "dataType": "integer",
                            "supportsMonitoring": False,
                        },
                    }
                    for name, value in (("ItemsPerMessage", "2"), ("BytesPerMessage", "65536"))
                    if name in reported
                ],
            },
        )

        def stored() -> bool:
            with db.session() as s:
                rows = s.exec(
                    select(DeviceModelVariable).where(
                        DeviceModelVariable.station_id == DEMO_STATION,
                        DeviceModelVariable.component_key == "DeviceDataCtrlr",
                    )
                ).all()
                return len(rows) == len(reported)

        await eventually(stored)
        reply = await command(api, "get_configuration", {"variables": names(3)})
        assert reply.status_code == 200, reply.text
        assert station.asked == []
        assert [len(b) for b in station.lists["GetVariables"]] == [2, 1]


@pytest.mark.parametrize("answer", ["UnknownVariable", "CALLERROR"])
async def test_a_station_without_limits_gets_the_request_whole(
    seeded, worker, gateway_url, api, answer
):
    async with scripted(gateway_url, DEMO_STATION, DEMO_PASSWORD, version="2.0.1") as script:
        station = LimitedStation(script, {})
        if answer == "CALLERROR":
            original = station.get_variables

            def no_limits(payload: dict) -> dict:
                if payload["getVariableData"][0]["variable"].get("instance"):
                    raise OcppFault("NotSupported", "no such variable here")
                return original(payload)

            script.charger.answer_with("GetVariables", no_limits)
        reply = await command(api, "get_configuration", {"variables": names(6)})
        assert reply.status_code == 200, reply.text
        assert [len(b) for b in station.lists["GetVariables"]] == [6]


async def test_16_get_configuration_respects_get_configuration_max_keys(
    seeded, worker, gateway_url, api
):
    """1.6: at most GetConfigurationMaxKeys keys per GetConfiguration.req, answers merged."""
    received: list[list[str]] = []

    def get_configuration(payload: dict) -> dict:
        keys = payload.get("key") or []
        if len(keys) > 3:
            raise OcppFault("OccurrenceConstraintViolation", f"{len(keys)} keys")
        received.append(keys)
        known = [k for k in keys if not k.startswith("Unknown")]
        answer: dict = {
            "configurationKey": [
                {"key": k, "readonly": True, "value": "3" if k == "GetConfigurationMaxKeys" else k}
                for k in known
            ]
        }
        if len(known) < len(keys):
            answer["unknownKey"] = [k for k in keys if k.startswith("Unknown")]
        return answer

    async with scripted(gateway_url, DEMO_STATION, DEMO_PASSWORD, version="1.6") as script:
        script.charger.answer_with("GetConfiguration", get_configuration)
        wanted = ["KeyA", "UnknownB", "KeyC", "KeyD", "KeyE", "UnknownF", "KeyG"]
        reply = await command(api, "get_configuration", {"keys": wanted})
        assert reply.status_code == 200, reply.text
        assert received == [["GetConfigurationMaxKeys"], wanted[:3], wanted[3:6], wanted[6:]]
        answer = reply.json()["response"]
        assert [k["key"] for k in answer["configurationKey"]] == [
            "KeyA",
            "KeyC",
            "KeyD",
            "KeyE",
            "KeyG",
        ]
        assert answer["unknownKey"] == ["UnknownB", "UnknownF"]


async def test_get_report_parts_get_their_own_request_ids(seeded, worker, gateway_url, api, db):
    """GetReport's componentVariable list within ItemsPerMessage[GetReport]; each part its own
    request id (the first keeps the operator's), Accepted when a part was."""
    got: list[dict] = []

    def get_report(payload: dict) -> dict:
        if len(payload["componentVariable"]) > 2:
            raise OcppFault("OccurrenceConstraintViolation", "more than 2")
        got.append(payload)
        return {"status": "Accepted" if len(got) == 2 else "EmptyResultSet"}

    async with scripted(gateway_url, DEMO_STATION, DEMO_PASSWORD, version="2.0.1") as script:
        script.charger.answer_with("GetReport", get_report)
        await script.charger.call(
            "NotifyReport",
            {
                "requestId": 1,
                "generatedAt": "2026-01-01T12:00:00Z",
                "seqNo": 0,
                "reportData": [
                    {
                        "component": {"name": "DeviceDataCtrlr"},
                        "variable": {"name": "ItemsPerMessage", "instance": "GetReport"},
                        "variableAttribute": [{"type": "Actual", "value": "2"}],
                    }
                ],
            },
        )

        def stored() -> bool:
            with db.session() as s:
                return (
                    s.get(
                        DeviceModelVariable,
                        (DEMO_STATION, "DeviceDataCtrlr", "ItemsPerMessage[GetReport]"),
                    )
                    is not None
                )

        await eventually(stored)
        wanted = [{"component": {"name": f"Ctrlr{i}"}} for i in range(3)]
        payload = {"requestId": 40, "componentVariable": wanted}
        reply = await command(api, "raw", {"action": "GetReport", "payload": payload})
        assert reply.status_code == 200, reply.text
        assert [(p["requestId"], len(p["componentVariable"])) for p in got] == [(40, 2), (41, 1)]
        assert reply.json()["response"] == {"status": "Accepted"}
