"""The ``cloud-sync`` command: the outbox on the device and ingest in the back office."""

from __future__ import annotations

import click

from cloud_sync import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="cloud-sync")
def main() -> None:
    """Vitrina cloud sync: durable outbox, anonymisation, catalogue sync and back-office ingest.

    \b
    Example:
      cloud-sync --version
    """
