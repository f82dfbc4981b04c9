"""The kiosk renews its own certificate: a supervised worker, never in the frame loop's way.

Every ``[identity] renew_check_s`` (and once shortly after start) :class:`RenewalWorker` reads the identity
folder; when the certificate expires within ``[identity] renew_before_days`` it asks the fleet for a new one
through the device-side renewal client (``renew``: :class:`cloud_sync.renewal.RenewalClient` over the
kiosk's own connection, :func:`attach_renewal`), in its own thread, which the supervisor restarts if it
crashes; the frame loop never waits for it. A failed renewal is logged with its reason and tried again at
the next check; the old certificate stays in use until then (renewal starts 30 days early, so there are
many tries). A renewed identity is installed by the client (the identity folder's ``current`` switches
atomically); the running connection still uses the old folder's files, which stay valid until their own
expiry, so the kiosk takes the new identity at its next start. :meth:`RenewalWorker.restart_due` says
when that start should be brought forward: under systemd (which restarts the kiosk: ``Restart=always``) at
the next quiet moment, so that the old certificate never runs out on a kiosk that is never restarted.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from cloud_sync.device import DeviceSync
from cloud_sync.renewal import RenewalClient
from mqtt_bridge.identity import IdentityError, IdentityFolder, VerifiedIdentity

log = logging.getLogger(__name__)

#: The renewal client: the identity in use and the time now -> the renewed identity, installed as current.
#: Raises on failure (its message says why).
Renew = Callable[[VerifiedIdentity, datetime], VerifiedIdentity]


class RenewalWorker:
    """Checks the certificate's expiry and renews it in time (module docstring). Thread-safe reads."""

    name = "renewal"

    def __init__(
        self,
        folder: IdentityFolder,
        renew: Renew,
        *,
        now: Callable[[], datetime],
        renew_before_days: float,
        check_every_s: float,
        first_check_s: float = 30.0,
    ) -> None:
        self._folder = folder
        self._renew = renew
        self._now = now
        self._before_days = renew_before_days
        self._every_s = check_every_s
        self._first_s = min(first_check_s, check_every_s)
        self._lock = threading.Lock()
        self.renewals = 0
        self.failures = 0
        self.last_error = ""
        #: Set once a renewed identity is installed: the running connection still uses the old one.
        self.renewed = threading.Event()

    def run(self, stop: threading.Event) -> None:
        """Check now and then until ``stop``."""
        wait_s = self._first_s
        while not stop.wait(wait_s):
            self.check(stop)
            wait_s = self._every_s

    def _call_renew(
        self, identity: VerifiedIdentity, now: datetime, stop: threading.Event
    ) -> VerifiedIdentity:
        """The client's blocking call, in a thread of its own, so that ``stop`` is heeded at once (the
        kiosk's shutdown never waits for a renewal reply); an abandoned call ends at its own timeout."""
        outcome: list[VerifiedIdentity | BaseException] = []

        def call() -> None:
            try:
                outcome.append(self._renew(identity, now))
            except Exception as exc:  # handed to the worker's thread below
                outcome.append(exc)

        caller = threading.Thread(target=call, name="renewal-call", daemon=True)
        caller.start()
        while caller.is_alive():
            if stop.wait(0.1):
                raise InterruptedError("the kiosk is stopping")
        result = outcome[0]
        if isinstance(result, BaseException):
            raise result
        return result

    def check(self, stop: threading.Event | None = None) -> bool:
        """One look at the certificate; renew when due. Returns True when it renewed now."""
        now = self._now()
        try:
            identity = self._folder.load(now)
        except IdentityError as exc:
            self._failed(f"cannot read the identity to renew it: {exc}")
            return False
        days = identity.days_left(now)
        if days >= self._before_days:
            log.debug("certificate of %s: %.1f days left, no renewal yet", identity.name, days)
            return False
        log.info("certificate of %s expires in %.1f days: renewing", identity.name, days)
        try:
            renewed = self._call_renew(identity, now, stop or threading.Event())
        except InterruptedError:
            log.info("renewal abandoned: the kiosk is stopping (it is tried again after the next start)")
            return False
        except Exception as exc:  # the client's failures are many (link, refusal, timeout): tried again later
            self._failed(f"renewal of {identity.name} failed: {exc}; trying again in {self._every_s:.0f} s")
            return False
        with self._lock:
            self.renewals += 1
            self.last_error = ""
        self.renewed.set()
        log.info(
            "certificate of %s renewed: valid until %s; used from the kiosk's next start",
            renewed.name,
            renewed.expires_at.isoformat(timespec="seconds"),
        )
        return True

    def _failed(self, reason: str) -> None:
        with self._lock:
            self.failures += 1
            self.last_error = reason
        log.warning("%s", reason)


def attach_renewal(
    folder: IdentityFolder,
    sync: DeviceSync,
    *,
    now: Callable[[], datetime],
    renew_before_days: float,
    check_every_s: float,
) -> RenewalWorker:
    """A renewal worker that renews over the kiosk's own link (:class:`cloud_sync.renewal.RenewalClient`):
    a second connection under the device's certificate would take the kiosk's session over. The reply
    topic is listened to on ``sync``, so call this before ``sync`` starts."""
    client = RenewalClient(folder, sync.topics, sync.transport.publish, now)
    sync.listen(client.reply_topic, 1, lambda message: client.handle(message.payload))
    return RenewalWorker(
        folder, client.renew, now=now, renew_before_days=renew_before_days, check_every_s=check_every_s
    )
