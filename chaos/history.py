"""The history the checker judges, read from outside the system: the chargers' journals.

A transaction is what the charger itself recorded (`tx_start` … `tx_stop`, joined by the
charger's local id); a call is a CALL the charger sent with when and how it was answered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from chargers.journal import read

STOP_COMMANDS = {"RemoteStopTransaction", "RequestStopTransaction"}


@dataclass
class Tx:
    station: str
    local: str
    id_tag: str | None
    meter_start: int
    started_at: datetime
    transaction_id: str | None = None  # 1.6: our number; 2.0.1: the charger's id
    numbers: set[str] = field(default_factory=set)  # 1.6: every number the CSMS gave it
    meter_stop: int | None = None
    refused: bool = False  # the CSMS refused the start
    stopped_by_csms: bool = False  # a remote stop arrived while it ran

    @property
    def completed(self) -> bool:
        return self.meter_stop is not None

    @property
    def energy_wh(self) -> int:
        return (self.meter_stop or 0) - self.meter_start


@dataclass
class StationHistory:
    station: str
    transactions: list[Tx]
    late_calls: list[str]  # calls unanswered within the call timeout
    lost: list[str]  # transaction messages the charger gave up or dropped
    bugs: list[str]
    answers: list[Answer] = field(default_factory=list)  # every answered call, in order


@dataclass(frozen=True)
class Answer:
    """One call the charger sent and the time it waited for the CSMS's answer."""

    action: str
    sent_at: datetime
    waited_s: float


def _when(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def read_station(path: Path, call_timeout_s: float = 30.0) -> StationHistory:
    events = read(path)
    station = path.stem
    txs: dict[str, Tx] = {}
    running: Tx | None = None
    calls: dict[str, dict] = {}
    late: list[str] = []
    lost: list[str] = []
    bugs: list[str] = []
    answers: list[Answer] = []
    for e in events:
        ev = e["ev"]
        if ev == "tx_start":
            tx = Tx(
                station, e["local"], e.get("idTag"), int(e["meterStart"]), _when(e["startedAt"])
            )
            if e.get("transactionId") is not None:
                tx.transaction_id = str(e["transactionId"])
                tx.numbers.add(tx.transaction_id)
            txs[tx.local] = running = tx
        elif ev == "tx_id" and e["local"] in txs:
            tx = txs[e["local"]]
            tx.transaction_id = str(e["transactionId"])
            tx.numbers.add(tx.transaction_id)
        elif ev == "tx_refused" and e["local"] in txs:
            txs[e["local"]].refused = True
        elif ev == "tx_stop" and e["local"] in txs:
            tx = txs[e["local"]]
            tx.meter_stop = int(e["meterStop"])
            if e.get("transactionId") is not None and tx.transaction_id is None:
                tx.transaction_id = str(e["transactionId"])
            running = None if running is tx else running
        elif ev == "command" and e.get("action") in STOP_COMMANDS and running is not None:
            running.stopped_by_csms = True
        elif ev == "call":
            calls[e["id"]] = e
        elif ev in ("result", "error") and e["id"] in calls:
            sent = calls.pop(e["id"])
            waited = (_when(e["t"]) - _when(sent["t"])).total_seconds()
            answers.append(Answer(sent["action"], _when(sent["t"]), waited))
            if waited > call_timeout_s:
                late.append(f"{station} {sent['action']} {e['id']} answered after {waited:.1f}s")
        elif ev == "timeout":
            calls.pop(e.get("id"), None)
            late.append(
                f"{station} {e.get('action')} {e.get('id')} unanswered (timeout) at {e['t']}"
            )
        elif ev in ("given_up", "dropped"):
            lost.append(f"{station} {ev} {e.get('action')} {e.get('why', '')} at {e['t']}")
        elif ev == "bug":
            bugs.append(f"{station} {e.get('action')} {e.get('error')}")
    return StationHistory(station, list(txs.values()), late, lost, bugs, answers)


def read_all(journals: Path) -> dict[str, StationHistory]:
    return {p.stem: read_station(p) for p in sorted(journals.glob("*.jsonl"))}
