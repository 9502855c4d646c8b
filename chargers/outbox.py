"""Transaction messages, in order, exactly as a charger must deliver them.

Every transaction-related CALL (1.6 StartTransaction / MeterValues / StopTransaction, 2.0.1
TransactionEvent) goes through the outbox: sent in order, one at a time; kept while the charger is
offline and replayed after the next accepted boot; retried when unanswered or refused
(`TransactionMessageAttempts` / `MessageAttemptsTransactionEvent` times, waiting the retry
interval times the attempt), then given up (journal `given_up`). The worker task exists only
while there is something to send.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from websockets.exceptions import ConnectionClosed

from chargers.connector import Transaction
from chargers.rpc import CallError, CallTimeout
from chargers.schemas import SchemaError

if TYPE_CHECKING:
    from chargers.charger import Charger


@dataclass
class Outgoing:
    action: str
    payload: dict
    tx: Transaction | None = None
    on_result: Callable[[dict], None] | None = None
    future: asyncio.Future | None = None
    attempts: int = 0
    queued_offline: bool = False
    extra: dict = field(default_factory=dict)


class Outbox:
    def __init__(self, charger: Charger) -> None:
        self.charger = charger
        self.queue: collections.deque[Outgoing] = collections.deque()
        self._worker: asyncio.Task | None = None

    def __len__(self) -> int:
        return len(self.queue)

    def put(self, message: Outgoing) -> asyncio.Future:
        """Queue `message`; the future gets the answer payload (None if given up or dropped)."""
        message.future = asyncio.get_running_loop().create_future()
        charger = self.charger
        if not charger.online and not charger.config.behaviour.offline_queue:
            charger.journal.write("dropped", action=message.action, why="offline, no queue")
            message.future.set_result(None)
            return message.future
        message.queued_offline = not charger.online
        self.queue.append(message)
        if self._worker is None or self._worker.done():
            self._worker = charger.spawn(self._work())
        return message.future

    async def _work(self) -> None:
        charger = self.charger
        while self.queue:
            await charger.wait_online()
            message = self.queue[0]
            payload = charger.protocol.prepare(message)
            if payload is None:
                self._finish(message, None, "no transaction id")
                continue
            rpc = charger.rpc
            try:
                if rpc is None:
                    raise ConnectionClosed(None, None)
                result = await rpc.call(
                    message.action,
                    payload,
                    duplicate=charger.config.behaviour.duplicate_message_ids,
                )
            except ConnectionClosed:
                await asyncio.sleep(0.05)  # replayed after the next boot
                continue
            except SchemaError as err:
                charger.journal.write("bug", action=message.action, error=str(err))
                self._finish(message, None, str(err))
                continue
            except (CallError, CallTimeout) as err:
                message.attempts += 1
                retry = charger.config.behaviour.retry_transaction_messages
                if retry and message.attempts < max(charger.settings.number("tx_attempts"), 1):
                    charger.journal.write("retry", action=message.action, attempt=message.attempts)
                    await charger.clock.sleep(
                        charger.settings.number("tx_retry_s") * message.attempts
                    )
                    continue
                self._finish(message, None, str(err))
                continue
            self.queue.popleft()
            if message.on_result is not None:
                message.on_result(result)
            assert message.future is not None
            if not message.future.done():
                message.future.set_result(result)

    def _finish(self, message: Outgoing, result: dict | None, why: str) -> None:
        self.queue.popleft()
        self.charger.journal.write("given_up", action=message.action, why=why)
        if message.future is not None and not message.future.done():
            message.future.set_result(result)
