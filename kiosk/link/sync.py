"""The kiosk's link to the back office (``[mqtt] enabled``): a :class:`~cloud_sync.device.DeviceSync` built
from :class:`~kiosk.config.KioskConfig`, its birth certificate, the commands the kiosk answers, and the
supervised worker that runs it.

- :func:`birth_payload`: software version, the models that actually loaded (the detector's ``models``),
  capabilities from what runs, not what was configured (``expression`` only when the emotion model loaded
  and the privacy mode lets the kiosk read expressions, ``offers`` with a catalogue, ``chat`` with the FAQ
  assistant on, ``cmd:<name>`` for each command handled) and
  :meth:`KioskConfig.config_hash <kiosk.config.KioskConfig.config_hash>` (the hash ``kiosk validate-config``
  prints).
- :func:`command_handlers`: ``staff_ack`` (the back office acknowledges a staff call: ``{"call_id": ...}``,
  the ``call_id`` of the :class:`~mqtt_bridge.contract.events.StaffCall` event) and ``maintenance`` (``{"on":
  true|false}``).
  Both are idempotent: a call already acknowledged is refused with a reason and nothing changes; switching
  maintenance to the state it is in changes nothing. Both must be signed by the back office
  (``backoffice send-command --key KEY``; the public key in ``[mqtt.commands] public_keys``) and carry a
  fresh nonce and an expiry. The nonces and applied command ids are kept on disk, in ``[mqtt.commands]
  ledger_path`` or else ``commands.sqlite`` in ``[storage] data_dir``, so a captured command replayed
  after a restart is not applied again.
- ``redeem`` (``{"code": "XXXX-XXXX-XXXX-XXXX"}``): a till redeemed one of this device's codes (the back
  office verified it and recorded it once); the kiosk rewards the arm of the tap that issued it, once, and
  records ``offer_redeemed`` with that arm. A code this device does not hold, or redeemed already, is
  refused with a reason; the back office resends one command id until it gets an answer, and the command
  ledger answers a repeat ``duplicate``.
- Other packages add handlers through ``extra_handlers`` of :func:`build_device_sync`.
- :func:`attach_catalogue_sync`: the store's signed catalogue releases (retained on
  ``{prefix}/{store}/catalogue``) are installed by :mod:`kiosk.link.catalogue_sync` and swapped into the offer
  engine and the screen.
- :class:`SyncWorker`: started first and stopped last by the :class:`~kiosk.app.workers.Supervisor`, so every
  event the writer commits reaches the outbox; on stop it waits up to ``[outbox] drain_on_stop_s`` for the
  broker to acknowledge what is left, then publishes the retained ``stopped`` status and disconnects. A
  broker that is down never stops the kiosk: the transport reconnects with backoff and events wait in the
  outbox. :meth:`SyncWorker.status` is the link's state (:class:`LinkStatus`) for the run summary and
  health; every connection change is logged.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from cloud_sync.device import DeviceSync
from kiosk import __version__
from kiosk.config import KioskConfig
from kiosk.link.catalogue_sync import CatalogueInstaller, CatalogueListener
from mqtt_bridge.commands import CommandProcessor, CommandRefusedError, Handler, SqliteLedger
from mqtt_bridge.contract.catalogue import Catalogue
from mqtt_bridge.contract.payloads import BirthPayload, CommandEnvelope
from mqtt_bridge.contract.redemption import REDEEM_COMMAND, normalise
from mqtt_bridge.contract.topics import DeviceTopics
from mqtt_bridge.transport import InboundMessage

log = logging.getLogger(__name__)

#: The command ledger's file in ``[storage] data_dir`` when ``[mqtt.commands] ledger_path`` is absent.
LEDGER_NAME = "commands.sqlite"


class KioskControl(Protocol):
    """What the back office's commands act on (the composition root, or the scripted demo)."""

    def acknowledge_staff(self, call_id: str) -> bool:
        """Acknowledge an open staff call; False when no call with that id is open."""
        ...

    def set_maintenance(self, on: bool) -> None:
        """Switch maintenance mode on or off (idempotent)."""
        ...

    def install_catalogue(self, catalogue: Catalogue, image_base: Path, version: int | None = None) -> None:
        """Use a catalogue the back office released (installed and verified already), its ``version``."""
        ...

    def redeem(self, code: str) -> str | None:
        """Reward the arm of the tap that issued ``code``, once; the arm ('' for none), or None when this
        device does not hold the code or it was redeemed already."""
        ...


def capabilities(
    config: KioskConfig, *, models: Mapping[str, str], offers: bool, commands: Mapping[str, object]
) -> list[str]:
    """What this kiosk can do now, for the birth certificate: ``models`` are the models that loaded (a
    refused or unloaded emotion model means no ``expression``, whatever the configuration asked). The
    emotion model counts in whichever variant loaded (``[perception] variant`` may swap int8 for float)."""
    from edge_models.calibration import family_of

    found = []
    emotion = family_of(config.emotion.model)
    if config.privacy.mode != "presence_only" and any(family_of(name) == emotion for name in models):
        found.append("expression")
    if offers:
        found.append("offers")
    if config.assistant.enabled:
        found.append("chat")  # the FAQ assistant, and operator chats over chat/operator
    if config.mqtt.commands.enabled:
        found.extend(f"cmd:{name}" for name in sorted(commands))
    return found


def birth_payload(
    config: KioskConfig,
    *,
    models: Mapping[str, str],
    offers: bool,
    commands: Mapping[str, object],
    now: datetime | None = None,
) -> BirthPayload:
    """The retained birth certificate: software and model versions, capabilities, configuration hash, and
    the consent mode (``[privacy] mode``).
    ``models``: what loaded (name -> version), e.g. the detector's ``models``; ``now``: the time stamped
    until the first connection restamps it."""
    return BirthPayload(
        software_version=__version__,
        models=dict(models),
        capabilities=capabilities(config, models=models, offers=offers, commands=commands),
        config_hash=config.config_hash(),
        protocol=config.mqtt.protocol,
        ts=now or datetime.now(UTC),
        privacy_mode=config.privacy.mode,
    )


def _staff_ack(control: KioskControl) -> Handler:
    def handle(command: CommandEnvelope) -> str:
        call_id = command.args.get("call_id")
        if not isinstance(call_id, str) or not call_id:
            raise CommandRefusedError('staff_ack needs args {"call_id": "<the StaffCall event\'s call_id>"}')
        if not control.acknowledge_staff(call_id):
            raise CommandRefusedError(
                f"no open staff call {call_id[:64]!r} (unknown or already acknowledged)"
            )
        return f"staff call {call_id[:64]} acknowledged"

    return handle


def _maintenance(control: KioskControl) -> Handler:
    def handle(command: CommandEnvelope) -> str:
        on = command.args.get("on")
        if not isinstance(on, bool):
            raise CommandRefusedError('maintenance needs args {"on": true} or {"on": false}')
        control.set_maintenance(on)
        return f"maintenance {'on' if on else 'off'}"

    return handle


def _redeem(control: KioskControl) -> Handler:
    def handle(command: CommandEnvelope) -> str:
        code = command.args.get("code")
        if not isinstance(code, str) or not code:
            raise CommandRefusedError('redeem needs args {"code": "<the redemption code>"}')
        arm = control.redeem(code)
        if arm is None:
            raise CommandRefusedError(
                f"code {normalise(code)[:19]} is not held by this device, or was redeemed already"
            )
        return f"code {normalise(code)[:19]} redeemed; arm {arm or '(none)'} rewarded"

    return handle


def command_handlers(control: KioskControl) -> dict[str, Handler]:
    """The commands every kiosk answers: ``staff_ack``, ``maintenance`` and ``redeem``."""
    return {
        "staff_ack": _staff_ack(control),
        "maintenance": _maintenance(control),
        REDEEM_COMMAND: _redeem(control),
    }


def build_device_sync(
    config: KioskConfig,
    control: KioskControl,
    *,
    models: Mapping[str, str],
    offers: bool,
    gauges: Callable[[], dict[str, float]] | None = None,
    extra_handlers: Mapping[str, Handler] | None = None,
) -> DeviceSync:
    """The device's sync from its configuration: ``[mqtt]``, ``[outbox]``, ``[anonymisation]``, and the
    ``metrics`` payload every ``[runtime] health_interval_s``.

    ``extra_handlers`` adds commands beyond :func:`command_handlers` (e.g. catalogue sync's ``catalogue``
    handler); a name in both is an error.
    """
    handlers = command_handlers(control)
    for name, handler in (extra_handlers or {}).items():
        if name in handlers:
            raise ValueError(f"command {name!r} has two handlers; give each command one")
        handlers[name] = handler
    processor = None
    if config.mqtt.commands.enabled:
        processor = command_processor(config, handlers)
    device = config.device
    topics = DeviceTopics(config.mqtt.topic_prefix, device.store_id, device.device_id)
    sync = DeviceSync(
        config.mqtt,
        topics,
        birth_payload(config, models=models, offers=offers, commands=handlers),
        config.outbox,
        config.anonymisation,
        metrics_interval_s=config.runtime.health_interval_s,
        gauges=gauges,
        commands=processor,
    )
    attach_catalogue_sync(sync, config, control)
    return sync


def command_processor(config: KioskConfig, handlers: Mapping[str, Handler]) -> CommandProcessor:
    """The kiosk's command processor: ``[mqtt.commands]`` with its ledger on disk (``ledger_path``, or
    :data:`LEDGER_NAME` in ``[storage] data_dir``), so replay protection survives a restart."""
    settings = config.mqtt.commands

    def clock() -> datetime:
        return datetime.now(UTC)

    path = settings.ledger_path or config.storage.data_dir / LEDGER_NAME
    return CommandProcessor(settings, handlers, clock, ledger=SqliteLedger(path, clock))


def attach_catalogue_sync(sync: DeviceSync, config: KioskConfig, control: KioskControl) -> CatalogueInstaller:
    """Listen to the store's retained catalogue topic: each release is verified with ``[mqtt.commands]
    public_keys``, installed into ``[offers] installed_dir`` (the last good one kept on any failure),
    answered on ``catalogue/result``, and once installed handed to ``control``."""
    installer = CatalogueInstaller(
        config.offers.installed_dir, config.mqtt.commands.public_keys, store_id=config.device.store_id
    )
    listener = CatalogueListener(installer, sync.topics, sync.transport, lambda: datetime.now(UTC))

    def on_release(message: InboundMessage) -> None:
        result = listener.handle(message)
        if result is not None and result.catalogue is not None and result.image_base is not None:
            control.install_catalogue(result.catalogue, result.image_base, result.version)

    sync.listen(*listener.subscription, on_release)
    return installer


@dataclass(frozen=True)
class LinkStatus:
    """The link to the broker now, for the run summary and health (:meth:`SyncWorker.status`)."""

    connected: bool  # the broker connection is up now
    connects: int  # successful connections since start
    disconnects: int  # connections lost since start
    last_error: str | None  # the latest refusal or loss reason, for a person to read
    events_delivered: int  # events the broker acknowledged (PUBACK) since start
    outbox_depth: int  # events waiting in the outbox now


class SyncWorker:
    """Runs a :class:`DeviceSync` under the supervisor: start it, watch it, drain and stop it."""

    name = "sync"

    def __init__(self, sync: DeviceSync, drain_on_stop_s: float) -> None:
        self.sync = sync
        self.drain_on_stop_s = drain_on_stop_s
        self._started = False
        self._closed = False
        #: Whether the broker connection was up when the stop began; events left in the outbox at exit.
        self.connected_at_stop: bool | None = None
        self.outbox_left: int | None = None
        self._lock = threading.Lock()
        self._final: LinkStatus | None = None  # the status at close, once the outbox is closed

    def status(self) -> LinkStatus:
        """The link's state now (thread-safe, from any thread; counter reads and one small query). After
        :meth:`close`, the state at close with ``connected`` False."""
        with self._lock:
            if self._final is not None:
                return self._final
            return self._status()

    def _status(self) -> LinkStatus:
        transport = self.sync.transport
        try:
            delivered, depth = self.sync.delivered(), self.sync.depth()
        except sqlite3.ProgrammingError:  # the outbox closed by a close() running now: its figures
            delivered, depth = self.sync.delivered(), self.sync.depth()
        return LinkStatus(
            connected=transport.connected,
            connects=transport.counters["connects"],
            disconnects=transport.counters["disconnects"],
            last_error=self.sync.monitor.last_error,
            events_delivered=delivered,
            outbox_depth=depth,
        )

    @property
    def connected(self) -> bool:
        """The broker connection is up now."""
        return self.sync.transport.connected

    def run(self, stop: threading.Event) -> None:
        """Connect (in the background: a broker that is down is retried) until ``stop``; then drain and
        disconnect with status ``stopped``. Raises when the publisher thread died (the supervisor restarts
        it)."""
        if not self._started:
            self.sync.start()
            self._started = True
        elif not self.sync.publishing:
            self.sync.resume()
        while not stop.wait(0.2):
            if not self.sync.publishing:
                raise RuntimeError("the outbox publisher stopped")
        self.connected_at_stop = self.connected
        deadline = time.monotonic() + self.drain_on_stop_s
        while not self.sync.drained() and self.connected and time.monotonic() < deadline:
            time.sleep(0.05)
        self.close()

    def close(self) -> None:
        """Publish ``stopped``, disconnect and close the outbox, once (also when :meth:`run` never got to it:
        stopped while the supervisor paused before a restart)."""
        if self._closed:
            return
        self._closed = True
        self.outbox_left = self.sync.outbox.stats().depth
        if self.outbox_left:
            log.warning("%d events left in the outbox; they are sent after the next start", self.outbox_left)
        # Not under the lock: the publisher thread that stop() joins may be reading status() (gauges).
        self.sync.stop()
        final = self._status_before_close()
        with self._lock:
            self._final = final

    def _status_before_close(self) -> LinkStatus:
        transport = self.sync.transport
        return LinkStatus(
            connected=False,
            connects=transport.counters["connects"],
            disconnects=transport.counters["disconnects"],
            last_error=self.sync.monitor.last_error,
            events_delivered=self.sync.delivered(),
            outbox_depth=self.sync.depth(),
        )
