"""BlazeFace decoding, weighted NMS, softmax and the emotion-to-valence mapping."""

import math

import numpy as np
import pytest

from edge_models.postprocess import (
    DEFAULT_VALENCE_MAP,
    choose_abstain_threshold,
    decode_boxes,
    emotion_scores,
    normalise_probabilities,
    sigmoid_scores,
    softmax,
    valence_probabilities,
    weighted_nms,
)
from edge_models.values import FER_CLASSES, Box


def test_sigmoid_scores_clip_large_logits_without_overflow() -> None:
    s = sigmoid_scores([-30000.0, 0.0, 30000.0, 2.0])
    assert s[0] == pytest.approx(math.exp(-100) / (1 + math.exp(-100)), rel=1e-3, abs=1e-30)
    assert s[1] == pytest.approx(0.5)
    assert s[2] == pytest.approx(1.0)
    assert s[3] == pytest.approx(1 / (1 + math.exp(-2)))


def test_decode_adds_offsets_to_anchor_centres() -> None:
    raw = np.zeros((2, 16), dtype=np.float32)
    raw[0, :4] = [1.0, -2.0, 10.0, 20.0]
    raw[0, 4:6] = [-3.0, -4.0]  # right eye offset
    raw[1, :4] = [0.0, 0.0, 4.0, 4.0]
    anchors = np.array([[50.0, 60.0], [10.0, 10.0]], dtype=np.float32)
    boxes, kps = decode_boxes(raw, anchors)
    assert np.allclose(boxes[0], [46, 48, 56, 68])  # centre (51, 58), size 10x20
    assert np.allclose(boxes[1], [8, 8, 12, 12])
    assert kps.shape == (2, 6, 2)
    assert np.allclose(kps[0, 0], [47, 56])
    assert np.allclose(kps[0, 1], [50, 60])  # zero offset = anchor centre


def test_decode_rejects_wrong_shapes() -> None:
    with pytest.raises(ValueError, match="regressors"):
        decode_boxes(np.zeros((3, 12)), np.zeros((3, 2)))


def test_weighted_nms_merges_overlaps_and_keeps_separate_faces() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60]], dtype=np.float32)
    scores = np.array([0.9, 0.6, 0.8], dtype=np.float32)
    kps = np.zeros((3, 6, 2), dtype=np.float32)
    kps[1] += 10.0
    dets = weighted_nms(boxes, scores, kps, iou_threshold=0.3)
    assert [round(d.score, 3) for d in dets] == [0.9, 0.8]
    merged = dets[0]
    assert merged.box.xmin == pytest.approx(0.6 / 1.5)  # score-weighted mean of 0 and 1
    assert merged.keypoints[0].x == pytest.approx(10 * 0.6 / 1.5)
    assert dets[1].box == Box(50, 50, 60, 60)
    assert len(weighted_nms(boxes, scores, kps, max_detections=1)) == 1
    assert weighted_nms(np.zeros((0, 4)), np.zeros(0), np.zeros((0, 6, 2))) == []


def test_box_iou_and_scale() -> None:
    a, b = Box(0, 0, 10, 10), Box(5, 0, 15, 10)
    assert a.iou(b) == pytest.approx(50 / 150)
    assert a.iou(Box(20, 20, 30, 30)) == 0.0
    assert a.scale(2, 3) == Box(0, 0, 20, 30)
    assert Box(-5, -5, 700, 500).clip(640, 480) == Box(0, 0, 640, 480)


def test_softmax_is_stable_and_sums_to_one() -> None:
    p = softmax([1000.0, 1000.0, -1000.0])
    assert np.allclose(p, [0.5, 0.5, 0.0])
    assert np.allclose(softmax(np.zeros((2, 4))).sum(axis=1), 1.0)


def test_normalise_probabilities_undoes_int8_drift() -> None:
    p = normalise_probabilities([0.5, 0.5, 0.0078125, -0.0])
    assert p.sum() == pytest.approx(1.0)
    assert np.allclose(normalise_probabilities([0, 0, 0, 0]), 0.25)


def test_every_fer_class_has_a_valence() -> None:
    assert set(DEFAULT_VALENCE_MAP) == set(FER_CLASSES)


def test_valence_groups_sum_class_probabilities() -> None:
    p = [0.1, 0.05, 0.05, 0.5, 0.1, 0.1, 0.1]  # angry disgust fear happy sad surprise neutral
    groups = valence_probabilities(p)
    assert groups["negative"] == pytest.approx(0.3)
    assert groups["positive"] == pytest.approx(0.5)
    assert groups["neutral"] == pytest.approx(0.2)


def test_emotion_scores_label_valence_and_abstain() -> None:
    happy = emotion_scores([0, 0, 0, 0.9, 0, 0.05, 0.05], abstain_below=0.6)
    assert (happy.label, happy.valence, happy.abstain) == ("happy", "positive", False)
    assert happy.confidence == pytest.approx(0.9)
    assert happy.probability("surprise") == pytest.approx(0.05)
    # Fear is the top class, but the negative group (0.35) loses to neutral (0.40): unsure, so abstain.
    unsure = emotion_scores([0.05, 0.0, 0.3, 0.25, 0.0, 0.2, 0.2], abstain_below=0.6)
    assert (unsure.label, unsure.valence, unsure.abstain) == ("fear", "neutral", True)


def test_choose_abstain_threshold_keeps_the_most_answers_at_the_target() -> None:
    conf = np.array([0.95, 0.9, 0.8, 0.7, 0.6, 0.5])
    correct = np.array([True, True, True, False, True, False])
    threshold, accuracy, coverage = choose_abstain_threshold(conf, correct, target_accuracy=0.75)
    # Keeping >= 0.6: 4 of 5 right (0.8 >= 0.75); keeping all six would be 4/6.
    assert (threshold, accuracy, coverage) == (0.6, 0.8, pytest.approx(5 / 6))
    threshold, accuracy, _ = choose_abstain_threshold(conf, correct, target_accuracy=1.0)
    assert threshold == 0.8 and accuracy == 1.0
    # Unreachable target: the best accuracy found.
    assert choose_abstain_threshold([0.9, 0.8], [False, False], 0.5)[1] == 0.0
