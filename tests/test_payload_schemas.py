"""The committed JSON Schemas in docs/schemas/ match the wire models; payloads validate strictly."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from backoffice.cli import main
from mqtt_bridge.contract.payloads import WIRE_MODELS, EventBatch, StatusPayload
from mqtt_bridge.contract.schemas import stale_schemas


def test_committed_schemas_match_the_models(repo_root: Path) -> None:
    assert stale_schemas(repo_root / "docs" / "schemas") == [], "run `backoffice schemas` and commit"


def test_cli_writes_then_checks(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["schemas", "--check", "--out", str(tmp_path)]).exit_code == 1
    assert runner.invoke(main, ["schemas", "--out", str(tmp_path)]).exit_code == 0
    result = runner.invoke(main, ["schemas", "--check", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert {p.stem.removesuffix(".schema") for p in tmp_path.iterdir()} == set(WIRE_MODELS) | {
        "event",
        "chat_message",
        "catalogue",
    }


def test_every_model_carries_schema_version_and_forbids_extra_keys() -> None:
    for model in WIRE_MODELS.values():
        assert "schema_version" in model.model_fields
        assert model.model_config.get("extra") == "forbid"


def test_status_round_trip_and_unknown_keys_refused() -> None:
    payload = StatusPayload(state="online", ts=datetime(2026, 1, 1, tzinfo=UTC)).model_dump_json()
    assert StatusPayload.model_validate_json(payload).state == "online"
    with pytest.raises(ValidationError):
        StatusPayload.model_validate_json('{"schema_version": 1, "state": "online", "face": "x"}')
    with pytest.raises(ValidationError):
        StatusPayload.model_validate_json('{"schema_version": 2, "state": "online"}')


def test_an_empty_batch_is_refused() -> None:
    with pytest.raises(ValidationError):
        EventBatch(batch_id="b", store_id="s", device_id="d", events=[])
