"""The `edge-models` command line: help texts, listing, and the lazily imported build command."""

import hashlib
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


def _manifest_file(tmp_path: Path, content: bytes = b"abc", name: str = "tiny_int8") -> Path:
    """A manifest with one entry for ``content`` (the file itself is not written)."""
    entry = ModelEntry(
        name=name,
        task="emotion",
        file=f"{name}.tflite",
        sha256=hashlib.sha256(content).hexdigest(),
        size_bytes=len(content),
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
    (tmp_path / "tiny_int8.tflite").write_bytes(b"abc")
    result = CliRunner().invoke(cli.main, ["list", "--manifest", str(path)])
    assert result.exit_code == 0 and result.output.startswith("tiny_int8")
    assert result.output.rstrip().endswith("tiny_int8.tflite  ok")
    as_json = CliRunner().invoke(cli.main, ["list", "--manifest", str(path), "--json"])
    (listed,) = json.loads(as_json.output)
    assert listed["name"] == "tiny_int8" and listed["check"] == {"ok": True, "problem": ""}


@pytest.mark.parametrize(
    ("on_disk", "problem"),
    [
        (None, "missing: no file"),
        (b"abcd", "size 4 bytes, the manifest says 3"),
        (b"abd", "sha256 " + hashlib.sha256(b"abd").hexdigest()),
    ],
    ids=["missing", "size", "sha256"],
)
def test_list_verifies_every_file_and_exits_1_on_a_mismatch(
    tmp_path: Path, on_disk: bytes | None, problem: str
) -> None:
    """One good model and one that is missing, the wrong size or altered (same size, other bytes)."""
    good = json.loads(_manifest_file(tmp_path, b"good", "good_int8").read_text())
    bad = json.loads(_manifest_file(tmp_path).read_text())
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({**good, "models": [*good["models"], *bad["models"]]}))
    (tmp_path / "good_int8.tflite").write_bytes(b"good")
    if on_disk is not None:
        (tmp_path / "tiny_int8.tflite").write_bytes(on_disk)
    result = CliRunner().invoke(cli.main, ["list", "--manifest", str(path)])
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("good_int8") and lines[0].endswith("  ok")
    assert lines[1].startswith("tiny_int8") and f"MISMATCH {problem}" in lines[1]
    assert "restore it from the release" in lines[1]
    assert "1 of 2 model files differ from the manifest: tiny_int8" in result.output
    as_json = CliRunner().invoke(cli.main, ["list", "--manifest", str(path), "--json"])
    assert as_json.exit_code == 1
    assert [m["check"]["ok"] for m in json.loads(as_json.stdout)] == [True, False]
    assert CliRunner().invoke(cli.main, ["list", "--manifest", str(path), "--no-verify"]).exit_code == 0


def test_list_passes_on_the_shipped_models() -> None:
    result = CliRunner().invoke(cli.main, ["list"])
    assert result.exit_code == 0, result.output
    assert result.output and all(line.endswith("  ok") for line in result.output.splitlines())


def test_info_refuses_a_file_that_differs_from_the_manifest(tmp_path: Path) -> None:
    path = _manifest_file(tmp_path)
    (tmp_path / "tiny_int8.tflite").write_bytes(b"abd")  # the manifest's size, other bytes
    result = CliRunner().invoke(cli.main, ["info", "tiny_int8", "--manifest", str(path)])
    assert result.exit_code == 1
    assert "tiny_int8.tflite is corrupt or replaced" in result.output


def test_eval_presence_needs_exactly_one_source(tmp_path: Path) -> None:
    path = _manifest_file(tmp_path)
    result = CliRunner().invoke(cli.main, ["eval", "presence", "--manifest", str(path)])
    assert result.exit_code == 2 and "exactly one of --video FILE or --images DIR" in result.output
