"""Kiosk settings for the vision models."""

import pytest
from pydantic import BaseModel, ValidationError

from edge_models.config import EmotionSettings, PresenceSettings


@pytest.mark.parametrize("settings", [PresenceSettings, EmotionSettings])
def test_every_setting_has_a_description_and_a_default(settings: type[BaseModel]) -> None:
    for name, field in settings.model_fields.items():
        assert field.description, f"{settings.__name__}.{name} has no description"
        assert not field.is_required(), f"{settings.__name__}.{name} has no default"
    settings()


@pytest.mark.parametrize("settings", [PresenceSettings, EmotionSettings])
def test_unknown_keys_are_refused(settings: type[BaseModel]) -> None:
    with pytest.raises(ValidationError, match="extra"):
        settings.model_validate({"modle": "x"})


def test_out_of_range_values_are_refused() -> None:
    with pytest.raises(ValidationError):
        PresenceSettings(threads=0)
    with pytest.raises(ValidationError):
        PresenceSettings(score_threshold=1.5)
    with pytest.raises(ValidationError):
        EmotionSettings(abstain_threshold=-0.1)


def test_defaults_name_the_int8_models() -> None:
    assert PresenceSettings().model == "face_full_range_int8"
    assert EmotionSettings().model == "emotion_vitrina_int8"
