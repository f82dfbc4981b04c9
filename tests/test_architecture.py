"""The import rules of docs/architecture.md, checked on the source so they cannot drift."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("kiosk", "edge_models", "mqtt_bridge", "cloud_sync", "provisioning")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _modules() -> list[tuple[str, set[str]]]:
    return [
        (path.relative_to(ROOT).as_posix(), _imports(path))
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
    ]


def _top(name: str) -> str:
    return name.split(".", maxsplit=1)[0]


@pytest.mark.parametrize("package", ["edge_models", "mqtt_bridge"])
def test_leaf_packages_import_nothing_of_ours(package: str) -> None:
    ours = set(PACKAGES) - {package}
    offenders = [
        (mod, sorted(n for n in names if _top(n) in ours))
        for mod, names in _modules()
        if mod.startswith(package + "/")
    ]
    assert [o for o in offenders if o[1]] == []


@pytest.mark.parametrize(
    ("library", "allowed_prefixes"),
    [
        ("pygame", ("kiosk/ui/",)),
        ("paho", ("mqtt_bridge/",)),
        ("ai_edge_litert", ("edge_models/runtime.py",)),
        ("tflite_runtime", ("edge_models/runtime.py",)),
        ("tensorflow", ("edge_models/build/",)),
    ],
)
def test_third_party_library_is_imported_in_one_place(
    library: str, allowed_prefixes: tuple[str, ...]
) -> None:
    offenders = [
        mod
        for mod, names in _modules()
        if any(_top(n) == library for n in names) and not mod.startswith(allowed_prefixes)
    ]
    assert offenders == [], f"{library} may be imported only under {allowed_prefixes}"


def test_the_rules_see_real_imports() -> None:
    # Guards the checker itself: it must find the imports we know are there.
    modules = dict(_modules())
    assert "pygame" in modules["kiosk/ui/screen_app.py"]
    assert "mqtt_bridge.settings" in modules["kiosk/config.py"]
