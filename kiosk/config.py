"""The kiosk's configuration: one pydantic root, :class:`KioskConfig`, loaded from TOML.

Every model forbids unknown keys and describes every field, so a typo is an error with a hint rather than
a setting silently ignored. Every field has a default: ``KioskConfig()`` is the embedded configuration
``kiosk demo`` runs on. Sections owned by another package (``[mqtt]``) are that package's own models,
composed here.
"""

from __future__ import annotations

import difflib
import hashlib
import tomllib
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import ErrorDetails, PydanticUndefined

from kiosk.errors import ConfigError, ConfigIssue
from mqtt_bridge.settings import BrokerSettings


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DeviceConfig(_Section):
    """Who this device is: it names the store and the screen in every event and topic."""

    store_id: str = Field(
        default="demo-store", pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$", description="Store identifier (slug)."
    )
    device_id: str = Field(
        default="demo-kiosk", pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$", description="Device identifier (slug)."
    )
    zone: str = Field(
        default="entrance", description="Where in the store the screen stands; sent with alerts."
    )
    timezone: str = Field(default="Europe/Moscow", description="IANA time zone for dayparts and reports.")


class LoggingConfig(_Section):
    """Where and how the kiosk logs. Frames, face crops and secrets are never logged."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Lowest level written."
    )
    format: Literal["text", "json"] = Field(
        default="text", description="'text' for people, 'json' for one JSON object a line (log shippers)."
    )
    file: Path | None = Field(
        default=None, description="Also write to this file; absent: standard error only."
    )


class CameraConfig(_Section):
    """The camera the kiosk watches through."""

    source: str = Field(
        default="0",
        description="A device index ('0'), a device path ('/dev/video0'), a video file, a folder of images, "
        "or 'picamera2'.",
    )
    width: int = Field(default=640, ge=160, le=3840, description="Requested frame width in pixels.")
    height: int = Field(default=480, ge=120, le=2160, description="Requested frame height in pixels.")
    fps: int = Field(default=30, ge=1, le=120, description="Requested frames per second.")
    loop: bool = Field(default=False, description="Start a video file again when it ends (demos).")


PrivacyMode = Literal["presence_only", "notice", "opt_in"]


class PrivacyConfig(_Section):
    """Consent and transparency for this deployment (GDPR, Russia's 152-FZ)."""

    mode: PrivacyMode = Field(
        default="notice",
        description="'presence_only': no expression reading at all; 'notice': a visible camera notice, "
        "expression read anonymously; 'opt_in': expression read only after the shopper taps to agree.",
    )
    controller: str = Field(
        default="Demo Store LLC", description="Who is responsible for the processing (shown in the notice)."
    )
    contact: str = Field(
        default="privacy@example.com", description="Where a shopper can ask about the processing."
    )


class StorageConfig(_Section):
    """Where the device keeps its local event store."""

    data_dir: Path = Field(default=Path("var"), description="Folder of the SQLite event store and state.")
    retention_days: int = Field(
        default=30, ge=1, le=3650, description="Local events older than this are purged."
    )


class UiConfig(_Section):
    """The shopper's screen."""

    width: int = Field(default=1280, ge=320, le=7680, description="Window or screen width in pixels.")
    height: int = Field(default=720, ge=240, le=4320, description="Window or screen height in pixels.")
    fullscreen: bool = Field(default=False, description="Full screen (on a device) instead of a window.")
    language: Literal["ru", "en"] = Field(default="ru", description="Language shown first.")
    font_scale: float = Field(default=1.0, ge=0.5, le=3.0, description="Multiplier of every font size.")
    fps: int = Field(default=60, ge=10, le=240, description="Frame-rate target of the render loop.")


class KioskConfig(_Section):
    """The root of the kiosk's configuration. Every section and field has a sane default."""

    device: DeviceConfig = Field(default_factory=DeviceConfig, description="Identity of this device.")
    logging: LoggingConfig = Field(default_factory=LoggingConfig, description="Log level, format and file.")
    camera: CameraConfig = Field(default_factory=CameraConfig, description="The camera source.")
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig, description="Consent mode and notice.")
    storage: StorageConfig = Field(default_factory=StorageConfig, description="Local event store.")
    ui: UiConfig = Field(default_factory=UiConfig, description="The shopper's screen.")
    mqtt: BrokerSettings = Field(default_factory=BrokerSettings, description="Telemetry broker connection.")

    def config_hash(self) -> str:
        """A short, stable hash of the effective configuration (secrets are references, never values)."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:16]


def load_config(path: Path) -> KioskConfig:
    """Load and validate a TOML file. Raises :class:`ConfigError` listing every problem with its key path."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigError(
            str(path), [ConfigIssue("(file)", reason, "check the path; examples/kiosk.toml is a start")]
        ) from exc
    return parse_config(text, source=str(path))


def parse_config(text: str, source: str = "<config>") -> KioskConfig:
    """Validate TOML text; see :func:`load_config`."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            source, [ConfigIssue("(syntax)", str(exc), "fix the TOML syntax at that line")]
        ) from exc
    try:
        return KioskConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(source, [_issue_from(error) for error in exc.errors()]) from exc


def _issue_from(error: ErrorDetails) -> ConfigIssue:
    loc = [str(part) for part in error["loc"]]
    path = ".".join(loc) or "(root)"
    owner = _model_at(loc[:-1])
    if error["type"] == "extra_forbidden":
        valid = sorted(owner.model_fields) if owner else []
        close = difflib.get_close_matches(loc[-1], valid, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        section = ".".join(loc[:-1]) or "the top level"
        return ConfigIssue(path, "unknown key", f"{hint}valid keys in {section}: {', '.join(valid)}")
    message = f"{error['msg']} (got {_short(error['input'])})"
    description = _description(owner, loc[-1]) if loc else None
    hint = f"{loc[-1]}: {description}" if description else ""
    return ConfigIssue(path, message, hint)


def _model_at(loc: list[str]) -> type[BaseModel] | None:
    """The model class that owns the key at ``loc`` (a path of section names), if there is one."""
    model: type[BaseModel] = KioskConfig
    for part in loc:
        field = model.model_fields.get(part)
        if field is None:
            return None
        nested = _model_in(field.annotation)
        if nested is None:
            return None
        model = nested
    return model


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _description(model: type[BaseModel] | None, key: str) -> str | None:
    """The field's description, its bounds and its default: what a person needs to fix a bad value."""
    if model is None or key not in model.model_fields:
        return None
    field = model.model_fields[key]
    details = [
        f"{name} {getattr(rule, name)}" for rule in field.metadata for name in _BOUNDS if hasattr(rule, name)
    ]
    if field.default is not PydanticUndefined and not isinstance(field.default, BaseModel):
        details.append(f"default {field.default!r}")
    suffix = f" ({', '.join(details)})" if details else ""
    return f"{field.description}{suffix}"


_BOUNDS = ("ge", "gt", "le", "lt", "pattern")


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
