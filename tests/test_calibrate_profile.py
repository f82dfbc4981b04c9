"""`edge-models profile`: each operator of a model cut out and timed alone (edge_models.runtime.profile_ops),
the tool behind docs/edge-models-runtime.md's account of why int8 runs slower than float16 on some x86."""

from __future__ import annotations

from click.testing import CliRunner

from edge_models.cli import main as edge_models_cli
from edge_models.manifest import MODELS_DIR, load_manifest
from edge_models.runtime import profile_ops, read_verified


def test_every_operator_is_timed_once_and_float16_weights_go_with_their_operator() -> None:
    manifest = load_manifest()
    int8 = profile_ops(read_verified(manifest.get("face_short_range_int8"), MODELS_DIR), runs=2)
    float16 = profile_ops(read_verified(manifest.get("face_short_range_float"), MODELS_DIR), runs=2)
    assert all(t.ms > 0 for t in int8 + float16)
    assert [t.index for t in int8] == list(range(len(int8)))  # an int8 graph has no weight DEQUANTIZE
    assert "DEQUANTIZE" not in {t.op for t in float16}
    kinds = {t.op for t in int8}
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "ADD"} <= kinds
    convs = [t for t in int8 if t.op == "CONV_2D"]
    assert convs[0].inputs[0] == (1, 128, 128, 3)  # the stem sees the input image
    # The same layers, matched by type and shapes, exist in both files.
    assert {(t.op, t.output) for t in convs} <= {(t.op, t.output) for t in float16}


def test_the_cli_prints_totals_and_the_layers_that_differ() -> None:
    result = CliRunner().invoke(
        edge_models_cli, ["profile", "face_short_range_int8", "face_short_range_float", "--runs", "2"]
    )
    assert result.exit_code == 0, result.output
    assert "face_short_range_int8:" in result.output and "CONV_2D" in result.output
    assert "layers that differ most" in result.output


def test_the_flip_averaged_emotion_model_profiles_and_names_what_it_could_not_time() -> None:
    """Its graph records the mirrored batch of two as batch 1, so the final RESHAPE (to two rows) cannot run
    alone: the profile lists it as not timed instead of failing (it raised from LiteRT before)."""
    done = CliRunner().invoke(edge_models_cli, ["profile", "emotion_vitrina_int8", "--runs", "2"])
    assert done.exit_code == 0, done.output
    assert "CONV_2D" in done.output and "not timed: operator" in done.output and "RESHAPE" in done.output
    manifest = load_manifest()
    ops = profile_ops(read_verified(manifest.get("emotion_vitrina_int8"), MODELS_DIR), runs=2)
    untimed = [t for t in ops if t.untimed]
    assert [t.op for t in untimed] == ["RESHAPE"] and all(t.ms == 0.0 for t in untimed)
    assert sum(t.ms for t in ops if t.op == "CONV_2D") > 0
