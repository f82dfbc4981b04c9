"""Consent for expression reading, per visit: the kiosk's one consent rule, which the brain applies.

``privacy.mode`` sets the rules:

* ``presence_only``: expressions are never read (the composition root does not even load the model); the
  screen shows no consent controls for expression.
* ``notice``: expressions are read anonymously while a camera notice is on screen; one tap on
  "don't analyse me" stops it for the rest of the visit.
* ``opt_in``: expressions are read only after the shopper taps "personalise for me", for that visit; one tap
  on "don't analyse me" withdraws it.

A choice belongs to a visit (the tracker's ephemeral id) and is forgotten when the visit ends, so the next
shopper starts with the mode's default. The brain (:class:`~kiosk.decisions.brain.KioskBrain`) decides
which visits a tap covers, records each change as a ``ConsentChanged`` event, and tells the screen, in its
read model, what the shopper in front chose and which buttons to offer. Single-threaded, like the brain.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from kiosk.config import PrivacyMode

#: What a visit chose: nothing yet (the mode's default applies), yes, or no.
Choice = Literal["none", "opted_in", "opted_out"]


class Consents:
    """Each visit's choice, and what the mode makes of it."""

    def __init__(self, mode: PrivacyMode) -> None:
        self.mode: PrivacyMode = mode
        self._choices: dict[str, bool] = {}  # visit id -> opted in (True) or out (False), this visit only

    def choice(self, visit_id: str | None) -> Choice:
        """What ``visit_id`` chose ("none" for no visit)."""
        chosen = self._choices.get(visit_id) if visit_id is not None else None
        return "none" if chosen is None else "opted_in" if chosen else "opted_out"

    def reads(self, visit_id: str) -> bool:
        """May the kiosk read the expression of ``visit_id`` now?"""
        if self.mode == "presence_only":
            return False
        if self.mode == "opt_in":
            return self._choices.get(visit_id) is True
        return self._choices.get(visit_id) is not False  # notice: read unless this shopper declined

    def wanted(self, in_view: Iterable[str]) -> bool:
        """Whether anyone in view may have their expression read now (the perception gate).

        ``notice``: yes unless everyone in view declined (a newcomer is read by default); ``opt_in``: only
        while someone in view has consented; ``presence_only``: never.
        """
        if self.mode == "presence_only":
            return False
        visits = list(in_view)
        if self.mode == "notice" and not visits:
            return True
        return any(self.reads(v) for v in visits)

    def offers_opt_in(self, visit_id: str | None) -> bool:
        """Whether the screen shows "personalise for me" to ``visit_id``."""
        return self.mode == "opt_in" and self.choice(visit_id) == "none"

    def offers_opt_out(self, visit_id: str | None) -> bool:
        """Whether the screen shows "don't analyse me" to ``visit_id`` (there is something to stop)."""
        chosen = self.choice(visit_id)
        if self.mode == "presence_only" or chosen == "opted_out":
            return False
        return self.mode == "notice" or chosen == "opted_in"

    def opt_in(self, visit_id: str) -> bool:
        """``visit_id`` tapped "personalise for me" (``opt_in`` mode only). False when nothing changed."""
        if self.mode != "opt_in" or self._choices.get(visit_id) is True:
            return False
        self._choices[visit_id] = True
        return True

    def opt_out(self, visit_id: str) -> bool:
        """``visit_id`` declined. False when nothing changed (already out; ``presence_only``)."""
        if self.mode == "presence_only" or self._choices.get(visit_id) is False:
            return False
        self._choices[visit_id] = False
        return True

    def forget(self, visit_id: str) -> None:
        """The visit ended: its choice goes with it."""
        self._choices.pop(visit_id, None)
