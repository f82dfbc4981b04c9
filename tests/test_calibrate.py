"""Variant calibration (edge_models/calibration.py, `edge-models calibrate`): the choice rule, the file, when
a saved calibration is stale, the kiosk loading the chosen variants at its first start, and the self-test's
hook. The measurements run the real models (a round or two of a few calls: the figures are not judged)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from edge_models import calibration
from edge_models.calibration import (
    Calibration,
    FamilyChoice,
    VariantFigure,
    family_of,
    resolve,
    variant_of,
    variants_in,
)
from edge_models.cli import main as edge_models_cli
from edge_models.manifest import load_manifest
from kiosk.config import KioskConfig, PerceptionConfig, StorageConfig
from provisioning.device.judges import VariantFacts, judge_variants
from provisioning.device.probes import models_in_use, probe_variants

MODELS = ("face_full_range_int8", "emotion_vitrina_int8")


def figure(model: str, ms: float) -> VariantFigure:
    return VariantFigure(model=model, precision="int8", median_ms=ms, min_ms=ms, max_ms=ms, calls=1)


def test_names_split_into_family_and_variant() -> None:
    assert family_of("face_full_range_int8") == "face_full_range"
    assert family_of("emotion_vitrina_float") == "emotion_vitrina"
    assert family_of("something_else") == "something_else"
    assert variant_of("face_short_range_float") == "float" and variant_of("x") is None
    manifest = load_manifest()
    assert variants_in(manifest, "face_full_range") == {
        "int8": "face_full_range_int8",
        "float": "face_full_range_float",
    }


def test_the_preferred_variant_stays_unless_another_is_faster_by_the_margin() -> None:
    figures = (figure("m_int8", 3.0), figure("m_float", 2.9))
    assert calibration._choose(figures, "m_int8", 0.05) == "m_int8"  # 3 % faster: noise
    figures = (figure("m_int8", 3.0), figure("m_float", 2.0))
    assert calibration._choose(figures, "m_int8", 0.05) == "m_float"
    assert calibration._choose(figures, "m_float", 0.05) == "m_float"


def test_resolve_follows_the_forced_variant_or_the_calibration() -> None:
    manifest = load_manifest()
    assert resolve("face_full_range_int8", "float", None, manifest) == "face_full_range_float"
    assert resolve("face_full_range_float", "int8", None, manifest) == "face_full_range_int8"
    assert resolve("face_full_range_int8", "auto", None, manifest) == "face_full_range_int8"
    choice = FamilyChoice(
        family="face_full_range",
        task="presence",
        chosen="face_full_range_float",
        preferred="face_full_range_int8",
        figures=(figure("face_full_range_int8", 3.0), figure("face_full_range_float", 2.0)),
    )
    found = Calibration(
        created="2026-12-01T00:00:00Z",  # type: ignore[arg-type]
        host=calibration.host_fingerprint(["face_full_range_int8"], manifest),
        threads=1,
        rounds=1,
        margin=0.05,
        choices=(choice,),
    )
    assert resolve("face_full_range_int8", "auto", found, manifest) == "face_full_range_float"
    # A calibration made for another preferred model does not apply.
    assert resolve("face_full_range_float", "auto", found, manifest) == "face_full_range_float"
    assert resolve("emotion_vitrina_int8", "auto", found, manifest) == "emotion_vitrina_int8"


@pytest.fixture(scope="module")
def measured() -> Calibration:
    return calibration.measure(MODELS, rounds=2, calls=2)


def test_measure_times_every_variant_of_each_family(measured: Calibration) -> None:
    families = {c.family: c for c in measured.choices}
    assert set(families) == {"face_full_range", "emotion_vitrina"}
    for choice in measured.choices:
        assert {f.model for f in choice.figures} == set(variants_in(load_manifest(), choice.family).values())
        assert choice.chosen in {f.model for f in choice.figures}
        for f in choice.figures:
            assert 0 < f.min_ms <= f.median_ms <= f.max_ms
    assert families["face_full_range"].task == "presence" and families["emotion_vitrina"].task == "emotion"
    assert measured.rounds == 2 and measured.threads == 1
    assert measured.host.cpu and measured.host.interpreter.split()[0].endswith("interpreter")


def test_a_saved_calibration_is_current_only_for_the_same_host_threads_and_models(
    measured: Calibration, tmp_path: Path
) -> None:
    path = tmp_path / "calibration.json"
    calibration.save(measured, path)
    again = calibration.load(path)
    assert again == measured
    assert calibration.is_current(again, MODELS, 1)
    assert not calibration.is_current(again, MODELS, 2)  # another thread count
    assert not calibration.is_current(again, (*MODELS, "face_short_range_int8"), 1)  # a family unmeasured
    assert not calibration.is_current(again, ("face_full_range_float", "emotion_vitrina_int8"), 1)
    elsewhere = measured.model_copy(update={"host": measured.host.model_copy(update={"cpu": "Cortex-A76"})})
    assert not calibration.is_current(elsewhere, MODELS, 1)


def test_ensure_measures_once_and_again_when_the_file_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "data" / "calibration.json"
    first, fresh = calibration.ensure(path, ("face_short_range_int8",), rounds=1, calls=1)
    assert fresh and path.is_file()
    second, fresh = calibration.ensure(path, ("face_short_range_int8",), rounds=1, calls=1)
    assert not fresh and second == first
    path.write_text("{not json", encoding="utf-8")
    _, fresh = calibration.ensure(path, ("face_short_range_int8",), rounds=1, calls=1)
    assert fresh and calibration.load(path) is not None


def test_the_cli_prints_each_variants_figures_and_the_choice_and_saves_it(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        edge_models_cli,
        [
            "calibrate",
            "--json",
            "--data-dir",
            str(tmp_path),
            "--rounds",
            "1",
            "--calls",
            "2",
            "--model",
            "face_short_range_int8",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    (choice,) = report["choices"]
    assert choice["family"] == "face_short_range"
    assert {f["model"] for f in choice["figures"]} == {"face_short_range_int8", "face_short_range_float"}
    assert all(f["median_ms"] > 0 for f in choice["figures"])
    assert report["saved_to"] == str(tmp_path / "calibration.json")
    assert calibration.load(tmp_path / "calibration.json") is not None
    text = CliRunner().invoke(
        edge_models_cli,
        [
            "calibrate",
            "--no-save",
            "--data-dir",
            str(tmp_path / "x"),
            "--rounds",
            "1",
            "--calls",
            "1",
            "--model",
            "face_short_range_int8",
        ],
    )
    assert text.exit_code == 0 and "runs face_short_range_" in text.output and "not saved" in text.output
    assert not (tmp_path / "x").exists()


def test_the_kiosk_calibrates_at_its_first_start_and_loads_the_chosen_variants(tmp_path: Path) -> None:
    from kiosk.perception.detector import open_model_detector

    config = KioskConfig()
    detector = open_model_detector(
        config.presence, config.emotion, perception=config.perception, data_dir=tmp_path
    )
    try:
        saved = calibration.load(tmp_path / "calibration.json")
        assert saved is not None
        chosen = saved.chosen()
        assert set(chosen) == {"face_full_range", "face_short_range", "emotion_vitrina"}
        # The birth certificate's model list names the variants that run.
        assert set(detector.models) == set(chosen.values())
        assert detector.variants is not None and detector.variants.calibration == saved
    finally:
        detector.close()
    forced = open_model_detector(
        config.presence,
        config.emotion,
        perception=PerceptionConfig(variant="float", regions=False),
        data_dir=tmp_path / "unused",
    )
    try:
        assert set(forced.models) == {"face_full_range_float", "emotion_vitrina_float"}
        assert forced.regions is None
    finally:
        forced.close()
    assert not (tmp_path / "unused").exists()  # a forced variant measures nothing


def test_the_self_test_measures_saves_and_checks_the_variants_that_run(tmp_path: Path) -> None:
    config = KioskConfig(storage=StorageConfig(data_dir=tmp_path))
    facts, run = probe_variants(config)
    assert not facts.error and (tmp_path / "calibration.json").is_file()
    assert {family for family, _, _ in facts.chosen} == {
        "face_full_range",
        "face_short_range",
        "emotion_vitrina",
    }
    assert set(models_in_use(config, run)) == set(run.values())
    line = judge_variants(facts)
    assert line.status == "pass" and "saved in" in line.detail
    forced = KioskConfig(
        storage=StorageConfig(data_dir=tmp_path / "f"), perception=PerceptionConfig(variant="int8")
    )
    facts, run = probe_variants(forced)
    assert facts.forced == "int8" and set(run.values()) == {
        "face_full_range_int8",
        "face_short_range_int8",
        "emotion_vitrina_int8",
    }
    assert "variant = int8" in judge_variants(facts).detail


def test_a_variant_measurement_that_cannot_be_saved_is_a_warning_with_the_fix(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("", encoding="utf-8")
    config = KioskConfig(storage=StorageConfig(data_dir=blocker))
    facts, run = probe_variants(config)
    assert facts.error and run == {}
    line = judge_variants(facts)
    assert line.status == "warn" and line.fix is not None and str(blocker) in line.fix.en
    assert judge_variants(VariantFacts("p", error="x")).fix is not None


def test_a_damaged_variant_is_left_out_and_the_other_one_chosen(tmp_path: Path) -> None:
    import shutil

    from edge_models.manifest import MODELS_DIR

    models = tmp_path / "models"
    shutil.copytree(MODELS_DIR, models)  # a copy: the real files are never touched
    victim = models / "face_short_range_int8.tflite"
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    manifest = load_manifest(models / "manifest.json")
    made = calibration.measure(
        ("face_short_range_int8",), rounds=1, calls=1, manifest=manifest, models_dir=models
    )
    (choice,) = made.choices
    assert [f.model for f in choice.figures] == ["face_short_range_float"]
    assert choice.chosen == "face_short_range_float"
    assert calibration.is_current(made, ("face_short_range_int8",), 1, manifest)
    shutil.copy(models / "face_short_range_float.tflite", victim)  # now both are damaged
    data = bytearray((models / "face_short_range_float.tflite").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (models / "face_short_range_float.tflite").write_bytes(bytes(data))
    with pytest.raises(calibration.CalibrationError, match="no variant of face_short_range"):
        calibration.measure(
            ("face_short_range_int8",), rounds=1, calls=1, manifest=manifest, models_dir=models
        )
