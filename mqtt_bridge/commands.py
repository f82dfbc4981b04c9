"""Inbound commands from the back office: validated, authenticated, never replayed, idempotent.

A command arrives on ``cmd/<name>`` as a :class:`~mqtt_bridge.contract.payloads.CommandEnvelope`. The
:class:`CommandProcessor` refuses, with a reason published on ``cmd/<name>/result`` and without changing
anything, a command that is:

- larger than ``max_payload_bytes``, not JSON, or not a valid envelope (wrong types, unknown keys, ...);
- named differently from its topic, or unknown to this device;
- unsigned or badly signed: every command must carry an Ed25519 signature by one of the back office's
  ``public_keys`` over :func:`signing_bytes` (a name in ``unsigned_commands``, a test bench's escape hatch,
  may come unsigned; a signature it carries is still verified);
- expired, issued in the future (beyond ``max_clock_skew_s``), or valid for longer than ``max_lifetime_s``;
- replayed: its nonce was seen before with another command id.

A command id already applied is answered ``duplicate`` and not applied again (QoS 1 redelivery, a retry).
Nonces and applied ids live in a :class:`CommandLedger`: on disk (:class:`SqliteLedger`, ``ledger_path``) so
they survive a restart (the kiosk always gives one, by default in its data dir), or in memory.
:meth:`CommandProcessor.handle` never raises: whatever the bytes, the answer is a
:class:`~mqtt_bridge.contract.payloads.CommandResult`.
"""

from __future__ import annotations

import logging
import sqlite3
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import ValidationError
from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from mqtt_bridge.contract.errors import ContractError
from mqtt_bridge.contract.payloads import CommandEnvelope, CommandResult
from mqtt_bridge.contract.topics import DeviceTopics, parse_topic
from mqtt_bridge.errors import MqttBridgeError
from mqtt_bridge.settings import CommandSettings
from mqtt_bridge.signing import (
    b64url_decode,
    b64url_encode,
    canonical_json,
    load_public_keys,
    public_key_text,
    sign_bytes,
    signature_problem,
)
from mqtt_bridge.transport import InboundMessage, MqttTransport, drain_queue

logger = logging.getLogger(__name__)

#: Messages on a topic that does not parse that are logged one by one; after them every thousandth is.
INVALID_TOPIC_LOGGED = 10

__all__ = [
    "CommandBridge",
    "CommandLedger",
    "CommandProcessor",
    "CommandRefusedError",
    "Handler",
    "MemoryLedger",
    "SqliteLedger",
    "b64url_decode",
    "b64url_encode",
    "public_key_text",
    "sign",
    "signing_bytes",
]


class CommandRefusedError(MqttBridgeError):
    """Raised by a command handler to refuse a command; the message is the reason sent back."""


class _RefusedError(Exception):
    def __init__(self, reason: str, command_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.command_id = command_id


#: A command handler: applies the command (idempotently) and returns a short note, or raises
#: :class:`CommandRefusedError`.
Handler = Callable[[CommandEnvelope], str]


def signing_bytes(envelope: CommandEnvelope) -> bytes:
    """What is signed: the envelope's canonical JSON (sorted keys, no spaces, UTF-8) without ``signature``."""
    return canonical_json(envelope.model_dump(mode="json", exclude={"signature"}))


def sign(envelope: CommandEnvelope, key: Ed25519PrivateKey) -> CommandEnvelope:
    """The envelope with its Ed25519 signature (what the back office does)."""
    return envelope.model_copy(update={"signature": sign_bytes(signing_bytes(envelope), key)})


class CommandLedger(Protocol):
    """What the processor remembers: nonces seen (with their command) and commands applied."""

    def command_for(self, nonce: str) -> str | None:
        """The command id first seen with ``nonce``, or None."""
        ...

    def remember(self, nonce: str, command_id: str, expires_at: datetime) -> None:
        """Remember ``nonce`` for ``command_id`` (at least until ``expires_at``)."""
        ...

    def was_applied(self, command_id: str) -> bool:
        """True when ``command_id`` was applied before."""
        ...

    def mark_applied(self, command_id: str) -> None:
        """Record that ``command_id`` was applied."""
        ...


class MemoryLedger:
    """In memory, the oldest forgotten beyond ``size``. A restart forgets everything, so only expiry
    (``max_lifetime_s``) bounds how long a replay could work: use :class:`SqliteLedger` on a device."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._seen: OrderedDict[str, str] = OrderedDict()
        self._applied: OrderedDict[str, None] = OrderedDict()

    def command_for(self, nonce: str) -> str | None:
        return self._seen.get(nonce)

    def remember(self, nonce: str, command_id: str, expires_at: datetime) -> None:
        self._seen[nonce] = command_id
        while len(self._seen) > self._size:
            self._seen.popitem(last=False)

    def was_applied(self, command_id: str) -> bool:
        return command_id in self._applied

    def mark_applied(self, command_id: str) -> None:
        self._applied[command_id] = None
        while len(self._applied) > self._size:
            self._applied.popitem(last=False)


ledger_migrations = Migrations("mqtt_bridge.commands")


@ledger_migrations(name="0001_command_ledger")
def _create_ledger(db: Database) -> None:
    db.execute(
        """CREATE TABLE command_ledger (
            nonce TEXT PRIMARY KEY, command_id TEXT NOT NULL, expires_at TEXT NOT NULL,
            applied INTEGER NOT NULL DEFAULT 0)"""
    )
    db.execute("CREATE INDEX command_ledger_command ON command_ledger (command_id)")
    db.execute("CREATE INDEX command_ledger_expiry ON command_ledger (expires_at)")


class SqliteLedger:
    """On disk (SQLite, WAL), so nonces and applied commands survive a restart. Entries are pruned once
    their command has expired: an expired command is refused anyway."""

    def __init__(self, path: Path, clock: Callable[[], datetime]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._clock = clock
        self.db = Database(sqlite3.connect(str(path), check_same_thread=False))
        self.db.execute("PRAGMA journal_mode=WAL")
        ledger_migrations.apply(self.db)

    def command_for(self, nonce: str) -> str | None:
        row = self.db.execute("SELECT command_id FROM command_ledger WHERE nonce = ?", [nonce]).fetchone()
        return None if row is None else str(row[0])

    def remember(self, nonce: str, command_id: str, expires_at: datetime) -> None:
        with self.db.atomic():
            self.db.execute(
                "DELETE FROM command_ledger WHERE expires_at < ?", [self._clock().astimezone(UTC).isoformat()]
            )
            self.db.execute(
                "INSERT OR IGNORE INTO command_ledger (nonce, command_id, expires_at) VALUES (?, ?, ?)",
                [nonce, command_id, expires_at.astimezone(UTC).isoformat()],
            )

    def was_applied(self, command_id: str) -> bool:
        row = self.db.execute(
            "SELECT 1 FROM command_ledger WHERE command_id = ? AND applied = 1", [command_id]
        ).fetchone()
        return row is not None

    def mark_applied(self, command_id: str) -> None:
        self.db.execute("UPDATE command_ledger SET applied = 1 WHERE command_id = ?", [command_id])

    def close(self) -> None:
        """Close the database."""
        self.db.close()


class CommandProcessor:
    """Decides on each command; a :class:`CommandLedger` remembers nonces and the commands applied."""

    def __init__(
        self,
        settings: CommandSettings,
        handlers: Mapping[str, Handler],
        clock: Callable[[], datetime],
        ledger: CommandLedger | None = None,
    ) -> None:
        self.settings = settings
        self.handlers = dict(handlers)
        self._clock = clock
        self._keys: list[Ed25519PublicKey] = load_public_keys(
            settings.public_keys, "[mqtt.commands] public_keys"
        )
        if ledger is None:
            ledger = (
                SqliteLedger(settings.ledger_path, clock)
                if settings.ledger_path is not None
                else MemoryLedger(settings.nonce_cache_size)
            )
        self.ledger: CommandLedger = ledger
        if not self._keys and set(handlers) - set(settings.unsigned_commands):
            logger.warning(
                "[mqtt.commands] public_keys is empty: every signed command will be refused; run "
                "`backoffice keygen --out KEY` and put the public key it prints in public_keys"
            )

    def handle(self, name: str, payload: bytes) -> CommandResult:
        """Decide on a command that arrived on ``cmd/<name>``. Never raises."""
        try:
            return self._handle(name, payload)
        except Exception:  # a bug must not take the bridge down; the command is refused
            logger.exception("unexpected error handling command %r", name[:64])
            return self._result(name, None, "refused", "internal error; nothing was changed")

    def _result(self, name: str, command_id: str | None, status: str, reason: str = "") -> CommandResult:
        return CommandResult.model_validate(
            {
                "command": name[:64],
                "command_id": command_id,
                "status": status,
                "reason": reason,
                "ts": self._clock(),
            }
        )

    def _handle(self, name: str, payload: bytes) -> CommandResult:
        try:
            envelope = self._parse(name, payload)
            cid = envelope.command_id
            self._check(envelope)
            if self.ledger.was_applied(cid):
                return self._result(name, cid, "duplicate", "already applied; nothing was changed")
            if self.ledger.command_for(envelope.nonce) is not None:
                raise _RefusedError("replayed nonce", cid)
            self.ledger.remember(envelope.nonce, cid, envelope.expires_at)
            try:
                note = self.handlers[name](envelope)
            except CommandRefusedError as exc:
                raise _RefusedError(str(exc), cid) from exc
        except _RefusedError as refused:
            return self._result(name, refused.command_id, "refused", refused.reason[:200])
        self.ledger.mark_applied(cid)
        return self._result(name, cid, "applied", note[:200])

    def _parse(self, name: str, payload: bytes) -> CommandEnvelope:
        limit = self.settings.max_payload_bytes
        if len(payload) > limit:
            raise _RefusedError(f"payload larger than {limit} bytes")
        try:
            envelope = CommandEnvelope.model_validate_json(payload)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "payload"
            raise _RefusedError(f"malformed command: {where}: {first['msg']}") from None
        if envelope.name != name:
            raise _RefusedError("the command's name does not match its topic", envelope.command_id)
        if name not in self.handlers:
            raise _RefusedError(f"unknown command {name!r}", envelope.command_id)
        return envelope

    def _check(self, envelope: CommandEnvelope) -> None:
        problem = ""
        if envelope.name not in self.settings.unsigned_commands or envelope.signature is not None:
            problem = self._signature_problem(envelope)
        problem = problem or self._time_problem(envelope)
        if problem:
            raise _RefusedError(problem, envelope.command_id)

    def _signature_problem(self, envelope: CommandEnvelope) -> str:
        if envelope.signature is None:
            return "this command must be signed by the back office"
        return signature_problem(envelope.signature, signing_bytes(envelope), self._keys)

    def _time_problem(self, envelope: CommandEnvelope) -> str:
        s = self.settings
        now = self._clock()
        if envelope.expires_at <= now:
            return "expired"
        if envelope.issued_at > now + timedelta(seconds=s.max_clock_skew_s):
            return "issued in the future (check the clocks)"
        if envelope.expires_at - envelope.issued_at > timedelta(seconds=s.max_lifetime_s):
            return f"valid for longer than {s.max_lifetime_s:.0f} s"
        return ""


class CommandBridge:
    """Reads ``cmd/<name>`` messages from a transport, decides with a :class:`CommandProcessor`, publishes
    each result on ``cmd/<name>/result``. Call :meth:`step` in a loop.

    The bridge drains the transport's whole inbound queue: a message of the tree that is not a command
    (the store's catalogue, say) goes to ``other`` when given, so another consumer of the same transport
    (``kiosk.link.catalogue_sync.CatalogueListener.handle``) does not lose it.
    """

    def __init__(
        self,
        transport: MqttTransport,
        topics: DeviceTopics,
        processor: CommandProcessor,
        other: Callable[[InboundMessage], object] | None = None,
    ) -> None:
        self.transport = transport
        self.topics = topics
        self.processor = processor
        self.other = other
        transport.subscribe(topics.command_filter, qos=1)

    def step(self, wait_s: float = 0.1) -> int:
        """Handle what arrived; returns how many commands were answered."""
        answered = 0
        for message in drain_queue(self.transport.inbound, wait_s, limit=100):
            answered += self._one(message)
        return answered

    def _one(self, message: InboundMessage) -> int:
        try:
            where = parse_topic(self.topics.prefix, message.topic)
        except ContractError as exc:
            # Not a topic of the tree (the contract's TopicError, not an MqttBridgeError): whatever the
            # broker delivers under cmd/+ or a listener's subscription, it is counted and skipped, never
            # allowed to stop the bridge.
            self._invalid_topic(message.topic, exc)
            return 0
        if where.kind != "cmd" or where.command is None:
            if self.other is not None:
                self.other(message)
            return 0
        result = self.processor.handle(where.command, message.payload)
        self.transport.publish(
            self.topics.command_result(where.command), result.model_dump_json().encode(), qos=1
        )
        return 1

    def _invalid_topic(self, topic: str, exc: ContractError) -> None:
        """Count a message whose topic does not parse (``invalid_inbound_topic``) and log it: the first
        :data:`INVALID_TOPIC_LOGGED` of them, then every thousandth, so a flood cannot fill the log."""
        counters = self.transport.counters
        counters["invalid_inbound_topic"] += 1
        seen = counters["invalid_inbound_topic"]
        if seen <= INVALID_TOPIC_LOGGED or seen % 1000 == 0:
            logger.warning(
                "ignored a message on %r: %s (%d such messages so far; counted as invalid_inbound_topic)",
                topic[:200],
                exc,
                seen,
            )
