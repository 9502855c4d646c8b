"""Jepsen's checker: judges the recorded history after the faults stopped and the system settled.

Ground truth is the chargers' journals (what was charged, from their meters) and the fake
Stripe's own records (what money moved). The API is asked only which session a 2.0.1 charger's
transaction became and whether each session reached a final state, and for ledger drivers'
balances. The price comes from `fleet.price` (the checker's own arithmetic, never
`domain.rating`).
"""

from __future__ import annotations

import collections
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from chaos.fleet import StationPlan, price
from chaos.history import StationHistory, Tx

FINAL = {"Completed", "Rejected", "Expired", "PaymentFailed", "NeedsReview"}
NOT_BILLED = {"Rejected", "Expired"}


@dataclass
class Evidence:
    """What the checker reads besides the journals, fetched once after the settle time."""

    stripe: dict  # GET /_fake/records of the fake Stripe
    sessions: dict[str, list[dict]]  # station -> the API's sessions of that station
    balances: dict[int, int]  # ledger driver id -> balance (positive: owed)
    guest_links: dict[str, str]  # guest token -> payment intent id (from clients.jsonl)


@dataclass
class Verdict:
    completed: int = 0
    violations: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # e.g. sessions flagged for review

    def add(self, text: str) -> None:
        self.violations.append(text)


def read_guest_links(notes: Path) -> dict[str, str]:
    links = {}
    if notes.exists():
        for line in notes.read_text().splitlines():
            note = json.loads(line)
            if note["ev"] == "guest_link":
                links[note["token"]] = note["payment_intent"]
    return links


_GUEST = "guest:"  # keys of `owed` for guest links (the rest are ledger stations)


def check(
    plans: list[StationPlan],
    drivers: dict[str, int],
    histories: dict[str, StationHistory],
    evidence: Evidence,
) -> Verdict:
    verdict = Verdict()
    intents = evidence.stripe["payment_intents"]
    refunds = evidence.stripe["refunds"].values()
    by_session: dict[str, list[dict]] = collections.defaultdict(list)
    for pi in intents.values():
        sid = (pi.get("metadata") or {}).get("session_id")
        if sid:
            by_session[sid].append(pi)

    def captured(pis: list[dict]) -> int:
        ids = {pi["id"] for pi in pis}
        back = sum(r["amount"] for r in refunds if r["payment_intent"] in ids)
        return sum(pi.get("amount_received") or 0 for pi in pis) - back

    # No hold is left neither captured nor released.
    for pi in intents.values():
        if pi["status"] == "requires_capture":
            meta = pi.get("metadata") or {}
            verdict.add(f"hold left open: {pi['id']} {pi['amount']} {meta}")

    # Every session the API knows reached a final state.
    for rows in evidence.sessions.values():
        for row in rows:
            if row["state"] not in FINAL:
                verdict.add(f"session not final: {row['id']} is {row['state']}")
            elif row["state"] == "NeedsReview":
                verdict.notes.append(f"needs review: {row['id']} ({row.get('review_reason')})")

    accounted: set[str] = set()
    owed: dict[str, int] = collections.defaultdict(int)  # ledger station -> its driver's due
    for plan in plans:
        history = histories.get(plan.station_id)
        if history is None:
            continue
        for text in history.late_calls + history.lost + history.bugs:
            verdict.add(f"charger call: {text}")
        rows = evidence.sessions.get(plan.station_id, [])
        for tx in history.transactions:
            if not tx.completed:
                verdict.add(f"{plan.station_id} transaction {tx.local} never stopped")
                continue
            verdict.completed += 1
            _check_tx(plan, tx, rows, evidence, by_session, captured, accounted, owed, verdict)

    # Money for a session no charger transaction accounts for (a double start, a phantom).
    for sid, pis in by_session.items():
        if sid not in accounted and captured(pis) > 0:
            verdict.add(f"money for no charger transaction: {sid} captured {captured(pis)}")

    for key, expected in owed.items():
        if key.startswith(_GUEST):
            token = key.removeprefix(_GUEST)
            pi = intents[evidence.guest_links[token]]
            want, got = min(expected, pi["amount"]), captured([pi])
            if got != want:
                verdict.add(f"guest {token}: captured {got}, expected {want} (hold {pi['amount']})")

    for plan in plans:
        if plan.kind == "ledger":
            driver = drivers[plan.station_id]
            balance = evidence.balances.get(driver)
            if balance != owed[plan.station_id]:
                verdict.add(
                    f"ledger {plan.station_id} driver {driver}: balance {balance}, "
                    f"journals imply {owed[plan.station_id]}"
                )
    return verdict


def _sessions_of(plan: StationPlan, tx: Tx, rows: list[dict]) -> list[dict]:
    """1.6: the session numbers the charger was given; 2.0.1 (the charger names its
    transactions and the API shows our numbers): the sessions that started when it did."""
    if plan.version == "1.6":
        return [r for r in rows if r["id"].rsplit("-", 1)[-1] in tx.numbers]
    return [r for r in rows if r["started_at"] and _same_moment(r["started_at"], tx.started_at)]


def _same_moment(stamp: str, moment: datetime) -> bool:
    at = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return abs((at - moment).total_seconds()) < 0.002


def _check_tx(plan, tx, rows, evidence, by_session, captured, accounted, owed, verdict) -> None:
    name = f"{plan.station_id} tx {tx.transaction_id or tx.local}"
    if len(tx.numbers) > 1:
        verdict.add(f"{name}: one transaction, several session numbers {sorted(tx.numbers)}")
    sessions = _sessions_of(plan, tx, rows)
    billed = [r for r in sessions if r["state"] not in NOT_BILLED]
    if len(billed) > 1:
        verdict.add(f"{name}: duplicate sessions {[r['id'] for r in billed]}")
    if not sessions:
        verdict.add(f"{name}: no session for a completed transaction")
        return
    session = billed[0] if billed else sessions[0]
    for r in sessions:
        accounted.add(r["id"])
    expected = price(tx.energy_wh)
    if session["state"] in NOT_BILLED or tx.refused:
        if not (tx.refused or tx.stopped_by_csms):
            verdict.add(f"{name}: {session['state']} though the charger was never told to stop")
        expected = 0
    if plan.kind == "guest":
        intent_id = evidence.guest_links.get(tx.id_tag or "")
        if evidence.stripe["payment_intents"].get(intent_id or "") is None:
            verdict.add(f"{name}: guest transaction without a known payment link ({tx.id_tag})")
            return
        # Judged per link once every transaction is seen: a link may serve a refused start and
        # then the one that charged (its money is the sum of their prices, capped by the hold).
        owed[_GUEST + (tx.id_tag or "")] += expected
    elif plan.pays_by_card:
        got = captured(by_session.get(session["id"], []))
        if got != expected:
            verdict.add(
                f"{name} ({session['id']}, {session['state']}): card captured {got}, "
                f"expected {expected} for {tx.energy_wh} Wh"
            )
    else:
        owed[plan.station_id] += expected
