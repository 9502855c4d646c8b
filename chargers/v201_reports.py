"""OCPP 2.0.1 device model access: GetVariables, SetVariables, GetBaseReport, GetReport.

Variables are `Component/Variable` keys (see `chargers.variables`); only the Actual attribute
exists. Each EVSE also reports an `EVSE` component (AvailabilityState, Power).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chargers.clock import iso
from chargers.rpc import Answer
from chargers.variables import Variable

if TYPE_CHECKING:
    from chargers.charger import Charger

_TYPES = {"int": "integer", "bool": "boolean", "str": "string", "list": "MemberList"}
_PER_MESSAGE = 50


class ReportsMixin:
    c: Charger

    def _components(self) -> set[str]:
        return {key.split("/", 1)[0] for key in self.c.settings.table}

    def _lookup(self, component: dict, variable: dict) -> tuple[str, str | None]:
        key = f"{component['name']}/{variable['name']}"
        if component["name"] not in self._components():
            return "UnknownComponent", None
        value = self.c.settings.get(key)
        if key == "ChargingStation/AvailabilityState":
            value = "Unavailable" if 0 in self.c.state.inoperative else "Available"
        if value is None:
            return "UnknownVariable", None
        return "Accepted", value

    def get_variables(self, p: dict) -> Answer:
        results = []
        for item in p["getVariableData"]:
            result: dict = {"component": item["component"], "variable": item["variable"]}
            attribute = item.get("attributeType", "Actual")
            if "attributeType" in item:
                result["attributeType"] = attribute
            if attribute != "Actual":
                result["attributeStatus"] = "NotSupportedAttributeType"
            else:
                status, value = self._lookup(item["component"], item["variable"])
                result["attributeStatus"] = status
                if value is not None:
                    result["attributeValue"] = value[:2500]
            results.append(result)
        return {"getVariableResult": results}, None

    def set_variables(self, p: dict) -> Answer:
        c = self.c
        results = []
        changed = False
        for item in p["setVariableData"]:
            result: dict = {"component": item["component"], "variable": item["variable"]}
            attribute = item.get("attributeType", "Actual")
            if "attributeType" in item:
                result["attributeType"] = attribute
            status, _ = self._lookup(item["component"], item["variable"])
            if attribute != "Actual":
                status = "NotSupportedAttributeType"
            elif status == "Accepted":
                key = f"{item['component']['name']}/{item['variable']['name']}"
                status = c.settings.set(key, item["attributeValue"])
                if status in ("Accepted", "RebootRequired"):
                    changed = True
                    if key == "OCPPCommCtrlr/HeartbeatInterval":
                        c.heartbeat_s = float(item["attributeValue"])
            result["attributeStatus"] = status
            results.append(result)
        if changed:
            c.save_state()
        return {"setVariableResult": results}, None

    # ---- reports ---------------------------------------------------------------------------

    def _report_items(self, keys: list[str] | None, configuration_only: bool = False) -> list[dict]:
        c = self.c
        items = []
        for key, variable in c.settings.table.items():
            if keys is not None and key not in keys:
                continue
            if configuration_only and variable.readonly:
                continue
            component, name = key.split("/", 1)
            _, value = self._lookup({"name": component}, {"name": name})
            items.append(_item({"name": component}, name, value or "", variable))
        if keys is None and not configuration_only:
            for connector in c.connectors.values():
                state = "Unavailable" if connector.inoperative else self.reported_status(connector)
                evse = {"name": "EVSE", "evse": {"id": connector.id}}
                items.append(_item(evse, "AvailabilityState", state, None))
                items.append(_item(evse, "Power", str(int(connector.meter.power_w)), None))
        return items

    def get_base_report(self, p: dict) -> Answer:
        base = p["reportBase"]
        if base == "SummaryInventory":
            keys = ["ChargingStation/AvailabilityState", "SecurityCtrlr/Identity"]
            items = self._report_items(keys)
        else:
            items = self._report_items(None, configuration_only=base == "ConfigurationInventory")
        return {"status": "Accepted"}, self._notify_report(p["requestId"], items)

    def get_report(self, p: dict) -> Answer:
        wanted = p.get("componentVariable")
        keys = None
        if wanted:
            keys = []
            for cv in wanted:
                component = cv["component"]["name"]
                if cv.get("variable"):
                    keys.append(f"{component}/{cv['variable']['name']}")
                else:
                    keys += [k for k in self.c.settings.table if k.startswith(component + "/")]
        items = self._report_items(keys)
        if not items:
            return {"status": "EmptyResultSet"}, None
        return {"status": "Accepted"}, self._notify_report(p["requestId"], items)

    async def _notify_report(self, request_id: int, items: list[dict]) -> None:
        chunks = [items[i : i + _PER_MESSAGE] for i in range(0, len(items), _PER_MESSAGE)] or [[]]
        for seq, chunk in enumerate(chunks):
            payload = {
                "requestId": request_id,
                "generatedAt": iso(self.c.clock.now()),
                "seqNo": seq,
                "tbc": seq < len(chunks) - 1,
            }
            if chunk:
                payload["reportData"] = chunk
            await self.c.send("NotifyReport", payload)

    def reported_status(self, connector) -> str:  # provided by the protocol
        raise NotImplementedError


def _item(component: dict, name: str, value: str, variable: Variable | None) -> dict:
    readonly = variable is None or variable.readonly
    kind = _TYPES[variable.kind] if variable is not None else "string"
    return {
        "component": component,
        "variable": {"name": name},
        "variableAttribute": [
            {
                "type": "Actual",
                "value": value[:2500],
                "mutability": "ReadOnly" if readonly else "ReadWrite",
            }
        ],
        "variableCharacteristics": {"dataType": kind, "supportsMonitoring": False},
    }
