"""Escalations posted to a webhook: JSON over HTTP (httpx), each POST with a timeout, a bounded number of
attempts with a doubling wait between them, then given up (logged and counted).

The escalation check hands posts over through a bounded queue (:data:`QUEUE_SIZE`); when it is full the new
post is dropped and counted (``dropped``): escalations are shown on the staff page whatever happens here.
One thread (``web-webhook``) posts them in order.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import Counter
from collections.abc import Callable
from typing import Final

import httpx
from pydantic import BaseModel, ConfigDict, Field

logger = logging.getLogger(__name__)

QUEUE_SIZE: Final = 1000


class Escalation(BaseModel):
    """What the webhook receives (``application/json``) for a staff call unacknowledged too long."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str = Field(default="vitrina.staff_call.escalated", description="What this message is.")
    call_id: str = Field(description="The staff call's id.")
    store_id: str = Field(description="Store of the screen that raised it.")
    device_id: str = Field(description="The screen that raised it.")
    zone: str = Field(description="Where in the store the screen stands.")
    reason: str = Field(description="negative_valence or shopper_request.")
    raised_at: str = Field(description="When the back office received the call (ISO 8601, UTC).")
    waiting_s: float = Field(description="Seconds it has waited unacknowledged.")
    url: str = Field(default="", description="The staff page, where it can be acknowledged.")


class WebhookPoster:
    """Posts :class:`Escalation` s to one URL in the background."""

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float,
        attempts: int,
        backoff_s: float,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], bool] | None = None,
    ) -> None:
        """``transport``: httpx's (tests pass a mock transport); ``sleep``: waits between attempts and
        returns True when stopping (default: the stop event's wait)."""
        self.url = url
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.counters: Counter[str] = Counter()
        self._queue: queue.Queue[Escalation] = queue.Queue(maxsize=QUEUE_SIZE)
        self._stop = threading.Event()
        self._sleep = sleep or self._stop.wait
        self._client = httpx.Client(timeout=timeout_s, transport=transport)
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the posting thread."""
        self._thread = threading.Thread(target=self._run, name="web-webhook", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop after the post in progress (waiting ones are dropped and counted)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        self.counters["dropped"] += self._queue.qsize()
        self._client.close()

    def submit(self, escalation: Escalation) -> bool:
        """Queue a post; False (counted as ``dropped``) when the queue is full."""
        try:
            self._queue.put_nowait(escalation)
        except queue.Full:
            self.counters["dropped"] += 1
            logger.warning("escalation of call %s not posted: the webhook queue is full", escalation.call_id)
            return False
        return True

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                escalation = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            self.post(escalation)

    def post(self, escalation: Escalation) -> bool:
        """POST one escalation with retries; True when the receiver answered 2xx."""
        wait = self.backoff_s
        for attempt in range(1, self.attempts + 1):
            try:
                response = self._client.post(self.url, json=escalation.model_dump(mode="json"))
                if response.is_success:
                    self.counters["posted"] += 1
                    return True
                problem = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            self.counters["failed_attempts"] += 1
            if attempt < self.attempts:
                logger.info(
                    "webhook attempt %d for call %s failed (%s)", attempt, escalation.call_id, problem
                )
                if self._sleep(wait):
                    break
                wait *= 2
            else:
                logger.warning(
                    "gave up posting the escalation of call %s to the webhook after %d attempts (%s); check "
                    "webhook_url and the receiver",
                    escalation.call_id,
                    self.attempts,
                    problem,
                )
        self.counters["given_up"] += 1
        return False
