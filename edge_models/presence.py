"""Face (presence) detection with BlazeFace: frame in, :class:`Face` list out."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from edge_models.anchors import FULL_RANGE, SHORT_RANGE, AnchorSpec, generate_anchors, spec_for_input
from edge_models.config import DEFAULT_PRESENCE_MODEL, PresenceSettings
from edge_models.errors import ModelVerificationError
from edge_models.geometry import DEFAULT_FACE_WIDTH_M, estimate_distance_m, estimate_yaw_deg
from edge_models.manifest import Manifest, ModelEntry
from edge_models.postprocess import REGRESSOR_WIDTH, Detection, decode_boxes, sigmoid_scores, weighted_nms
from edge_models.preprocess import Letterbox, LetterboxCanvas, PixelMap, check_image
from edge_models.quantization import dequantize, pixel_lut
from edge_models.runtime import LoadedModel, ModelOwner, open_model
from edge_models.values import Box, Face, Point

#: Candidates are picked on the raw logits a little below the threshold's own logit, then scored exactly:
#: the same faces as scoring every anchor, without a sigmoid over all 2304 of them.
_LOGIT_MARGIN = 1e-3


def default_score_threshold(spec: AnchorSpec, quantized: bool) -> float:
    """Measured default thresholds: full range 0.65 (title text scores 0.52-0.61); short range int8 0.75,
    short range float 0.5 (MediaPipe's own)."""
    if spec == FULL_RANGE:
        return 0.65
    if spec == SHORT_RANGE and quantized:
        return 0.75
    return 0.5


def detection_to_face(
    det: Detection,
    lb: Letterbox,
    hfov_deg: float,
    face_width_m: float = DEFAULT_FACE_WIDTH_M,
    *,
    offset: tuple[float, float] = (0.0, 0.0),
    frame_size: tuple[int, int] | None = None,
) -> Face:
    """Map a detection from the model square to frame pixels and add the distance and yaw estimates.

    ``lb`` letterboxed the image the model saw; when that image was a region of the frame, ``offset`` is
    the region's top-left corner in the frame and ``frame_size`` the frame's (width, height), which the box
    is clipped to and the distance estimate's focal length comes from.
    """
    ox, oy = offset
    width, height = frame_size if frame_size is not None else (lb.src_width, lb.src_height)
    sx, sy = lb.scale_x, lb.scale_y
    px, py = lb.pad_x, lb.pad_y
    b = det.box
    full_box = Box(
        (b.xmin - px) / sx + ox, (b.ymin - py) / sy + oy, (b.xmax - px) / sx + ox, (b.ymax - py) / sy + oy
    )
    box = full_box.clip(width, height)
    kp = tuple(Point((p.x - px) / sx + ox, (p.y - py) / sy + oy) for p in det.keypoints)
    keypoints = (kp[0], kp[1], kp[2], kp[3], kp[4], kp[5])
    return Face(
        box=box,
        score=det.score,
        keypoints=keypoints,
        # The unclipped width: a face half out of the frame is not farther away.
        distance_m=estimate_distance_m(full_box.width, width, hfov_deg, face_width_m),
        yaw_deg=estimate_yaw_deg(keypoints[2], keypoints[4], keypoints[5]),
    )


class PresenceDetector(ModelOwner):
    """Find faces in BGR camera frames with a BlazeFace model from the manifest.

    Frames are letterboxed with anti-aliasing (:func:`~edge_models.preprocess.shrink`); with ``antialias``
    False, with one bilinear resize (cheaper; the region detector's crops). The model is verified, loaded
    and warmed up (one dummy invoke) when the detector is made; use it as a context manager, or call
    :meth:`close`::

        with PresenceDetector("face_full_range_int8", threads=1) as detector:
            faces = detector.detect(frame)
    """

    def __init__(
        self,
        model: str = DEFAULT_PRESENCE_MODEL,
        threads: int = 1,
        *,
        score_threshold: float | None = None,
        iou_threshold: float = 0.3,
        max_faces: int = 8,
        camera_hfov_deg: float = 62.2,
        face_width_m: float = DEFAULT_FACE_WIDTH_M,
        manifest: Manifest | None = None,
        models_dir: Path | None = None,
        antialias: bool = True,
    ) -> None:
        self._model: LoadedModel = open_model(model, threads, manifest=manifest, models_dir=models_dir)
        self.antialias = antialias
        try:
            self._setup(self._model.entry)
        except Exception:
            self._model.close()
            raise
        self.score_threshold = (
            score_threshold
            if score_threshold is not None
            else default_score_threshold(self.anchor_spec, self._input_quantized)
        )
        self.iou_threshold = iou_threshold
        self.max_faces = max_faces
        self.camera_hfov_deg = camera_hfov_deg
        self.face_width_m = face_width_m
        self._model.warm_up()

    @classmethod
    def from_settings(
        cls,
        settings: PresenceSettings,
        manifest: Manifest | None = None,
        models_dir: Path | None = None,
        *,
        antialias: bool = True,
    ) -> PresenceDetector:
        """Build a detector from the kiosk's :class:`PresenceSettings` (``antialias``: see the class)."""
        return cls(
            antialias=antialias,
            model=settings.model,
            threads=settings.threads,
            score_threshold=settings.score_threshold,
            iou_threshold=settings.iou_threshold,
            max_faces=settings.max_faces,
            camera_hfov_deg=settings.camera_hfov_deg,
            face_width_m=settings.face_width_m,
            manifest=manifest,
            models_dir=models_dir,
        )

    @property
    def quantized(self) -> bool:
        """Whether the model takes a quantised (int8) input: the int8 variant."""
        return self._input_quantized

    def _setup(self, entry: ModelEntry) -> None:
        if entry.task != "presence" or len(entry.inputs) != 1 or len(entry.outputs) != 2:
            raise ModelVerificationError(
                f"model {entry.name!r} is not a BlazeFace presence model (task {entry.task}, "
                f"{len(entry.inputs)} inputs, {len(entry.outputs)} outputs)"
            )
        spec_in = entry.inputs[0]
        if len(spec_in.shape) != 4 or spec_in.shape[0] != 1 or spec_in.shape[1] != spec_in.shape[2]:
            raise ModelVerificationError(f"model {entry.name!r} input {spec_in.shape} is not 1xSxSx3")
        shapes = [o.shape for o in entry.outputs]
        # Converters may reorder outputs: find them by shape, not by position.
        reg = [i for i, s in enumerate(shapes) if len(s) == 3 and s[2] == REGRESSOR_WIDTH]
        cls = [i for i, s in enumerate(shapes) if len(s) == 3 and s[2] == 1]
        if len(reg) != 1 or len(cls) != 1:
            raise ModelVerificationError(
                f"model {entry.name!r} outputs {shapes} are not [1,N,16] and [1,N,1]"
            )
        self._regressor_index, self._score_index = reg[0], cls[0]
        self.input_size = spec_in.shape[1]
        self.anchor_spec = spec_for_input(self.input_size, shapes[reg[0]][1])
        self._anchors = generate_anchors(self.anchor_spec)
        q = spec_in.quantization
        self._input_quantized = q is not None
        self._lut = pixel_lut(q.scale if q else None, q.zero_point if q else 0, spec_in.dtype)
        self._pixels = PixelMap(self._lut)
        self._input_shape = spec_in.shape
        self._canvas = LetterboxCanvas(self.input_size, antialias=self.antialias)
        self._rgb = np.empty((self.input_size, self.input_size, 3), dtype=np.uint8)
        self._score_q = entry.outputs[cls[0]].quantization
        self._regressor_q = entry.outputs[reg[0]].quantization

    def _letterbox_rgb(self, frame: npt.NDArray[np.uint8]) -> Letterbox:
        """Check a BGR frame, letterbox it into the model's square and convert it to RGB in ``self._rgb``."""
        check_image(frame, channels=(3,))
        square, lb = self._canvas.fit(frame)
        cv2.cvtColor(square, cv2.COLOR_BGR2RGB, dst=self._rgb)
        return lb

    def prepare(self, frame: npt.NDArray[np.uint8]) -> tuple[npt.NDArray[np.generic], Letterbox]:
        """The model input tensor for a BGR frame (letterboxed, RGB, scaled to [-1, 1], quantised)."""
        lb = self._letterbox_rgb(frame)
        return self._pixels(self._rgb).reshape(self._input_shape), lb

    def _fill_input(self, frame: npt.NDArray[np.uint8]) -> Letterbox:
        """:meth:`prepare` written straight into the interpreter's input buffer (the same values; no tensor
        allocated, none copied)."""
        lb = self._letterbox_rgb(frame)
        rgb, pixels = self._rgb, self._pixels
        self._model.fill_input(lambda buffer: pixels.into(rgb, buffer.reshape(rgb.shape)))
        return lb

    def _raw_floor(self) -> float:
        """The raw score output (a logit, or its quantised value) at or above which an anchor may reach the
        score threshold: a little below the threshold's own logit."""
        t = min(max(self.score_threshold, 1e-6), 1.0 - 1e-6)
        logit_floor = math.log(t / (1.0 - t)) - _LOGIT_MARGIN
        q = self._score_q
        return logit_floor / q.scale + q.zero_point if q is not None else logit_floor

    def _candidates(self) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float32]]:
        """Anchors whose score reaches the threshold, and their scores, from the last invoke."""
        raw = self._model.output_view(self._score_index).reshape(-1)
        picked = np.flatnonzero(raw >= self._raw_floor())
        if picked.size == 0:
            return picked, np.empty(0, dtype=np.float32)
        q = self._score_q
        logits = dequantize(raw[picked], q.scale, q.zero_point) if q is not None else raw[picked]
        scores = sigmoid_scores(logits)
        keep = scores >= self.score_threshold
        return picked[keep], scores[keep]

    def detect_raw(self, frame: npt.NDArray[np.uint8]) -> tuple[list[Detection], Letterbox]:
        """Detections in the model's input square, best first, and the letterbox that maps them back.

        The frame is letterboxed straight into the model's input buffer and only the outputs' candidate
        rows are read (views of the output buffers, never a copy of all 2304 or 896 rows)."""
        lb = self._fill_input(frame)
        self._model.invoke()
        keep, scores = self._candidates()
        if keep.size == 0:
            return [], lb
        raw = self._model.output_view(self._regressor_index).reshape(-1, REGRESSOR_WIDTH)[keep]
        q = self._regressor_q
        regressors = dequantize(raw, q.scale, q.zero_point) if q is not None else raw
        boxes, keypoints = decode_boxes(regressors, self._anchors[keep])
        return weighted_nms(boxes, scores, keypoints, self.iou_threshold, self.max_faces), lb

    def detect(self, frame: npt.NDArray[np.uint8]) -> list[Face]:
        """Faces in a BGR ``H x W x 3`` uint8 frame, best score first, in frame pixels."""
        detections, lb = self.detect_raw(frame)
        return [detection_to_face(d, lb, self.camera_hfov_deg, self.face_width_m) for d in detections]

    def detect_in(self, frame: npt.NDArray[np.uint8], region: Box) -> list[Face]:
        """Faces inside ``region`` of a BGR frame (a crop fed to the model), in frame pixels.

        The crop is the region rounded out to whole pixels and clipped to the frame; the faces' distance
        estimates use the whole frame's width, as :meth:`detect` does.
        """
        check_image(frame, channels=(3,))
        height, width = frame.shape[:2]
        x0, y0 = max(0, math.floor(region.xmin)), max(0, math.floor(region.ymin))
        x1, y1 = min(width, math.ceil(region.xmax)), min(height, math.ceil(region.ymax))
        if x1 - x0 < 2 or y1 - y0 < 2:
            return []
        detections, lb = self.detect_raw(frame[y0:y1, x0:x1])
        return [
            detection_to_face(
                d,
                lb,
                self.camera_hfov_deg,
                self.face_width_m,
                offset=(float(x0), float(y0)),
                frame_size=(width, height),
            )
            for d in detections
        ]
