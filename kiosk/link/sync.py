"""The kiosk's link to the back office (``[mqtt] enabled``): a :class:`~cloud_sync.device.DeviceSync` built
from :class:`~kiosk.config.KioskConfig`, its birth certificate, the commands the kiosk answers, and the
supervised worker that runs it.

- :func:`birth_payload`: software version, the models loaded, capabilities (``expression`` only when the
  privacy mode lets the kiosk read expressions at all, ``offers`` with a catalogue, ``cmd:<name>`` for each
  command handled) and :func:`config_hash`.
- :func:`command_handlers`: ``staff_ack`` (the back office acknowledges a staff call: ``{"call_id": ...}``,
  the ``call_id`` of the :class:`~mqtt_bridge.contract.events.StaffCall` event) and ``maintenance`` (``{"on":
  true|false}``).
  Both are idempotent: a call already acknowledged is refused with a reason and nothing changes; switching
  maintenance to the state it is in changes nothing. Neither needs a signature (they are not in
  ``[mqtt.commands] signed_commands``); every command still needs a fresh nonce and an expiry.
- Other packages add handlers through ``extra_handlers`` of :func:`build_device_sync`.
- :func:`attach_catalogue_sync`: the store's signed catalogue releases (retained on
  ``{prefix}/{store}/catalogue``) are installed by :mod:`kiosk.link.catalogue_sync` and swapped into the offer
  engine and the screen.
- :class:`SyncWorker`: started first and stopped last by the :class:`~kiosk.app.workers.Supervisor`, so every
  event the writer commits reaches the outbox; on stop it waits up to ``[outbox] drain_on_stop_s`` for the
  broker to acknowledge what is left, then publishes the retained ``stopped`` status and disconnects. A
  broker that is down never stops the kiosk: the transport reconnects with backoff and events wait in the
  outbox.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from cloud_sync.device import DeviceSync
from kiosk import __version__
from kiosk.config import KioskConfig
from kiosk.link.catalogue_sync import CatalogueInstaller, CatalogueListener
from mqtt_bridge.commands import CommandProcessor, CommandRefusedError, Handler
from mqtt_bridge.contract.catalogue import Catalogue
from mqtt_bridge.contract.payloads import BirthPayload, CommandEnvelope
from mqtt_bridge.contract.topics import DeviceTopics
from mqtt_bridge.transport import InboundMessage

log = logging.getLogger(__name__)


class KioskControl(Protocol):
    """What the back office's commands act on (the composition root, or the scripted demo)."""

    def acknowledge_staff(self, call_id: str) -> bool:
        """Acknowledge an open staff call; False when no call with that id is open."""
        ...

    def set_maintenance(self, on: bool) -> None:
        """Switch maintenance mode on or off (idempotent)."""
        ...

    def install_catalogue(self, catalogue: Catalogue, image_base: Path) -> None:
        """Use a catalogue the back office released (installed and verified already)."""
        ...


def config_hash(config: KioskConfig) -> str:
    """SHA-256 of the configuration's canonical JSON (sorted keys, no spaces). Secrets are references
    (an environment variable's name, a file's path) in the configuration, never values."""
    canonical = json.dumps(config.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def capabilities(config: KioskConfig, *, offers: bool, commands: Mapping[str, object]) -> list[str]:
    """What this kiosk can do, for the birth certificate."""
    found = []
    if config.privacy.mode != "presence_only" and config.emotion.enabled:
        found.append("expression")
    if offers:
        found.append("offers")
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
    """The retained birth certificate: software and model versions, capabilities, configuration hash."""
    return BirthPayload(
        software_version=__version__,
        models=dict(models),
        capabilities=capabilities(config, offers=offers, commands=commands),
        config_hash=config_hash(config),
        protocol=config.mqtt.protocol,
        ts=now or datetime.now(UTC),
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


def command_handlers(control: KioskControl) -> dict[str, Handler]:
    """The commands every kiosk answers: ``staff_ack`` and ``maintenance``."""
    return {"staff_ack": _staff_ack(control), "maintenance": _maintenance(control)}


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
        processor = CommandProcessor(config.mqtt.commands, handlers, lambda: datetime.now(UTC))
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
            control.install_catalogue(result.catalogue, result.image_base)

    sync.listen(*listener.subscription, on_release)
    return installer


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
        self.sync.stop()
