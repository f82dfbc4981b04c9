"""Configuration: one root, unknown keys and wrong types named by dotted path, secrets never inline."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import BaseModel

from kiosk.cli import main
from kiosk.config import KioskConfig, load_config, parse_config
from kiosk.errors import ConfigError
from mqtt_bridge.errors import SecretUnavailableError
from mqtt_bridge.settings import SecretRef

BAD = """
[ui]
fulscreen = true

[camera]
fps = "fast"
"""


def _all_models(model: type[BaseModel]) -> list[type[BaseModel]]:
    found = [model]
    for field in model.model_fields.values():
        annotation = field.annotation
        for candidate in (annotation, *getattr(annotation, "__args__", ())):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                found.extend(_all_models(candidate))
    return found


def test_defaults_are_a_valid_config() -> None:
    config = KioskConfig()
    assert config.privacy.mode == "notice"
    assert KioskConfig.model_validate(config.model_dump()) == config


def test_every_model_forbids_extra_keys_and_describes_every_field() -> None:
    for model in _all_models(KioskConfig):
        assert model.model_config.get("extra") == "forbid", model.__name__
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} has no description"


def test_example_validates(repo_root: Path) -> None:
    config = load_config(repo_root / "examples" / "kiosk.toml")
    assert config.device.store_id == "demo-store"


def test_misspelt_key_and_wrong_type_are_both_named() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(BAD)
    paths = {issue.path for issue in caught.value.issues}
    assert paths == {"ui.fulscreen", "camera.fps"}
    misspelt = next(i for i in caught.value.issues if i.path == "ui.fulscreen")
    assert "did you mean 'fullscreen'" in misspelt.hint


def test_validate_config_cli_exit_codes(tmp_path: Path, repo_root: Path) -> None:
    runner = CliRunner()
    good = runner.invoke(main, ["validate-config", str(repo_root / "examples" / "kiosk.toml")])
    assert good.exit_code == 0, good.output
    bad_file = tmp_path / "bad.toml"
    bad_file.write_text(BAD)
    bad = runner.invoke(main, ["validate-config", str(bad_file)])
    assert bad.exit_code == 2
    assert "ui.fulscreen" in bad.output and "camera.fps" in bad.output


def test_validate_config_console_script(tmp_path: Path) -> None:
    bad_file = tmp_path / "bad.toml"
    bad_file.write_text(BAD)
    script = Path(sys.executable).with_name("kiosk")
    done = subprocess.run(
        [str(script), "validate-config", str(bad_file)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 2
    assert "ui.fulscreen" in done.stderr and "camera.fps" in done.stderr


def test_toml_syntax_error_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="syntax"):
        parse_config("[ui\nwidth = 3")
    with pytest.raises(ConfigError, match=r"examples/kiosk\.toml"):
        load_config(tmp_path / "nope.toml")


def test_nested_section_errors_have_full_paths() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config('[mqtt.tls]\nca_file = "ca.pem"\ncert_file = "c.pem"\n[mqtt]\nport = 70000\n')
    paths = {issue.path for issue in caught.value.issues}
    assert "mqtt.port" in paths
    assert "mqtt.tls" in paths  # cert without key


def test_secrets_cannot_be_inline() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config('[mqtt]\npassword = "hunter2"\n')
    assert caught.value.issues[0].path == "mqtt.password"


def test_secret_from_env_and_file_is_never_logged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("VITRINA_TEST_SECRET", "s3cr3t-from-env")
    secret_file = tmp_path / "pw"
    secret_file.write_text("s3cr3t-from-file\n")
    config = parse_config(f'[mqtt]\nusername = "kiosk"\npassword = {{ file = "{secret_file}" }}\n')
    assert config.mqtt.password is not None
    from_file = config.mqtt.password.resolve()
    from_env = SecretRef(env="VITRINA_TEST_SECRET").resolve()
    assert from_file.get_secret_value() == "s3cr3t-from-file"
    assert from_env.get_secret_value() == "s3cr3t-from-env"
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("test").info("config %s secret %s %r", config, from_env, from_file)
    assert "s3cr3t" not in caplog.text
    assert "s3cr3t" not in config.model_dump_json()


def test_missing_secret_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VITRINA_NOPE", raising=False)
    with pytest.raises(SecretUnavailableError, match="VITRINA_NOPE"):
        SecretRef(env="VITRINA_NOPE").resolve()
