"""Broker connection settings: the ``[mqtt]`` section of the kiosk's configuration.

Secrets never appear in the configuration file itself: it names an environment variable or a file that
holds them, and they are read only when the connection is made (:meth:`SecretRef.resolve`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from mqtt_bridge.errors import BrokerUrlError, SecretUnavailableError


class SecretRef(BaseModel):
    """Where a secret lives: an environment variable or a file, never the configuration itself."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    env: str | None = Field(default=None, description="Name of the environment variable holding the secret.")
    file: Path | None = Field(
        default=None, description="Path of a file holding the secret (trailing newline ignored)."
    )

    @model_validator(mode="after")
    def _exactly_one_source(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError("give exactly one of 'env' (an environment variable) or 'file' (a path)")
        return self

    def resolve(self) -> SecretStr:
        """Read the secret now. Raises :class:`SecretUnavailableError` naming where it looked."""
        if self.env is not None:
            value = os.environ.get(self.env)
            if value is None:
                raise SecretUnavailableError(
                    f"environment variable {self.env} is not set; export it before starting, "
                    'or point the configuration at a file with `file = "/path/to/secret"`'
                )
            return SecretStr(value)
        assert self.file is not None
        try:
            return SecretStr(self.file.read_text(encoding="utf-8").rstrip("\r\n"))
        except OSError as exc:
            raise SecretUnavailableError(
                f"cannot read secret file {self.file}: {exc.strerror}; check the path and its permissions"
            ) from exc


class TlsSettings(BaseModel):
    """TLS towards the broker: the broker verified by a CA, optionally a client certificate (mutual TLS)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ca_file: Path = Field(description="CA certificate (PEM) that signed the broker's certificate.")
    cert_file: Path | None = Field(
        default=None, description="Client certificate (PEM) for mutual TLS; set together with key_file."
    )
    key_file: Path | None = Field(default=None, description="Private key (PEM) of the client certificate.")
    key_password: SecretRef | None = Field(
        default=None, description="Where the client key's passphrase lives, if the key is encrypted."
    )

    @model_validator(mode="after")
    def _cert_and_key_together(self) -> TlsSettings:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("set both cert_file and key_file for mutual TLS, or neither")
        return self


class CommandSettings(BaseModel):
    """Inbound commands from the back office: the ``[mqtt.commands]`` section."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(default=True, description="Subscribe to cmd/+ and act on valid commands.")
    public_keys: list[str] = Field(
        default_factory=list,
        description="The back office's Ed25519 public keys (raw 32 bytes, base64url); a signed command must "
        "verify under one of them. Empty: every command that needs a signature is refused.",
    )
    unsigned_commands: list[str] = Field(
        default_factory=list,
        description="Commands accepted without a signature (a test bench without a back-office key only). "
        "Empty, the default: every command must carry a valid Ed25519 signature, and any command still "
        "needs a fresh nonce and an expiry.",
    )
    max_payload_bytes: int = Field(
        default=64 * 1024, ge=256, le=1024 * 1024, description="Larger commands are refused unread."
    )
    max_clock_skew_s: float = Field(
        default=120.0, ge=0, description="Tolerance for a command issued slightly in the future (clock skew)."
    )
    max_lifetime_s: float = Field(
        default=24 * 3600.0,
        gt=0,
        description="Refuse commands whose expiry is further than this after issue.",
    )
    nonce_cache_size: int = Field(
        default=10_000, ge=100, description="Nonces remembered to refuse replays (oldest forgotten first)."
    )
    ledger_path: Path | None = Field(
        default=None,
        description="SQLite file remembering nonces and applied commands across restarts, so a captured "
        "command is never applied twice. Absent: the kiosk keeps it in [storage] data_dir "
        "(commands.sqlite).",
    )

    @model_validator(mode="after")
    def _unsigned_names(self) -> CommandSettings:
        if "*" in self.unsigned_commands:
            raise ValueError(
                "unsigned_commands takes command names, not '*'; sign commands with "
                "`backoffice send-command --key KEY` instead of switching signing off"
            )
        return self


class BrokerSettings(BaseModel):
    """How the device reaches its MQTT broker."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(
        default=False, description="Publish telemetry to a broker. Off: events stay in the local store only."
    )
    host: str = Field(default="127.0.0.1", description="Broker host name or address.")
    port: int = Field(default=1883, ge=1, le=65535, description="Broker port (1883 plain, 8883 usually TLS).")
    protocol: Literal["5", "3.1.1"] = Field(
        default="5",
        description="MQTT protocol version; '5' falls back to '3.1.1' when the broker refuses it.",
    )
    keepalive_s: int = Field(default=30, ge=5, le=3600, description="Keep-alive interval in seconds.")
    topic_prefix: str = Field(
        default="vitrina/v1", description="Prefix of every topic; the device adds /{store}/{device}/..."
    )
    username: str | None = Field(default=None, description="User name, when the broker uses passwords.")
    password: SecretRef | None = Field(
        default=None, description="Where the password lives (an environment variable or a file)."
    )
    tls: TlsSettings | None = Field(
        default=None, description="TLS settings; absent means a plain connection."
    )
    reconnect_min_s: float = Field(default=1.0, gt=0, description="First reconnect delay, in seconds.")
    reconnect_max_s: float = Field(
        default=4.0,
        gt=0,
        le=60,
        description="Longest reconnect delay, in seconds (jittered between reconnect_min_s and this): the "
        "default brings a kiosk back within 5 s of its broker's return.",
    )
    commands: CommandSettings = Field(
        default_factory=CommandSettings,
        description="Inbound commands from the back office ([mqtt.commands]): keys, signing, limits.",
    )

    @model_validator(mode="after")
    def _backoff_in_order(self) -> BrokerSettings:
        if self.reconnect_min_s > self.reconnect_max_s:
            raise ValueError(
                f"reconnect_min_s ({self.reconnect_min_s}) is above reconnect_max_s "
                f"({self.reconnect_max_s}); make reconnect_min_s the smaller one"
            )
        return self


def broker_settings_from_url(
    url: str, *, ca_file: Path | None = None, password_env: str | None = None
) -> BrokerSettings:
    """``mqtt://[user@]host[:port]`` or ``mqtts://...`` (TLS, needs ``ca_file``) -> enabled BrokerSettings.

    Raises :class:`~mqtt_bridge.errors.BrokerUrlError` naming the option to fix (``--broker``, ``--ca-file``).
    """
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise BrokerUrlError(f"{url!r}: use mqtt://host:1883 or mqtts://host:8883")
    try:
        port = parts.port
    except ValueError:
        raise BrokerUrlError(f"{url!r}: the port must be a number from 1 to 65535") from None
    tls = None
    if parts.scheme == "mqtts":
        if ca_file is None:
            raise BrokerUrlError("an mqtts:// broker needs --ca-file", option="--ca-file")
        tls = TlsSettings(ca_file=ca_file)
    return BrokerSettings(
        enabled=True,
        host=parts.hostname,
        port=port or (8883 if tls else 1883),
        username=parts.username,
        password=SecretRef(env=password_env) if password_env else None,
        tls=tls,
    )
