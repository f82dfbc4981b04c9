"""Personal data typed by shoppers is masked before the text goes anywhere."""

from __future__ import annotations

import pytest

from kiosk.assistant import mask_personal_data
from kiosk.assistant.masking import luhn_valid


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("моя карта 4276 3800 1234 5679, спишите", "моя карта [card], спишите"),
        ("card 5500-0000-0000-0004 declined", "card [card] declined"),
        ("номер 2200700112345672 не проходит", "номер [card] не проходит"),
        ("позвоните +7 (912) 345-67-89", "позвоните [phone]"),
        ("мой номер 8 912 345 67 89", "мой номер [phone]"),
        ("89123456789 перезвоните", "[phone] перезвоните"),
        ("тел. 912 345-67-89", "тел. [phone]"),
        ("call +44 20 7946 0958 please", "call [phone] please"),
        ("my number is +1-212-555-0199", "my number is [phone]"),
        ("домашний 345-67-89", "домашний [phone]"),
        ("пишите на ivan.petrov+shop@mail.example.ru", "пишите на [email]"),
        ("email me: a_b@c-d.example", "email me: [email]"),
    ],
)
def test_personal_data_is_masked(text: str, masked: str) -> None:
    assert mask_personal_data(text).text == masked


@pytest.mark.parametrize(
    "text",
    [
        "куртка за 4990 рублей, размер 48",
        "order 1234567812345678 is late",  # sixteen digits that fail the Luhn check: not a card
        "скидка 15% до 31.12",
        "TV 55 inches for 59990",
        "заказ № 20240117",
    ],
)
def test_other_numbers_are_left_alone(text: str) -> None:
    result = mask_personal_data(text)
    assert result.text == text and not result.masked


def test_counts_say_what_was_masked() -> None:
    result = mask_personal_data("4276380012345679 и +7 912 345 67 89, a@b.example")
    assert (result.cards, result.phones, result.emails) == (1, 1, 1)


def test_luhn() -> None:
    assert luhn_valid("4111111111111111")
    assert not luhn_valid("4111111111111112")
    assert not luhn_valid("4111-1111")
