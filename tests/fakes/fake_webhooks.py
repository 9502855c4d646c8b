"""Webhook delivery for the fake Stripe: once `FakeStripe.send_webhooks(url, secret)` is called,
every event it records from then on is POSTed to `url`, signed like Stripe's (`Stripe-Signature`
with `secret`), in order, from a background thread; an answer other than 2xx (or no answer) is
retried a few times, as Stripe retries. `deliveries` lists each attempt."""

from __future__ import annotations

import hashlib
import hmac
import json
import queue
import threading
import time
import urllib.error
import urllib.request
from typing import Any

ATTEMPTS = 5
BACKOFF_S = 0.5


class WebhookSender:
    """Posts events to one endpoint, in order, retrying failures."""

    def __init__(self, url: str, secret: str) -> None:
        self.url, self.secret = url, secret
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._lock = threading.Lock()
        self._deliveries: list[dict[str, Any]] = []
        self._thread = threading.Thread(target=self._run, name="fake-stripe-webhooks", daemon=True)
        self._thread.start()

    def send(self, event: dict[str, Any]) -> None:
        self._queue.put(event)

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    @property
    def deliveries(self) -> list[dict[str, Any]]:
        """Every attempt: `{"event_id", "type", "status"}` (status 0: no answer)."""
        with self._lock:
            return list(self._deliveries)

    def _run(self) -> None:
        while (event := self._queue.get()) is not None:
            payload = json.dumps(event).encode()
            for attempt in range(ATTEMPTS):
                status = self._post(payload)
                with self._lock:
                    self._deliveries.append(
                        {"event_id": event["id"], "type": event["type"], "status": status}
                    )
                if 200 <= status < 300:
                    break
                time.sleep(BACKOFF_S * (attempt + 1))

    def _post(self, payload: bytes) -> int:
        stamp = int(time.time())
        mac = hmac.new(self.secret.encode(), f"{stamp}.".encode() + payload, hashlib.sha256)
        request = urllib.request.Request(
            self.url,
            data=payload,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "Stripe-Signature": f"t={stamp},v1={mac.hexdigest()}",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return answer.status
        except urllib.error.HTTPError as err:
            return err.code
        except OSError:
            return 0
