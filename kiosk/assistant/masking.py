"""Masks the personal data a shopper may type (phone numbers, e-mail addresses, card numbers).

:func:`mask_personal_data` is pure and runs on every message before its text goes anywhere (the
retrieval, a transcript, the wire): a Luhn-valid card number of 13 to 19 digits becomes ``[card]``, a phone
number (Russian ``+7``/``8`` forms, a ten-digit mobile ``9XX...``, a dashed local ``XXX-XX-XX`` or any
international ``+CC ...`` of 8 to 15 digits) becomes ``[phone]``, an e-mail address becomes ``[email]``.
Numbers that are neither (a price, a size, an order number that fails Luhn) are left alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

CARD_MASK = "[card]"
PHONE_MASK = "[phone]"
EMAIL_MASK = "[email]"

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)
# 13-19 digits, optionally in groups split by one space or dash ("4111 1111 1111 1111").
_CARD = re.compile(r"(?<![\d+])\d(?:[ -]?\d){12,18}(?!\d)")
# Separators people type inside phone numbers: spaces, dashes, dots, brackets.
_SEP = r"[\s.\-()]*"
_PHONES = (
    # +7 / 8 / 7 and ten digits: +7 (916) 123-45-67, 8 916 123 45 67, 89161234567, 8-800-555-01-23
    re.compile(rf"(?<![\w+])(?:\+\s*7|8|7){_SEP}\(?\d{{3}}\)?{_SEP}\d{{3}}{_SEP}\d{{2}}{_SEP}\d{{2}}(?!\d)"),
    # any international number: + and 8 to 15 digits with separators (+44 20 7946 0958, +1-212-555-0100)
    re.compile(rf"(?<![\w+])\+\s*\d(?:{_SEP}\d){{7,14}}(?!\d)"),
    # a Russian mobile without the country code: 916 123-45-67, 9161234567
    re.compile(rf"(?<![\w+])\(?9\d{{2}}\)?{_SEP}\d{{3}}{_SEP}\d{{2}}{_SEP}\d{{2}}(?!\d)"),
    # a local number written the way phone numbers are: 123-45-67 (the dashes make it a phone number)
    re.compile(r"(?<![\w+-])\d{3}-\d{2}-\d{2}(?![\d-])"),
)


@dataclass(frozen=True)
class Masked:
    """A message with its personal data masked, and how many of each kind were masked."""

    text: str
    cards: int = 0
    phones: int = 0
    emails: int = 0

    @property
    def masked(self) -> bool:
        """Whether anything was masked."""
        return bool(self.cards or self.phones or self.emails)


def luhn_valid(digits: str) -> bool:
    """Whether a string of digits passes the Luhn check that every payment card number passes."""
    if not digits.isdigit():
        return False
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def mask_personal_data(text: str) -> Masked:
    """``text`` with card numbers, phone numbers and e-mail addresses replaced by ``[card]``, ``[phone]``
    and ``[email]``; pure and deterministic."""
    text, emails = _EMAIL.subn(EMAIL_MASK, text)
    cards = 0

    def card(match: re.Match[str]) -> str:
        nonlocal cards
        digits = re.sub(r"\D", "", match.group(0))
        if luhn_valid(digits):
            cards += 1
            return CARD_MASK
        return match.group(0)

    text = _CARD.sub(card, text)
    phones = 0
    for pattern in _PHONES:
        text, found = pattern.subn(PHONE_MASK, text)
        phones += found
    return Masked(text=text, cards=cards, phones=phones, emails=emails)
