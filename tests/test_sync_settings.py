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
