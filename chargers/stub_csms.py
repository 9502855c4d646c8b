"""A minimal CSMS for measuring the chargers alone (`python -m chargers.bench`): it accepts every
station and answers every CALL with a fixed, schema-valid answer. Not a CSMS: no auth, no state
beyond a transaction counter. Run it in its own process so its CPU is not counted."""

from __future__ import annotations

import asyncio
import itertools
import sys
from datetime import UTC, datetime

import orjson
from websockets.asyncio.server import serve

_ids = itertools.count(1)


def _answer(action: str, heartbeat_s: int) -> dict:
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if action == "BootNotification":
        return {"status": "Accepted", "currentTime": now, "interval": heartbeat_s}
    if action == "Heartbeat":
        return {"currentTime": now}
    if action == "Authorize":
        return {"idTagInfo": {"status": "Accepted"}, "idTokenInfo": {"status": "Accepted"}}
    if action == "StartTransaction":
        return {"transactionId": next(_ids), "idTagInfo": {"status": "Accepted"}}
    if action == "StopTransaction":
        return {"idTagInfo": {"status": "Accepted"}}
    if action == "TransactionEvent":
        return {"idTokenInfo": {"status": "Accepted"}}
    return {}


async def main(port: int, heartbeat_s: int) -> None:
    async def handler(ws) -> None:
        v201 = ws.subprotocol == "ocpp2.0.1"
        async for raw in ws:
            frame = orjson.loads(raw)
            if frame[0] == 2:
                answer = _answer(frame[2], heartbeat_s)
                if v201:
                    answer.pop("idTagInfo", None)
                else:
                    answer.pop("idTokenInfo", None)
                await ws.send(orjson.dumps([3, frame[1], answer]).decode())

    async with serve(
        handler,
        "127.0.0.1",
        port,
        subprotocols=["ocpp1.6", "ocpp2.0.1"],
        ping_interval=None,
        compression=None,
        backlog=4096,
    ):
        print("ready", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
