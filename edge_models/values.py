"""Value types that cross module boundaries: boxes, faces and emotion scores.

All are frozen dataclasses; coordinates are floats in pixels of the image they refer to (the camera frame
for :class:`Face`), with x to the right and y down.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

Emotion = Literal["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
Valence = Literal["negative", "neutral", "positive"]

#: The seven FER-2013 classes in the data set's own label order (the emotion model's output order).
FER_CLASSES: tuple[Emotion, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
VALENCES: tuple[Valence, ...] = ("negative", "neutral", "positive")


@dataclass(frozen=True, slots=True)
class Point:
    """A 2-D point in pixels."""

    x: float
    y: float


@dataclass(frozen=True, slots=True)
class Box:
    """An axis-aligned box ``[xmin, xmax) x [ymin, ymax)`` in pixels."""

    xmin: float
    ymin: float
    xmax: float
    ymax: float

    @property
    def width(self) -> float:
        """Width, zero for an empty box."""
        return max(0.0, self.xmax - self.xmin)

    @property
    def height(self) -> float:
        """Height, zero for an empty box."""
        return max(0.0, self.ymax - self.ymin)

    @property
    def area(self) -> float:
        """Area, zero for an empty box."""
        return self.width * self.height

    @property
    def center(self) -> Point:
        """Centre point."""
        return Point((self.xmin + self.xmax) / 2.0, (self.ymin + self.ymax) / 2.0)

    def intersect(self, other: Box) -> Box:
        """The overlap of two boxes (possibly empty: then its width or height is zero)."""
        return Box(
            max(self.xmin, other.xmin),
            max(self.ymin, other.ymin),
            min(self.xmax, other.xmax),
            min(self.ymax, other.ymax),
        )

    def iou(self, other: Box) -> float:
        """Intersection over union, in [0, 1]; 0 when either box is empty."""
        inter = self.intersect(other).area
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0

    def scale(self, sx: float, sy: float) -> Box:
        """The box with every coordinate multiplied by ``sx`` (x) and ``sy`` (y)."""
        return Box(self.xmin * sx, self.ymin * sy, self.xmax * sx, self.ymax * sy)

    def clip(self, width: float, height: float) -> Box:
        """The box clipped to an image of ``width`` x ``height`` pixels."""
        return Box(
            min(max(self.xmin, 0.0), width),
            min(max(self.ymin, 0.0), height),
            min(max(self.xmax, 0.0), width),
            min(max(self.ymax, 0.0), height),
        )


@dataclass(frozen=True, slots=True)
class Face:
    """One detected face in frame pixels.

    ``keypoints`` are BlazeFace's six, in its order: right eye, left eye, nose tip, mouth centre,
    right ear tragion, left ear tragion ("right" is the person's right, the image's left for a person
    facing the camera).
    """

    box: Box
    score: float
    keypoints: tuple[Point, Point, Point, Point, Point, Point]
    distance_m: float
    """Distance from the camera, estimated from the box width and the camera's horizontal field of view."""
    yaw_deg: float
    """Head yaw estimated from keypoints: 0 facing the camera, positive when the nose is to the image right
    of the ears' midpoint."""

    @property
    def right_eye(self) -> Point:
        """The person's right eye."""
        return self.keypoints[0]

    @property
    def left_eye(self) -> Point:
        """The person's left eye."""
        return self.keypoints[1]

    @property
    def nose(self) -> Point:
        """The nose tip."""
        return self.keypoints[2]

    @property
    def frontalness(self) -> float:
        """``cos(yaw)``: 1 for a face looking at the camera, 0 for a profile."""
        return max(0.0, math.cos(math.radians(self.yaw_deg)))


@dataclass(frozen=True, slots=True)
class EmotionScores:
    """The emotion model's answer for one face crop."""

    probabilities: tuple[float, ...]
    """Probability of each class of :data:`FER_CLASSES`, in that order; they sum to 1."""
    label: Emotion
    """The most probable class."""
    valence: Valence
    """The most probable valence group (see :func:`edge_models.postprocess.valence_from_probabilities`)."""
    confidence: float
    """Total probability of the classes in the chosen valence group."""
    abstain: bool
    """True when ``confidence`` is below the abstain threshold: the answer should not be used."""

    def probability(self, emotion: Emotion) -> float:
        """Probability of one class."""
        return self.probabilities[FER_CLASSES.index(emotion)]
