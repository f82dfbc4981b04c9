"""Every settings model of mqtt_bridge and cloud_sync forbids unknown keys and describes every field, and
every field has a default (so the kiosk's root config can compose them)."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from backoffice.settings import IngestSettings
from cloud_sync.settings import AnonymisationSettings, OutboxSettings
from mqtt_bridge.settings import BrokerSettings, CommandSettings

MODELS: list[type[BaseModel]] = [
    OutboxSettings,
    AnonymisationSettings,
    IngestSettings,
    CommandSettings,
    BrokerSettings,
]


@pytest.mark.parametrize("model", MODELS)
def test_forbids_extra_and_describes_every_field(model: type[BaseModel]) -> None:
    assert model.model_config.get("extra") == "forbid"
    for name, info in model.model_fields.items():
        assert info.description, f"{model.__name__}.{name} has no description"
    with pytest.raises(ValidationError):
        model.model_validate({"no_such_key": 1})


@pytest.mark.parametrize("model", [OutboxSettings, AnonymisationSettings, IngestSettings, CommandSettings])
def test_new_sections_have_sane_defaults(model: type[BaseModel]) -> None:
    model()


def test_commands_are_signed_and_remembered_by_default() -> None:
    commands = CommandSettings()
    assert commands.unsigned_commands == [], "no command runs unsigned unless a test bench lists it"
    with pytest.raises(ValidationError, match="command names"):
        CommandSettings(unsigned_commands=["*"])


def test_the_default_back_off_is_capped_so_a_kiosk_is_back_within_5_s() -> None:
    settings = BrokerSettings()
    assert settings.reconnect_min_s <= settings.reconnect_max_s < 5.0
    with pytest.raises(ValidationError, match="make reconnect_min_s the smaller one"):
        BrokerSettings(reconnect_min_s=10.0, reconnect_max_s=2.0)
