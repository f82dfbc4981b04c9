"""The training recipe: every choice that changes the trained weights, frozen and written into the run.

A run folder keeps its recipe in ``recipe.json``; resuming with a different recipe is refused, so a
run's figures always belong to one recipe.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Architecture = Literal["sepnet", "vgg"]
ClassWeighting = Literal["none", "inverse_sqrt"]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Augmentation(_Frozen):
    """Random changes applied to each training face, drawn from the epoch's seeded generator."""

    flip: bool = Field(default=True, description="Mirror half of the faces left-right.")
    max_rotation_deg: float = Field(default=10.0, ge=0, le=45, description="Largest rotation, degrees.")
    max_scale: float = Field(default=0.1, ge=0, lt=0.5, description="Largest zoom in or out, as a fraction.")
    max_shift: float = Field(
        default=0.1, ge=0, lt=0.5, description="Largest shift along each axis, as a fraction of the side."
    )
    brightness: float = Field(
        default=0.2, ge=0, le=1, description="Largest brightness offset, in model input units ([-1, 1])."
    )
    contrast: float = Field(
        default=0.2, ge=0, lt=1, description="Largest contrast change, as a fraction (scales about the mean)."
    )
    erase_probability: float = Field(
        default=0.5, ge=0, le=1, description="Chance that one random rectangle is filled with noise."
    )
    erase_area: tuple[float, float] = Field(
        default=(0.02, 0.2), description="Smallest and largest erased area, as fractions of the face."
    )
    kiosk_framing: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="Chance that a face is first warped the way the kiosk crops it (its own framing from the "
        "kiosk-framings file when the kiosk's detector found it, else one of the file's drawn at random; "
        "mid-gray outside the face), before the other changes; 0: off.",
    )
    kiosk_framings_sha256: str | None = Field(
        default=None,
        min_length=64,
        max_length=64,
        description="sha256 of the kiosk-framings .npz (edge-models train kiosk-framings) the framings are "
        "drawn from; set exactly when kiosk_framing is above 0.",
    )

    @model_validator(mode="after")
    def _framings_file_goes_with_the_chance(self) -> Augmentation:
        if (self.kiosk_framing > 0) != (self.kiosk_framings_sha256 is not None):
            raise ValueError(
                "kiosk_framing above 0 and kiosk_framings_sha256 go together: give both (the chance and the "
                "sha256 of the kiosk-framings file) or neither"
            )
        return self

    def as_dict(self) -> dict[str, Any]:
        """The augmentation as JSON values; the kiosk framing fields are left out when it is off, so
        recipes written before it existed keep their fingerprint."""
        data = self.model_dump(mode="json")
        if self.kiosk_framing == 0:
            data.pop("kiosk_framing")
            data.pop("kiosk_framings_sha256")
        return data


#: Stronger augmentation for teachers (wider models that overfit the default sooner): larger rotations,
#: zooms, shifts, brightness and contrast changes, and larger erased rectangles (``--augment strong``).
STRONG_AUGMENTATION = Augmentation(
    max_rotation_deg=15.0,
    max_scale=0.15,
    max_shift=0.15,
    brightness=0.3,
    contrast=0.3,
    erase_probability=0.6,
    erase_area=(0.02, 0.25),
)

#: No augmentation at all (``--no-augment``, for comparisons): every face is used as it is.
NO_AUGMENTATION = Augmentation(
    flip=False,
    max_rotation_deg=0.0,
    max_scale=0.0,
    max_shift=0.0,
    brightness=0.0,
    contrast=0.0,
    erase_probability=0.0,
)


class Distillation(_Frozen):
    """Knowledge distillation from a teacher ensemble's soft targets (``--teacher-targets``).

    The loss per face is ``alpha * T^2 * KL(teacher_T || student_T) + (1 - alpha) * CE(hard)``, where
    ``teacher_T`` is the mean over teachers of ``softmax(teacher logits / T)`` and ``student_T`` is
    ``softmax(student logits / T)``; the hard part keeps the recipe's label smoothing and class weights.
    """

    temperature: float = Field(gt=0, description="Softmax temperature T of teacher and student soft outputs.")
    alpha: float = Field(ge=0, le=1, description="Weight of the soft (teacher) part of the loss, 0..1.")
    targets_sha256: str = Field(
        min_length=64, max_length=64, description="sha256 of the soft-target .npz the run distils from."
    )


class Recipe(_Frozen):
    """How to train one emotion model (architecture, optimiser, regularisation, data)."""

    schema_version: Literal[1] = Field(default=1, description="Version of this recipe's schema.")
    seed: int = Field(default=0, ge=0, description="Seed of weights, data order, augmentation and dropout.")
    architecture: Architecture = Field(
        default="vgg",
        description="vgg: four stages of two 3x3 convolutions; sepnet: Xception-style separable convolutions "
        "with residual shortcuts (docs/models/emotion.md compares them).",
    )
    width: int = Field(
        default=24, ge=4, le=256, description="Channels of the first stage (doubling per stage)."
    )
    input_size: int = Field(default=48, ge=32, le=96, description="Side of the square gray input, pixels.")
    dropout: float = Field(default=0.3, ge=0, lt=1, description="Dropout before the classifier.")
    epochs: int = Field(default=60, ge=1, description="Training epochs (sets the learning-rate schedule).")
    batch_size: int = Field(default=64, ge=1, description="Faces per optimisation step.")
    learning_rate: float = Field(default=2e-3, gt=0, description="Peak learning rate (Adam, cosine decay).")
    warmup_epochs: float = Field(default=1.0, ge=0, description="Linear warm-up, in epochs (capped at 10%).")
    weight_decay: float = Field(default=1e-4, ge=0, description="Decoupled weight decay (AdamW).")
    label_smoothing: float = Field(default=0.1, ge=0, lt=1, description="Label smoothing of the targets.")
    mixup_alpha: float = Field(
        default=0.0, ge=0, description="Beta(alpha, alpha) mixup of faces and targets in a batch; 0: off."
    )
    class_weighting: ClassWeighting = Field(
        default="inverse_sqrt",
        description="Loss weight per class: none, or 1/sqrt(class frequency) normalised to mean 1 over the "
        "training faces (lifts disgust, 436 training faces).",
    )
    augmentation: Augmentation = Field(default_factory=Augmentation, description="Training augmentation.")
    distill: Distillation | None = Field(
        default=None, description="Distillation from a teacher ensemble's soft targets; null: none."
    )

    def as_dict(self) -> dict[str, Any]:
        """The recipe as JSON values; ``distill`` is left out when it is null and the augmentation's kiosk
        framing fields when it is off (:meth:`Augmentation.as_dict`), so recipes written before either
        existed keep their fingerprint (the shipped model's is ``53f1d5a49acd``)."""
        data = self.model_dump(mode="json")
        data["augmentation"] = self.augmentation.as_dict()
        if self.distill is None:
            data.pop("distill")
        return data

    def to_json(self) -> str:
        """What ``recipe.json`` holds."""
        return json.dumps(self.as_dict(), indent=2) + "\n"

    def fingerprint(self) -> str:
        """A short stable hash of the recipe (names runs and checks that a resume uses the same one)."""
        text = json.dumps(self.as_dict(), sort_keys=True)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
