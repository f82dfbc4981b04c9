"""docs/models/emotion.md's distillation table agrees with the run folders it reports (issue #21).

Each row names a run folder under edge_models/train/resume; once the folder's export report exists, the
row must carry its figures (validation accuracy and epoch from ``state.json``, PublicTest float and int8
accuracy, and for the students the int8 file's bytes and ``mean_ms``), and before that it must say the
figures are not measured yet. So a finished run cannot be left out of the card, nor the card run ahead of
the files.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
CARD = ROOT / "docs" / "models" / "emotion.md"
RESUME = ROOT / "edge_models" / "train" / "resume"

# The row's first cell starts with the label; the folder holds the run.
ROWS = {
    "teacher vgg40-s1": RESUME / "teachers" / "vgg40-s1",
    "teacher vgg40-s2": RESUME / "teachers" / "vgg40-s2",
    "baseline student": RESUME / "students" / "vgg28-s0-base",
    "distilled student": RESUME / "students" / "vgg28-s0-kd",
}
STUDENTS = {"baseline student", "distilled student"}
ENSEMBLE = "ensemble of the two"
TARGETS = RESUME / "teachers" / "targets.npz"


def _table_rows() -> dict[str, list[str]]:
    lines = CARD.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| run (60 epochs, seed 0, vgg28"))
    rows: dict[str, list[str]] = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        for label in [*ROWS, ENSEMBLE]:
            if cells[0].startswith(label):
                rows[label] = cells
    return rows


@pytest.mark.parametrize("label", sorted(ROWS))
def test_each_run_row_matches_its_folder(label: str) -> None:
    cells = _table_rows()[label]
    folder = ROWS[label]
    report_path = folder / "export" / "report.json"
    if not report_path.exists():
        assert "not measured yet" in cells[2], f"{label}: no {report_path}, yet the card gives {cells[2]}"
        return
    state = json.loads((folder / "state.json").read_text(encoding="utf-8"))
    report = json.loads(report_path.read_text(encoding="utf-8"))
    int8 = report["int8_model"]
    assert cells[2].startswith(f"{state['best_accuracy']:.4f} (epoch {state['best_epoch']})"), cells[2]
    assert cells[3].startswith(f"{report['float_model']['accuracy']:.4f}"), cells[3]
    assert cells[4].startswith(f"{int8['accuracy']:.4f}"), cells[4]
    size, ms = f"{int8['size_bytes']:,}", f"{int8['mean_ms']:.3f}"
    if label in STUDENTS:
        assert (cells[5], cells[6]) == (size, ms)
    else:
        assert f"{size} bytes, {ms} ms" in cells[4], cells[4]


def test_the_ensemble_row_matches_the_soft_target_file() -> None:
    cells = _table_rows()[ENSEMBLE]
    if not TARGETS.exists():
        assert "not measured yet" in cells[2], f"no {TARGETS}, yet the card gives {cells[2]}"
        return
    with np.load(TARGETS) as f:
        validation, publictest = float(f["validation_accuracy"][-1]), float(f["publictest_accuracy"][-1])
    assert cells[2].startswith(f"{validation:.4f}"), cells[2]
    assert cells[3].startswith(f"{publictest:.4f}"), cells[3]
