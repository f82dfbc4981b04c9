"""Click options that more than one ``edge-models`` command takes, written once."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import click

from edge_models.config import DEFAULT_PRESENCE_MODEL
from edge_models.kiosk_crops import KioskFraming

F = TypeVar("F", bound=Callable[..., object])


def kiosk_framing_options(when: str) -> Callable[[F], F]:
    """``--presence-model``, ``--kiosk-scale`` and ``--kiosk-pad``: how a FER face is framed for the kiosk's
    detector (:class:`~edge_models.kiosk_crops.KioskFraming`); ``when`` opens each help text (e.g. "With
    --crops kiosk: ")."""
    framing = KioskFraming()

    def text(rest: str) -> str:
        line = when + rest
        return line[:1].upper() + line[1:]

    def apply(command: F) -> F:
        options = [
            click.option(
                "--presence-model",
                default=DEFAULT_PRESENCE_MODEL,
                show_default=True,
                help=text("the detector (the kiosk's default)."),
            ),
            click.option(
                "--kiosk-scale",
                type=click.IntRange(1, 16),
                default=framing.scale,
                show_default=True,
                help=text("upscale factor of each face in its frame."),
            ),
            click.option(
                "--kiosk-pad",
                type=click.FloatRange(0, 4),
                default=framing.pad,
                show_default=True,
                help=text("mid-gray border on every side of the face, in face sides."),
            ),
        ]
        for option in reversed(options):
            command = option(command)
        return command

    return apply
