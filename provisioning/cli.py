"""The ``provision`` command: store staff's tools to set a device up."""

from __future__ import annotations

import click

from provisioning import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="provision")
def main() -> None:
    """Vitrina provisioning: device identity, certificates, configuration and self-test.

    \b
    Example:
      provision --version
    """
