"""The kiosk's own perception inputs: small value types the pure core takes, whatever the models are.

:mod:`kiosk.perception.detector` maps the vision models' objects onto these; tests build them by hand.
Nothing here holds pixels: a :class:`Detection` is a box, a distance, a head yaw and a valence reading.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

Valence = Literal["negative", "neutral", "positive"]
VALENCES: tuple[Valence, ...] = ("negative", "neutral", "positive")

Frame = npt.NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class Box:
    """An axis-aligned box in frame pixels, ``[xmin, xmax) x [ymin, ymax)``."""

    xmin: float
    ymin: float
    xmax: float
    ymax: float

    @property
    def width(self) -> float:
        """Width, zero when empty."""
        return max(0.0, self.xmax - self.xmin)

    @property
    def height(self) -> float:
        """Height, zero when empty."""
        return max(0.0, self.ymax - self.ymin)

    @property
    def area(self) -> float:
        """Area, zero when empty."""
        return self.width * self.height

    @property
    def center(self) -> tuple[float, float]:
        """Centre point ``(x, y)``."""
        return ((self.xmin + self.xmax) / 2.0, (self.ymin + self.ymax) / 2.0)

    def iou(self, other: Box) -> float:
        """Intersection over union in [0, 1]."""
        w = max(0.0, min(self.xmax, other.xmax) - max(self.xmin, other.xmin))
        h = max(0.0, min(self.ymax, other.ymax) - max(self.ymin, other.ymin))
        inter = w * h
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0


@dataclass(frozen=True, slots=True)
class ValenceReading:
    """One valence answer for one face: the group, how sure, and whether the model abstained."""

    valence: Valence
    confidence: float
    abstain: bool = False


@dataclass(frozen=True, slots=True)
class Detection:
    """One face in one frame, as the kiosk's core sees it (no pixels, no identity)."""

    box: Box
    score: float = 1.0
    distance_m: float | None = None
    yaw_deg: float = 0.0
    reading: ValenceReading | None = None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything perception saw in one frame, stamped with the clock's monotonic time."""

    t: float
    detections: tuple[Detection, ...] = ()
    frame_width: int = 640
    frame_height: int = 480


@runtime_checkable
class ExpressionGated(Protocol):
    """A detector that can be told, frame by frame, whether it may read expression at all."""

    def set_expression_gate(self, gate: Callable[[], bool]) -> None:
        """``gate()`` is asked before each frame; False: run no emotion model on that frame."""
        ...


class Detector(Protocol):
    """What the perception worker needs from the models: a frame in, the faces out."""

    def detect(self, frame: Frame) -> Sequence[Detection]:
        """The faces in one BGR frame."""
        ...
