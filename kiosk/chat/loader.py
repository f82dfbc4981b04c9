"""The FAQ assistant from ``[assistant]``: the store's FAQ file read and checked, the calibrated thresholds
with the configuration's overrides. Loading builds the index and opens the dictionary (about 1.5 s here),
so the composition root does it once, at start."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kiosk.config import AssistantSection
from kiosk.errors import KioskError

if TYPE_CHECKING:
    from kiosk.assistant.engine import Assistant
    from kiosk.assistant.knowledge import Lang


class AssistantUnavailableError(KioskError):
    """``[assistant]`` is enabled but the assistant cannot load; the message says what to fix."""


def load_assistant(settings: AssistantSection, default_lang: Lang) -> Assistant:
    """The assistant over ``settings.faq``, answering in ``default_lang`` when a message's language is
    undecided. Raises :class:`AssistantUnavailableError` naming the file's problems."""
    from kiosk.assistant.decision import DecisionThresholds
    from kiosk.assistant.engine import Assistant
    from kiosk.assistant.errors import AssistantError
    from kiosk.assistant.knowledge import load_faq
    from kiosk.assistant.settings import AssistantConfig

    if settings.faq is None:
        raise AssistantUnavailableError(
            "[assistant] enabled needs faq: set it to the store's FAQ file (examples/faq.yaml is a start)"
        )
    try:
        faq = load_faq(settings.faq)
    except AssistantError as exc:
        raise AssistantUnavailableError(f"[assistant] faq: {exc}") from exc
    calibrated = DecisionThresholds()
    overrides = settings.thresholds.model_dump(exclude_none=True)
    try:
        thresholds = DecisionThresholds.model_validate({**calibrated.model_dump(), **overrides})
    except ValueError as exc:
        raise AssistantUnavailableError(f"[assistant.thresholds]: {exc}") from exc
    config = AssistantConfig(
        default_lang=default_lang, thresholds=thresholds, max_declines=settings.max_declines
    )
    return Assistant(faq, config)
