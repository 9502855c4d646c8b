"""The operator rotates a station's Basic-auth password (OCTT TC_A_09/TC_A_10, OCPP 2.0.1 A01
SetVariables SecurityCtrlr.BasicAuthPassword; 1.6 security whitepaper ChangeConfiguration
AuthorizationKey): the stored password changes when the charger accepts the new one, never
before; a charger that refuses keeps its old one; a lost answer locks nobody out.

Real gateway, workflow and API; DEMO-1 is a virtual charger that answers the change as the test
says and then connects again, as hardware does, with whichever password it holds."""

from __future__ import annotations

import asyncio

import pytest
import websockets
from websockets.exceptions import InvalidStatus

from ampflow.seed import DEMO_STATION
from chargers import basic_auth_header
from chargers.script import scripted
from tests.conftest import DEMO_PASSWORD

NEW = "rotated-station-secret-0123"
KEY = {"1.6": "AuthorizationKey", "2.0.1": "SecurityCtrlr.BasicAuthPassword"}
ACTION = {"1.6": "ChangeConfiguration", "2.0.1": "SetVariables"}
VERSIONS = pytest.mark.parametrize("version", ["1.6", "2.0.1"])


def answer_rotation(script, version: str, status: str, delay_s: float = 0.0) -> list[str]:
    """The charger answers the password change with `status` (after `delay_s`); returns the
    passwords it was sent."""
    sent: list[str] = []

    async def answer(payload: dict) -> dict:
        if version == "1.6":
            sent.append(payload["value"])
            reply = {"status": status}
        else:
            item = payload["setVariableData"][0]
            sent.append(item["attributeValue"])
            result = {k: item[k] for k in ("component", "variable")}
            reply = {"setVariableResult": [{**result, "attributeStatus": status}]}
        await asyncio.sleep(delay_s)
        return reply

    script.charger.answer_with(ACTION[version], answer)
    return sent


async def rotate(api, version: str, timeout_s: float = 30.0):
    return await api.post(
        f"/stations/{DEMO_STATION}/commands",
        json={
            "name": "change_configuration",
            "params": {"key": KEY[version], "value": NEW},
            "timeout_s": timeout_s,
        },
    )


def answered(record: dict) -> str | None:
    """The charger's status for the password (2.0.1: the SetVariables item's)."""
    results = record["response"].get("setVariableResult")
    return results[0]["attributeStatus"] if results else record["status"]


async def boot_answer(url: str, version: str, password: str) -> str:
    """What a charger holding `password` gets: its boot status, or "Refused" (handshake)."""
    async with scripted(url, DEMO_STATION, password, version=version, boot=False) as script:
        return await script.charger.wait_boot_answer()


async def handshake(gateway, password: str) -> int:
    try:
        ws = await websockets.connect(
            f"ws://127.0.0.1:{gateway.port}/ocpp/{DEMO_STATION}",
            subprotocols=["ocpp1.6"],
            additional_headers=basic_auth_header(DEMO_STATION, password),
            open_timeout=10,
        )
    except InvalidStatus as refused:
        return refused.response.status_code
    await ws.close()
    return 101


@VERSIONS
async def test_accepted_password_admits_the_charger_and_refuses_the_old_one(
    seeded, worker, gateway, gateway_url, api, version
):
    async with scripted(gateway_url, DEMO_STATION, DEMO_PASSWORD, version=version) as script:
        sent = answer_rotation(script, version, "Accepted")
        reply = await rotate(api, version)
        assert reply.status_code == 200, reply.text
        assert answered(reply.json()) == "Accepted"
        assert sent == [NEW]
    # The charger reboots with its new password and is admitted; the old one is refused.
    assert await boot_answer(gateway_url, version, NEW) == "Accepted"
    assert await handshake(gateway, DEMO_PASSWORD) == 401
    assert await handshake(gateway, NEW) == 101


@VERSIONS
async def test_refused_password_keeps_the_old_one(
    seeded, worker, gateway, gateway_url, api, version
):
    async with scripted(gateway_url, DEMO_STATION, DEMO_PASSWORD, version=version) as script:
        answer_rotation(script, version, "Rejected")
        reply = await rotate(api, version)
        assert reply.status_code == 200, reply.text
        assert answered(reply.json()) == "Rejected"
    assert await boot_answer(gateway_url, version, DEMO_PASSWORD) == "Accepted"
    assert await handshake(gateway, NEW) == 401


@pytest.mark.parametrize(
    ("version", "status", "delay_s", "outcome"),
    [("1.6", "Accepted", 3.0, "timeout"), ("2.0.1", "RebootRequired", 0.0, "ok")],
    ids=["1.6-answer-lost", "2.0.1-reboot-required"],
)
async def test_unsettled_password_is_proven_by_the_chargers_next_login(
    seeded, worker, gateway, gateway_url, api, version, status, delay_s, outcome
):
    """Whether the charger took the password is not known yet (its answer was lost, or it
    takes it at its next reboot): both passwords admit it until it logs in with the new one;
    from then on only the new one does."""
    async with scripted(gateway_url, DEMO_STATION, DEMO_PASSWORD, version=version) as script:
        answer_rotation(script, version, status, delay_s)
        reply = await rotate(api, version, timeout_s=1.0)
        assert reply.json()["outcome"] == outcome, reply.text
    assert await handshake(gateway, DEMO_PASSWORD) == 101  # not rebooted yet: still its own
    assert await boot_answer(gateway_url, version, NEW) == "Accepted"
    assert await handshake(gateway, DEMO_PASSWORD) == 401
    assert await handshake(gateway, NEW) == 101
