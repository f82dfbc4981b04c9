"""Where training runs stand (``edge-models train status``): read from their folders, no TensorFlow.

A run folder is one holding ``recipe.json`` (:mod:`edge_models.train.run`). For each: epochs done of the
total, the best selection accuracy so far and its epoch, the wall and CPU time its finished epochs took,
and an estimate of the time left from its most recent epochs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from edge_models.errors import EdgeModelsError
from edge_models.train.recipe import Recipe
from edge_models.train.run import RunPaths, RunSettings, RunState, read_metrics

#: How many of the latest epochs the time-left estimate averages.
RECENT_EPOCHS = 5


class StatusError(EdgeModelsError):
    """A folder that cannot be reported on."""


@dataclass(frozen=True)
class RunStatus:
    """One run folder's progress."""

    run: str
    recipe: str
    epochs_done: int
    epochs: int
    best_epoch: int
    best_accuracy: float
    selection: str
    wall_seconds: float
    cpu_seconds: float | None
    eta_seconds: float | None
    exported: bool

    @property
    def finished(self) -> bool:
        """Every epoch of the recipe is done."""
        return self.epochs_done >= self.epochs

    def to_json(self) -> dict[str, Any]:
        """JSON-ready fields, with ``finished``."""
        return {**asdict(self), "finished": self.finished}


def run_status(root: Path) -> RunStatus:
    """The progress of the run in ``root`` (a folder with ``recipe.json``)."""
    paths = RunPaths(root)
    try:
        recipe = Recipe.model_validate_json(paths.recipe.read_text(encoding="utf-8"))
        settings = RunSettings.model_validate_json(paths.settings.read_text(encoding="utf-8"))
        state = (
            RunState.model_validate_json(paths.state.read_text(encoding="utf-8"))
            if paths.state.exists()
            else None
        )
        records = read_metrics(paths.metrics)
    except (OSError, ValueError) as exc:
        raise StatusError(f"{root} is not a readable run folder ({exc}): is it an --out folder?") from exc
    done = state.epochs_done if state else 0
    records = records[:done]
    cpu = [r.cpu_seconds for r in records]
    recent = records[-RECENT_EPOCHS:]
    eta = None
    if recent and done < recipe.epochs:
        eta = (recipe.epochs - done) * sum(r.seconds for r in recent) / len(recent)
    return RunStatus(
        run=str(root),
        recipe=recipe.fingerprint(),
        epochs_done=done,
        epochs=recipe.epochs,
        best_epoch=state.best_epoch if state else 0,
        best_accuracy=state.best_accuracy if state else 0.0,
        selection=state.selection if state else settings.selection,
        wall_seconds=sum(r.seconds for r in records),
        cpu_seconds=sum(c for c in cpu if c is not None) if cpu and None not in cpu else None,
        eta_seconds=eta,
        exported=paths.report.exists(),
    )


def find_runs(folder: Path) -> list[Path]:
    """``folder`` itself when it is a run folder, else every run folder beneath it, sorted."""
    if not folder.is_dir():
        raise StatusError(f"{folder} is not a folder: pass a run folder or a folder of runs")
    if RunPaths(folder).recipe.exists():
        return [folder]
    return sorted(p.parent for p in folder.rglob("recipe.json"))


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes = round(seconds / 60)
    return f"{minutes // 60}h{minutes % 60:02d}m"


def format_status(status: RunStatus) -> str:
    """One human line for a run."""
    split = "validation" if status.selection == "validation" else "PublicTest"
    best = (
        f"best {split} {status.best_accuracy:.4f} (epoch {status.best_epoch})"
        if status.best_epoch
        else "no epoch yet"
    )
    left = (
        "finished" + (", exported" if status.exported else "")
        if status.finished
        else (f"ETA {_duration(status.eta_seconds)}")
    )
    return (
        f"{status.run}: epoch {status.epochs_done}/{status.epochs}, {best}, "
        f"{_duration(status.wall_seconds)} wall, {_duration(status.cpu_seconds)} CPU, {left}"
    )
