"""OCPP 2.0.1 display messages (SetDisplayMessage, GetDisplayMessages, ClearDisplayMessage) and
variable monitoring (SetVariableMonitoring, SetMonitoringBase, SetMonitoringLevel,
ClearVariableMonitoring, GetMonitoringReport).

Messages and monitors are kept in the charger's persistent state (they survive reboots), every
change is journalled (`display_message`, `monitor`), and Get* requests are answered with
NotifyDisplayMessages / NotifyMonitoringReport after the answer, as a station does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chargers.clock import iso
from chargers.rpc import Answer

if TYPE_CHECKING:
    from chargers.charger import Charger

_PER_MESSAGE = 20
_CRITERIA = {
    "ThresholdMonitoring": {"UpperThreshold", "LowerThreshold"},
    "DeltaMonitoring": {"Delta"},
    "PeriodicMonitoring": {"Periodic", "PeriodicClockAligned"},
}


class DisplayAndMonitoring201:
    c: Charger

    def _lookup(self, component: dict, variable: dict) -> tuple[str, str | None]:
        raise NotImplementedError  # provided by ReportsMixin

    # ---- display messages ------------------------------------------------------------------

    def set_display_message(self, p: dict) -> Answer:
        c, message = self.c, p["message"]
        if message.get("transactionId") and c.sessions.find(message["transactionId"]) is None:
            return {"status": "UnknownTransaction"}, None
        kept = [m for m in c.state.display_messages if m["id"] != message["id"]]
        c.state.display_messages = [*kept, message]
        c.save_state()
        c.journal.write(
            "display_message", action="set", id=message["id"], priority=message["priority"]
        )
        return {"status": "Accepted"}, None

    def get_display_messages(self, p: dict) -> Answer:
        ids, priority, state = p.get("id"), p.get("priority"), p.get("state")
        found = [
            m
            for m in self.c.state.display_messages
            if (not ids or m["id"] in ids)
            and (priority is None or m["priority"] == priority)
            and (state is None or m.get("state") == state)
        ]
        if not found:
            return {"status": "Unknown"}, None
        return {"status": "Accepted"}, self._notify_display(p["requestId"], found)

    async def _notify_display(self, request_id: int, messages: list[dict]) -> None:
        chunks = [messages[i : i + _PER_MESSAGE] for i in range(0, len(messages), _PER_MESSAGE)]
        for n, chunk in enumerate(chunks):
            payload = {"requestId": request_id, "messageInfo": chunk, "tbc": n < len(chunks) - 1}
            await self.c.send("NotifyDisplayMessages", payload)

    def clear_display_message(self, p: dict) -> Answer:
        c = self.c
        kept = [m for m in c.state.display_messages if m["id"] != p["id"]]
        if len(kept) == len(c.state.display_messages):
            return {"status": "Unknown"}, None
        c.state.display_messages = kept
        c.save_state()
        c.journal.write("display_message", action="clear", id=p["id"])
        return {"status": "Accepted"}, None

    # ---- variable monitoring ---------------------------------------------------------------

    def set_variable_monitoring(self, p: dict) -> Answer:
        c = self.c
        results = []
        for item in p["setMonitoringData"]:
            status, monitor_id = self._set_monitor(item)
            result = {
                "status": status,
                "type": item["type"],
                "severity": item["severity"],
                "component": item["component"],
                "variable": item["variable"],
            }
            if monitor_id is not None:
                result["id"] = monitor_id
            results.append(result)
        c.save_state()
        return {"setMonitoringResult": results}, None

    def _set_monitor(self, item: dict) -> tuple[str, int | None]:
        c = self.c
        known, _ = self._lookup(item["component"], item["variable"])
        if known != "Accepted":
            return known, None
        if not 0 <= item["severity"] <= 9:
            return "Rejected", None
        monitors = c.state.monitors
        monitor_id = item.get("id")
        if monitor_id is not None and all(m["id"] != monitor_id for m in monitors):
            return "Rejected", None  # an id names an existing monitor to replace
        same = [
            m
            for m in monitors
            if m["id"] != monitor_id
            and (m["component"], m["variable"], m["type"])
            == (item["component"], item["variable"], item["type"])
        ]
        if same:
            return "Duplicate", None
        if monitor_id is None:
            monitor_id = max((m["id"] for m in monitors), default=0) + 1
        monitor = {
            "id": monitor_id,
            "component": item["component"],
            "variable": item["variable"],
            "type": item["type"],
            "value": item["value"],
            "severity": item["severity"],
            "transaction": bool(item.get("transaction", False)),
        }
        c.state.monitors = [m for m in monitors if m["id"] != monitor_id] + [monitor]
        c.journal.write(
            "monitor",
            action="set",
            id=monitor_id,
            component=item["component"]["name"],
            variable=item["variable"]["name"],
            type=item["type"],
            value=item["value"],
            severity=item["severity"],
        )
        return "Accepted", monitor_id

    def set_monitoring_base(self, p: dict) -> Answer:
        c = self.c
        if p["monitoringBase"] != "All" and c.state.monitors:
            cleared = [m["id"] for m in c.state.monitors]  # all ours are custom monitors
            c.state.monitors = []
            c.save_state()
            c.journal.write("monitor", action="clear", ids=cleared, base=p["monitoringBase"])
        return {"status": "Accepted"}, None

    def set_monitoring_level(self, p: dict) -> Answer:
        c = self.c
        if not 0 <= p["severity"] <= 9:
            return {"status": "Rejected"}, None
        c.state.monitoring_level = p["severity"]
        c.save_state()
        c.journal.write("monitor", action="level", severity=p["severity"])
        return {"status": "Accepted"}, None

    def clear_variable_monitoring(self, p: dict) -> Answer:
        c = self.c
        known = {m["id"] for m in c.state.monitors}
        results = [{"id": i, "status": "Accepted" if i in known else "NotFound"} for i in p["id"]]
        cleared = [i for i in p["id"] if i in known]
        if cleared:
            c.state.monitors = [m for m in c.state.monitors if m["id"] not in cleared]
            c.save_state()
            c.journal.write("monitor", action="clear", ids=cleared)
        return {"clearMonitoringResult": results}, None

    def get_monitoring_report(self, p: dict) -> Answer:
        types: set[str] = set()
        for criterion in p.get("monitoringCriteria") or _CRITERIA:
            types |= _CRITERIA[criterion]
        wanted = p.get("componentVariable") or []

        def asked(monitor: dict) -> bool:
            if monitor["type"] not in types:
                return False
            if not wanted:
                return True
            return any(
                cv["component"] == monitor["component"]
                and (not cv.get("variable") or cv["variable"] == monitor["variable"])
                for cv in wanted
            )

        found = [m for m in self.c.state.monitors if asked(m)]
        if not found:
            return {"status": "EmptyResultSet"}, None
        return {"status": "Accepted"}, self._notify_monitoring(p["requestId"], found)

    async def _notify_monitoring(self, request_id: int, monitors: list[dict]) -> None:
        grouped: dict[str, dict] = {}
        for m in monitors:
            key = repr((m["component"], m["variable"]))
            entry = grouped.setdefault(
                key,
                {"component": m["component"], "variable": m["variable"], "variableMonitoring": []},
            )
            entry["variableMonitoring"].append(
                {k: m[k] for k in ("id", "transaction", "value", "type", "severity")}
            )
        items = list(grouped.values())
        chunks = [items[i : i + _PER_MESSAGE] for i in range(0, len(items), _PER_MESSAGE)]
        for seq, chunk in enumerate(chunks):
            payload = {
                "requestId": request_id,
                "seqNo": seq,
                "generatedAt": iso(self.c.clock.now()),
                "tbc": seq < len(chunks) - 1,
                "monitor": chunk,
            }
            await self.c.send("NotifyMonitoringReport", payload)
