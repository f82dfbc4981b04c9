"""A conversation's state for the screen: repeated declines go to a person, and after a hand-off the bot
is silent until a person hands the conversation back. Pure: it only turns replies into replies."""

from __future__ import annotations

from dataclasses import dataclass, replace

from kiosk.assistant import replies
from kiosk.assistant.engine import Reply


@dataclass(frozen=True)
class Conversation:
    """One conversation: declines in a row, and whether a person has it."""

    max_declines: int = 2
    declines: int = 0
    handed_off: bool = False

    def after(self, reply: Reply) -> tuple[Conversation, Reply | None]:
        """The conversation after the bot's ``reply`` to the shopper's message, and what to show: ``None``
        once a person has the conversation (the bot stays silent); a hand-off (reason
        ``repeated_declines``) in place of the ``max_declines``-th decline in a row."""
        if self.handed_off:
            return self, None
        if reply.action == "handoff":
            return replace(self, declines=0, handed_off=True), reply
        if reply.action == "decline":
            declines = self.declines + 1
            if declines >= self.max_declines:
                handoff = replace(
                    reply, action="handoff", reason="repeated_declines", answer=replies.handoff(reply.lang)
                )
                return replace(self, declines=0, handed_off=True), handoff
            return replace(self, declines=declines), reply
        if reply.action == "answer":
            return replace(self, declines=0), reply
        return self, reply

    def hand_back(self) -> Conversation:
        """A person hands the conversation back to the bot: it answers again, declines counted anew."""
        return replace(self, declines=0, handed_off=False)
