"""The birth says what the kiosk does, not what it was configured to do: capabilities and model versions
from what loaded, and the one configuration hash that ``kiosk validate-config`` prints too."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from kiosk.cli import main as kiosk_cli
from kiosk.config import KioskConfig, load_config
from kiosk.decisions.offers import Catalogue
from kiosk.link.sync import birth_payload, command_handlers
from mqtt_bridge.settings import BrokerSettings, SecretRef


class Control:
    def acknowledge_staff(self, call_id: str) -> bool:
        return False

    def set_maintenance(self, on: bool) -> None:
        pass

    def install_catalogue(self, catalogue: Catalogue, image_base: Path) -> None:
        pass


HANDLERS = command_handlers(Control())


def test_no_expression_capability_when_the_emotion_model_did_not_load() -> None:
    config = KioskConfig()  # emotion enabled, privacy mode reads expressions
    assert config.emotion.enabled and config.privacy.mode != "presence_only"
    presence = {config.presence.model: "e296b7160b5e2e1c"}  # the emotion model refused: presence only
    refused = birth_payload(config, models=presence, offers=True, commands=HANDLERS)
    assert "expression" not in refused.capabilities and refused.models == presence
    nothing = birth_payload(config, models={}, offers=False, commands=HANDLERS)  # no detector at all
    assert "expression" not in nothing.capabilities and nothing.models == {}
    both = {**presence, config.emotion.model: "30b3f1848d74657a"}
    loaded = birth_payload(config, models=both, offers=True, commands=HANDLERS)
    assert loaded.capabilities[0] == "expression" and loaded.models == both


def test_expression_capability_when_another_variant_of_the_emotion_model_loaded() -> None:
    """The variant calibration may load ``emotion_vitrina_float`` for a configured ``emotion_vitrina_int8``:
    the kiosk still reads expressions (a CI run caught a birth without ``expression`` after the swap)."""
    config = KioskConfig()
    family = config.emotion.model.removesuffix("_int8").removesuffix("_float")
    other = f"{family}_float" if config.emotion.model != f"{family}_float" else f"{family}_int8"
    swapped = birth_payload(config, models={other: "30b3f1848d74657a"}, offers=False, commands=HANDLERS)
    assert "expression" in swapped.capabilities
    stranger = birth_payload(config, models={"emotion_other_float": "1"}, offers=False, commands=HANDLERS)
    assert "expression" not in stranger.capabilities


def test_validate_config_prints_the_hash_the_birth_carries(tmp_path: Path) -> None:
    file = tmp_path / "kiosk.toml"
    file.write_text('[device]\nstore_id = "s9"\n[mqtt]\nenabled = true\nport = 1999\n', encoding="utf-8")
    done = CliRunner().invoke(kiosk_cli, ["validate-config", str(file)])
    assert done.exit_code == 0, done.output
    printed = re.search(r"config hash ([0-9a-f]+)", done.output)
    assert printed is not None, done.output
    birth = birth_payload(load_config(file), models={}, offers=False, commands=HANDLERS)
    assert printed.group(1) == birth.config_hash and len(birth.config_hash) == 64


def test_the_hash_follows_settings_but_not_where_secrets_live() -> None:
    base = KioskConfig()
    assert base.config_hash() == KioskConfig().config_hash()
    assert base.config_hash() != KioskConfig(mqtt=BrokerSettings(port=1999)).config_hash()
    one = KioskConfig(mqtt=BrokerSettings(username="k", password=SecretRef(env="A_PASSWORD")))
    other = KioskConfig(mqtt=BrokerSettings(username="k", password=SecretRef(file=Path("/etc/pw"))))
    assert one.config_hash() == other.config_hash(), "secrets are excluded from the hash"
