"""The ``edge-models`` command: list, inspect, evaluate, benchmark and build Vitrina's models."""

from __future__ import annotations

import click

from edge_models import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="edge-models")
def main() -> None:
    """Vitrina's on-device models.

    \b
    Example:
      edge-models --version
    """
