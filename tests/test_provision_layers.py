"""provisioning's floors are a test: a planted import of the device side in the fleet's side, or in a shared
module, breaks the import contracts (pyproject.toml), so `pip install '.[backoffice]'` keeps running the
fleet's commands."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("kiosk", "edge_models", "mqtt_bridge", "cloud_sync", "backoffice", "provisioning")
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


@pytest.mark.slow
@pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="import-linter is in the dev extra")
def test_a_device_import_in_the_fleet_side_or_a_shared_module_breaks_the_contracts(tmp_path: Path) -> None:
    copy = tmp_path / "tree"
    copy.mkdir()
    for name in (*PACKAGES, "pyproject.toml"):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, copy / name, ignore=shutil.ignore_patterns("__pycache__", "*.tflite"))
        else:
            shutil.copy(source, copy / name)
    (copy / "provisioning" / "fleet" / "planted.py").write_text(
        "import provisioning.device.renew\n", encoding="utf-8"
    )
    (copy / "provisioning" / "planted_shared.py").write_text("import cloud_sync.renewal\n", encoding="utf-8")
    result = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=copy,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env={"PYTHONPATH": str(copy), "PATH": str(LINT_IMPORTS.parent)},
    )
    assert result.returncode != 0, result.stdout
    assert "provisioning.fleet.planted -> provisioning.device.renew" in result.stdout
    assert "provisioning.planted_shared -> cloud_sync.renewal" in result.stdout
