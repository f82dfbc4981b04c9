"""The ``cloud-sync`` command: the outbox on the device and ingest in the back office."""

from __future__ import annotations

from pathlib import Path

import click

from cloud_sync import __version__
from mqtt_bridge.schemas import stale_schemas, write_schemas


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="cloud-sync")
def main() -> None:
    """Vitrina cloud sync: durable outbox, anonymisation, catalogue sync and back-office ingest.

    \b
    Example:
      cloud-sync --version
    """


@main.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("docs/schemas"),
    show_default=True,
    help="Folder to write the JSON Schemas into.",
)
@click.option("--check", is_flag=True, help="Write nothing; exit 1 when the files differ from the models.")
def schemas(out: Path, check: bool) -> None:
    """Generate the JSON Schemas of every MQTT payload from the wire models.

    \b
    Example:
      cloud-sync schemas --out docs/schemas
      cloud-sync schemas --check
    """
    if check:
        stale = stale_schemas(out)
        if stale:
            raise click.ClickException(
                f"schemas in {out} are out of date: {', '.join(stale)}; run `cloud-sync schemas --out {out}`"
            )
        click.echo(f"schemas in {out} match the models")
        return
    for path in write_schemas(out):
        click.echo(f"wrote {path}")
