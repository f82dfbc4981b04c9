"""The `edge-models` command line: help texts, listing, and the lazily imported build command."""

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from edge_models import cli
from edge_models.manifest import Manifest, ModelEntry, SourceInfo, TensorSpec


def _all_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    ctx = click.Context(group)
    out: list[tuple[str, ...]] = []
    for name in group.list_commands(ctx):
        if name in cli.LAZY_COMMANDS:
            continue
        command = group.get_command(ctx, name)
        assert command is not None
        out.append((*prefix, name))
        if isinstance(command, click.Group):
            out += _all_commands(command, (*prefix, name))
    return out


@pytest.mark.parametrize("path", [(), *_all_commands(cli.main)])
def test_every_command_has_help_with_an_example(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli.main, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example:" in result.output


def test_top_level_help_lists_build_without_importing_it(monkeypatch: pytest.MonkeyPatch) -> None:
    imported: list[str] = []
    monkeypatch.setattr(cli.importlib, "import_module", imported.append)
    result = CliRunner().invoke(cli.main, ["--help"])
    assert result.exit_code == 0
    assert "build" in result.output and imported == []


def test_build_without_the_build_code_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(name: str) -> None:
        raise ModuleNotFoundError(f"No module named {name!r}")

    monkeypatch.setattr(cli.importlib, "import_module", missing)
    result = CliRunner().invoke(cli.main, ["build"])
    assert result.exit_code == 1
    assert "edge-models build` is not available" in result.output
    assert "pip install -e '.[build]'" in result.output


def test_build_runs_the_registered_command_when_present(monkeypatch: pytest.MonkeyPatch) -> None:
    @click.command("build")
    def fake_build() -> None:
        click.echo("building")

    monkeypatch.setattr(
        cli.importlib, "import_module", lambda name: type("M", (), {"build_command": fake_build})
    )
    result = CliRunner().invoke(cli.main, ["build"])
    assert result.exit_code == 0 and result.output == "building\n"


def _manifest_file(tmp_path: Path) -> Path:
    entry = ModelEntry(
        name="tiny_int8",
        task="emotion",
        file="tiny_int8.tflite",
        sha256="0" * 64,
        size_bytes=3,
        precision="int8",
        inputs=(TensorSpec(name="in", shape=(1, 64, 64, 1), dtype="int8"),),
        outputs=(TensorSpec(name="out", shape=(1, 7), dtype="int8"),),
        source=SourceInfo(
            package="p", version="1", path="x", sha256="0" * 64, licence="MIT", licence_file="l"
        ),
    )
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(Manifest(models=(entry,)).model_dump(mode="json")))
    return path


def test_list_prints_manifest_entries(tmp_path: Path) -> None:
    path = _manifest_file(tmp_path)
    result = CliRunner().invoke(cli.main, ["list", "--manifest", str(path)])
    assert result.exit_code == 0 and result.output.startswith("tiny_int8")
    as_json = CliRunner().invoke(cli.main, ["list", "--manifest", str(path), "--json"])
    assert json.loads(as_json.output)[0]["name"] == "tiny_int8"


def test_info_refuses_a_file_that_differs_from_the_manifest(tmp_path: Path) -> None:
    path = _manifest_file(tmp_path)
    (tmp_path / "tiny_int8.tflite").write_bytes(b"abc")
    result = CliRunner().invoke(cli.main, ["info", "tiny_int8", "--manifest", str(path)])
    assert result.exit_code == 1
    assert "tiny_int8.tflite is corrupt or replaced" in result.output


def test_eval_presence_needs_exactly_one_source(tmp_path: Path) -> None:
    path = _manifest_file(tmp_path)
    result = CliRunner().invoke(cli.main, ["eval", "presence", "--manifest", str(path)])
    assert result.exit_code == 2 and "exactly one of --video FILE or --images DIR" in result.output
