"""Jepsen's clients: virtual chargers running sessions continuously, one loop per station.

Each station's loop draws from its own `random.Random(f"{seed}:{station}")`: waits, dwell times
and outages are a function of the seed (what the system answers, and when, is not). What a
driver or a phone does outside the charger (a remote start in the app, a guest paying by link)
goes to the API and the fake Stripe, and is noted in `clients.jsonl` beside the journals.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import random
import time
from pathlib import Path
from typing import Any

import httpx
import stripe

from chaos.cluster import ADMIN_KEY, STATION_PASSWORD, STRIPE_KEY, WEBHOOK_SECRET, Cluster
from chaos.failover import follow_gateways
from chaos.fleet import StationPlan
from chargers import Behaviour, Charger, ChargerConfig

log = logging.getLogger(__name__)

DWELL_S = (4.0, 14.0)
IDLE_S = (1.0, 4.0)
START_WAIT_S = 45.0  # a remote or guest start the charger never sees is given up after this


class Notes:
    """What the clients did outside the chargers (JSON lines, flushed per line)."""

    def __init__(self, path: Path) -> None:
        self._file = path.open("a", buffering=1)

    def write(self, event: str, **fields: Any) -> None:
        self._file.write(json.dumps({"t": time.time(), "ev": event, **fields}) + "\n")

    def close(self) -> None:
        self._file.close()


def make_charger(plan: StationPlan, cluster: Cluster, journals: Path, rng: random.Random):
    interval = (
        "SampledDataCtrlr/TxUpdatedInterval"
        if plan.version == "2.0.1"
        else ("MeterValueSampleInterval")
    )
    config = ChargerConfig(
        plan.station_id,
        STATION_PASSWORD,
        rng.choice(cluster.gateway_urls),
        version=plan.version,
        max_power_w=11_000.0,
        message_timeout_s=30.0,
        configuration={interval: "5"},
        journal_file=journals / f"{plan.station_id}.jsonl",
        behaviour=Behaviour(reconnect_min_s=0.5, reconnect_max_s=4.0),
    )
    return Charger(config, rng=rng)


class StationClient:
    """Runs one station's sessions until `stop` is set."""

    def __init__(
        self, plan: StationPlan, charger: Charger, cluster: Cluster, notes: Notes, seed: int
    ) -> None:
        self.plan = plan
        self.charger = charger
        self.cluster = cluster
        self.notes = notes
        self.rng = random.Random(f"{seed}:{plan.station_id}:sessions")
        self.sessions = 0

    async def run(self, stop: asyncio.Event) -> None:
        failover = asyncio.create_task(follow_gateways(self.charger, self.cluster.gateway_urls))
        async with httpx.AsyncClient(
            base_url=self.cluster.api_url, headers={"X-API-Key": ADMIN_KEY}, timeout=20
        ) as api:
            try:
                while not stop.is_set():
                    await asyncio.sleep(self.rng.uniform(*IDLE_S))
                    if not self.charger.online:
                        continue
                    with contextlib.suppress(Exception):
                        await self._one_session(api)
            finally:
                failover.cancel()
                await self.charger.sessions.stop_all("Local")

    async def _one_session(self, api: httpx.AsyncClient) -> None:
        sessions, kind, tag = self.charger.sessions, self.plan.kind, self.plan.tag
        dwell = self.rng.uniform(*DWELL_S)
        if kind in ("card", "ledger", "offline"):
            tx = await sessions.start_local(tag)
        elif kind == "plug_first":
            await sessions.plug(1)
            await asyncio.sleep(self.rng.uniform(0.5, 2.0))
            tx = await sessions.start_local(tag)
        elif kind == "remote":
            tx = await self._remote_start(api)
        else:
            tx = await self._guest_start(api)
        if tx is None:
            connector = sessions.connector(1)
            if connector.plugged and connector.transaction is None:
                await sessions.unplug(1)
            return
        self.sessions += 1
        if kind == "offline" and self.rng.random() < 0.7:
            await asyncio.sleep(dwell / 3)
            await self.charger.go_offline(self.rng.uniform(3.0, 12.0))
            dwell = dwell * 2 / 3
        await asyncio.sleep(dwell)
        await sessions.stop(1, "Local")

    async def _remote_start(self, api: httpx.AsyncClient):
        body = {"station_id": self.plan.station_id, "connector_id": 1, "id_token": self.plan.tag}
        answer = await _post(api, "/sessions", body)
        self.notes.write("remote_start", station=self.plan.station_id, answer=answer)
        if answer is None:
            return None
        return await self._wait_transaction()

    async def _guest_start(self, api: httpx.AsyncClient):
        link = await _post(api, f"/pay/{self.plan.station_id}/1", {})
        if link is None:
            return None
        self.notes.write(
            "guest_link",
            station=self.plan.station_id,
            token=link["token"],
            payment_intent=link["payment_intent_id"],
        )
        paid = await asyncio.to_thread(self._phone_pays, link["payment_intent_id"])
        if not paid:
            return None
        delivered = await self._deliver_webhook(api, link["payment_intent_id"])
        self.notes.write("guest_paid", token=link["token"], webhook=delivered)
        return await self._wait_transaction()

    def _phone_pays(self, intent_id: str) -> bool:
        """The driver's phone confirms the hold (Stripe.js in real life)."""
        client = stripe.StripeClient(
            STRIPE_KEY, base_addresses={"api": self.cluster.stripe_url}, max_network_retries=3
        )
        try:
            client.v1.payment_intents.confirm(intent_id, params={"payment_method": "pm_card_visa"})
        except stripe.StripeError:
            return False
        return True

    async def _deliver_webhook(self, api: httpx.AsyncClient, intent_id: str) -> bool:
        """Stripe's webhook delivery: retried until the API takes it (as Stripe retries)."""
        async with httpx.AsyncClient(base_url=self.cluster.stripe_url, timeout=10) as fake:
            kind = {"type": "payment_intent.amount_capturable*"}
            events = (await fake.get("/_fake/events", params=kind)).json()
            event = next(e for e in events if e["data"]["object"]["id"] == intent_id)
            payload = (await fake.get(f"/_fake/events/{event['id']}")).content
        deadline = time.monotonic() + START_WAIT_S
        while time.monotonic() < deadline:
            signature = sign_webhook(payload, WEBHOOK_SECRET)
            with contextlib.suppress(httpx.HTTPError):
                answer = await api.post(
                    "/webhooks/stripe", content=payload, headers={"Stripe-Signature": signature}
                )
                if answer.status_code < 300:
                    return True
            await asyncio.sleep(2)
        return False

    async def _wait_transaction(self):
        deadline = time.monotonic() + START_WAIT_S
        connector = self.charger.sessions.connector(1)
        while time.monotonic() < deadline:
            if connector.transaction is not None:
                return connector.transaction
            await asyncio.sleep(0.3)
        return None


async def _post(api: httpx.AsyncClient, path: str, body: dict) -> dict | None:
    """POST, retried while the API is down (it may be SIGKILLed at any moment)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            answer = await api.post(path, json=body)
        except httpx.HTTPError:
            await asyncio.sleep(1)
            continue
        if answer.status_code < 300:
            return answer.json()
        if answer.status_code < 500:
            return None
        await asyncio.sleep(1)
    return None


def sign_webhook(payload: bytes, secret: str) -> str:
    """A `Stripe-Signature` header for `payload`, as Stripe signs its webhooks."""
    stamp = int(time.time())
    mac = hmac.new(secret.encode(), f"{stamp}.".encode() + payload, hashlib.sha256)
    return f"t={stamp},v1={mac.hexdigest()}"
