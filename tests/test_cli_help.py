"""Every console script answers --help, and every command's help carries an example."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from backoffice.cli import main as backoffice_main
from edge_models.cli import main as edge_models_main
from kiosk.cli import main as kiosk_main
from provisioning.cli import main as provision_main

GROUPS = {
    "kiosk": kiosk_main,
    "edge-models": edge_models_main,
    "backoffice": backoffice_main,
    "provision": provision_main,
}


def _commands(group: click.Group, prefix: list[str]) -> list[list[str]]:
    found = [prefix]
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found.extend(_commands(command, [*prefix, name]))
        else:
            found.append([*prefix, name])
    return found


@pytest.mark.parametrize("script", sorted(GROUPS))
def test_every_command_has_help_with_an_example(script: str) -> None:
    group = GROUPS[script]
    for path in _commands(group, []):
        result = CliRunner().invoke(group, [*path, "--help"])
        assert result.exit_code == 0, (script, path, result.output)
        assert "Example" in result.output, f"{script} {' '.join(path)} --help has no example"
