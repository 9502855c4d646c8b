"""The charger's OCPP-J boundary against a scripted CSMS on a real socket: the handshake, every
malformed or unknown CALL answered with the right CALLERROR, and a start that is never answered."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator

import orjson
import pytest
from websockets.asyncio.server import serve

from chargers import Behaviour, Charger, ChargerConfig
from tests.helpers import eventually


class ScriptedCsms:
    """Accepts one charger, answers its CALLs as `answers` says, sends CALLs on request."""

    def __init__(self) -> None:
        self.received: list[list] = []
        self.headers: dict[str, str] = {}
        self.subprotocol: str | None = None
        self.silent: set[str] = set()  # actions never answered
        self.ws = None

    async def handler(self, ws) -> None:
        self.ws, self.subprotocol = ws, ws.subprotocol
        self.headers = dict(ws.request.headers)
        async for raw in ws:
            try:
                frame = orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue
            self.received.append(frame)
            if frame[0] == 2 and frame[2] not in self.silent:
                await ws.send(orjson.dumps([3, frame[1], self.answer(frame[2])]).decode())

    @staticmethod
    def answer(action: str) -> dict:
        if action == "BootNotification":
            return {"status": "Accepted", "currentTime": "2026-01-01T00:00:00Z", "interval": 300}
        if action == "Authorize":
            return {"idTagInfo": {"status": "Accepted"}}
        return {}

    async def send(self, raw: str) -> list:
        """Send a raw frame; the charger's answer (or None after 2 s)."""
        before = len(self.received)
        await self.ws.send(raw)
        for _ in range(100):
            for frame in self.received[before:]:
                if frame[0] in (3, 4):
                    return frame
            await asyncio.sleep(0.02)
        return None


@pytest.fixture
async def csms() -> AsyncIterator[tuple[ScriptedCsms, str]]:
    scripted = ScriptedCsms()
    async with serve(scripted.handler, "127.0.0.1", 0, subprotocols=["ocpp1.6", "ocpp2.0.1"]) as s:
        port = s.sockets[0].getsockname()[1]
        yield scripted, f"ws://127.0.0.1:{port}/ocpp"


async def booted(url: str, version: str, **config) -> Charger:
    charger = Charger(ChargerConfig("VC-9", "pass-word-9", url, version=version, **config))
    await charger.start()
    await charger.wait_booted()
    return charger


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_handshake_and_callerrors(csms, version):
    scripted, url = csms
    charger = await booted(url, version)
    try:
        assert scripted.subprotocol == ("ocpp1.6" if version == "1.6" else "ocpp2.0.1")
        token = base64.b64encode(b"VC-9:pass-word-9").decode()
        assert scripted.headers["authorization"] == f"Basic {token}"
        v16 = version == "1.6"
        cases = [
            ('[2,"a","FooBar",{}]', "NotImplemented"),
            (
                '[2,"b","Reset",{}]',
                "OccurenceConstraintViolation" if v16 else "OccurrenceConstraintViolation",
            ),
            ('[2,"c","Reset",{"type":"Bogus"}]', "PropertyConstraintViolation"),
            ('[2,"d","Reset",{"type":1}]', "TypeConstraintViolation"),
            ('[2,"e","Heartbeat",{}]', "NotSupported"),
            ('[2,"f","Reset",[]]', "FormationViolation" if v16 else "FormatViolation"),
        ]
        for frame, code in cases:
            answer = await scripted.send(frame)
            assert answer[:3] == [4, frame[4], code], (frame, answer)
        garbage = await scripted.send("not json")  # answered, the connection stays
        assert garbage[:3] == [4, "-1", "FormationViolation" if v16 else "RpcFrameworkError"]
        unknown_type = await scripted.send('[7,"h",{}]')
        assert unknown_type[:3] == [4, "h", "NotSupported" if v16 else "MessageTypeNotSupported"]
        answer = await scripted.send('[2,"g","ClearCache",{}]')
        assert answer == [3, "g", {"status": "Accepted"}]
        assert not charger.journal.find("bug")
    finally:
        await charger.stop()


async def test_messages_of_an_unanswered_start_carry_transaction_id_zero(csms):
    scripted, url = csms
    scripted.silent.add("StartTransaction")
    charger = await booted(
        url,
        "1.6",
        message_timeout_s=0.2,
        configuration={"TransactionMessageAttempts": "1", "MeterValueSampleInterval": "0"},
        behaviour=Behaviour(transaction_id_zero=True),
    )
    try:
        tx = await charger.sessions.start_local("TAG-1")
        assert tx is not None and tx.transaction_id is None
        await eventually(lambda: charger.journal.find("given_up", action="StartTransaction"))
        assert charger.sessions.send_meter_values(1)
        await charger.sessions.stop(1, "Local")
        await eventually(lambda: charger.journal.find("result", action="StopTransaction"))
        sent = {f[2]: f[3] for f in scripted.received if f[0] == 2}
        assert sent["MeterValues"]["transactionId"] == 0
        assert sent["StopTransaction"]["transactionId"] == 0
    finally:
        await charger.stop()


async def test_without_the_quirk_such_messages_are_dropped(csms):
    scripted, url = csms
    scripted.silent.add("StartTransaction")
    charger = await booted(
        url,
        "1.6",
        message_timeout_s=0.2,
        configuration={"TransactionMessageAttempts": "1", "MeterValueSampleInterval": "0"},
    )
    try:
        await charger.sessions.start_local("TAG-1")
        await eventually(lambda: charger.journal.find("given_up", action="StartTransaction"))
        await charger.sessions.stop(1, "Local")
        await eventually(lambda: charger.journal.find("given_up", action="StopTransaction"))
        assert "StopTransaction" not in {f[2] for f in scripted.received if f[0] == 2}
    finally:
        await charger.stop()
