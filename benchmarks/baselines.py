"""Baseline servers measured beside the gateway, each run as its own process.

- `echo`: a raw `websockets` server answering every CALL with an empty CALLRESULT (no parsing
  beyond the id, no validation) — the ceiling for this machine's WebSocket stack.
- `ocpp`: a bare `ocpp`-library central system (its default schema validation on) answering
  Heartbeat and MeterValues.

Usage: python -m benchmarks.baselines echo|ocpp PORT
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime

import websockets
from websockets.asyncio.server import serve


async def echo(port: int) -> None:
    async def handler(ws) -> None:
        async for raw in ws:
            # [2,"id",...] -> [3,"id",{}]: find the id without a full parse.
            start = raw.index('"') + 1
            unique_id = raw[start : raw.index('"', start)]
            await ws.send(f'[3,"{unique_id}",{{}}]')

    async with serve(
        handler, "127.0.0.1", port, subprotocols=["ocpp1.6"], compression=None, max_size=65536
    ):
        await asyncio.Future()


async def ocpp_central(port: int) -> None:
    from ocpp.routing import on
    from ocpp.v16 import ChargePoint, call_result

    class Central(ChargePoint):
        @on("Heartbeat")
        def heartbeat(self):
            return call_result.Heartbeat(current_time=datetime.now(UTC).isoformat())

        @on("MeterValues")
        def meter_values(self, connector_id, meter_value, **_):
            return call_result.MeterValues()

    async def handler(ws) -> None:
        station = Central(ws.request.path.rsplit("/", 1)[-1], ws)
        try:
            await station.start()
        except websockets.ConnectionClosed:
            pass

    import logging

    logging.getLogger("ocpp").setLevel(logging.WARNING)
    async with serve(handler, "127.0.0.1", port, subprotocols=["ocpp1.6"], compression=None):
        await asyncio.Future()


if __name__ == "__main__":
    kind, port = sys.argv[1], int(sys.argv[2])
    asyncio.run(echo(port) if kind == "echo" else ocpp_central(port))
