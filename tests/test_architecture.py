"""The floors of docs/architecture.md, checked so they cannot drift.

The layers and the single homes of pygame, paho and TensorFlow are import-linter contracts
(``[tool.importlinter]`` in pyproject.toml), run by ``lint-imports`` in ``make test`` and here. What
import-linter cannot see is checked on the source: the wire contract imports only the standard library,
pydantic and itself; the interpreter, which edge_models.runtime imports by name, is named nowhere else.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("kiosk", "edge_models", "mqtt_bridge", "cloud_sync", "backoffice", "provisioning")
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _top(name: str) -> str:
    return name.split(".", maxsplit=1)[0]


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=root, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="import-linter is in the dev extra")
def test_the_import_contracts_hold() -> None:
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.slow
@pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="import-linter is in the dev extra")
@pytest.mark.parametrize(
    ("where", "planted", "reported"),
    [
        ("backoffice", "import kiosk.decisions.brain\n", "backoffice.planted -> kiosk"),
        ("provisioning/device", "import backoffice.ingest\n", "provisioning.device.planted -> backoffice"),
        ("provisioning/fleet", "import kiosk.config\n", "provisioning.fleet.planted -> kiosk"),
        ("kiosk", "import provisioning.pki\n", "kiosk.planted -> provisioning"),
    ],
)
def test_a_forbidden_import_breaks_the_contracts(
    tmp_path: Path, where: str, planted: str, reported: str
) -> None:
    # Guards the contracts themselves: a copy of the tree with one forbidden import must fail them.
    copy = tmp_path / "tree"
    copy.mkdir()
    for name in (*PACKAGES, "pyproject.toml"):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, copy / name, ignore=shutil.ignore_patterns("__pycache__", "*.tflite"))
        else:
            shutil.copy(source, copy / name)
    (copy / where / "planted.py").write_text(planted, encoding="utf-8")
    result = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=copy,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PYTHONPATH": str(copy), "PATH": str(LINT_IMPORTS.parent)},
    )
    assert result.returncode != 0, result.stdout
    assert reported in result.stdout


def test_the_wire_contract_imports_only_the_standard_library_and_pydantic() -> None:
    allowed = set(sys.stdlib_module_names) | {"pydantic", "pydantic_core"}
    offenders = {
        path.relative_to(ROOT).as_posix(): sorted(
            name
            for name in _imports(path)
            if _top(name) not in allowed and not name.startswith("mqtt_bridge.contract")
        )
        for path in sorted((ROOT / "mqtt_bridge" / "contract").rglob("*.py"))
    }
    assert {mod: names for mod, names in offenders.items() if names} == {}


def test_the_interpreter_is_named_only_in_edge_models_runtime() -> None:
    # edge_models.runtime imports the interpreter by name (importlib), which import-linter cannot see: no
    # other module may even name it.
    offenders = [
        path.relative_to(ROOT).as_posix()
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if path != ROOT / "edge_models" / "runtime.py"
        and any(name in path.read_text(encoding="utf-8") for name in ("ai_edge_litert", "tflite_runtime"))
    ]
    assert offenders == []
    assert '"ai_edge_litert.interpreter"' in (ROOT / "edge_models" / "runtime.py").read_text(encoding="utf-8")


def test_the_rules_see_real_imports() -> None:
    # Guards the source checks: they must find the imports we know are there.
    assert "pygame" in _imports(ROOT / "kiosk" / "ui" / "screen_app.py")
    assert "pydantic" in _imports(ROOT / "mqtt_bridge" / "contract" / "events.py")
