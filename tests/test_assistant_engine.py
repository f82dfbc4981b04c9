"""The assistant on the example FAQ, with our own messages: Russian, English, transliterated, misspelt,
inflected, out of scope and hand-off; every answer is an entry's own text."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiosk.assistant import Assistant, load_faq
from kiosk.assistant.language import detect_language, to_cyrillic, transliterations, words
from kiosk.assistant.morphology import Morphology
from kiosk.assistant.spelling import Speller, edit_distance

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def bot() -> Assistant:
    return Assistant(load_faq(REPO / "examples" / "faq.yaml"))


@pytest.mark.parametrize(
    ("text", "lang", "entry"),
    [
        # Russian, inflected and colloquial
        ("до скольки вы работаете в воскресенье", "ru", "opening_hours"),
        ("хочу вернуть лампу", "ru", "returns"),
        ("доставите диван домой?", "ru", "delivery"),
        ("сборка шкафа сколько стоит", "ru", "assembly"),
        ("диван привезли с царапиной, повреждён", "ru", "damaged_in_delivery"),
        ("можно поменять цвет кресла", "ru", "exchange_colour"),
        ("принимаете карты?", "ru", "paying"),
        ("бонусы копятся?", "ru", "bonus_card"),
        ("гарантия на диван", "ru", "guarantee"),
        ("где оставить машину", "ru", "car_park"),
        # English
        ("what time do you open on saturday", "en", "opening_hours"),
        ("can i return a lamp i bought", "en", "returns"),
        ("can i pay in instalments", "en", "split_payment"),
        ("where is the loo", "en", "toilets"),
        ("parking?", "en", "car_park"),
        # transliterated Russian, on a Russian or an English screen
        ("mozhno vernut pokupku?", "ru", "returns"),
        ("kak s vami svyazatsya", "en", "contact_us"),
        # misspelt
        ("вазврат покупки возможен?", "ru", "returns"),
        ("do you delivr sofas", "en", "delivery"),
    ],
)
def test_answers_with_the_entry(bot: Assistant, text: str, lang: str, entry: str) -> None:
    reply = bot.reply(text, lang)  # type: ignore[arg-type]
    assert (reply.action, reply.entry) == ("answer", entry), reply
    assert reply.answer == bot.faq.entry(entry).answer(reply.lang)


def test_replies_in_the_language_of_the_message(bot: Assistant) -> None:
    assert bot.reply("where is the loo", "ru").lang == "en"
    assert bot.reply("где туалет", "en").lang == "ru"
    assert bot.reply("mozhno vernut pokupku?", "en").lang == "ru"


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("кто выиграл чемпионат мира", "ru"),
        ("какая погода завтра", "ru"),
        ("how tall is the eiffel tower", "en"),
        ("посоветуйте хороший ресторан рядом", "ru"),
    ],
)
def test_declines_what_the_faq_does_not_cover(bot: Assistant, text: str, lang: str) -> None:
    reply = bot.reply(text, lang)  # type: ignore[arg-type]
    assert reply.action == "decline", reply
    assert reply.entry is None and reply.options == ()
    assert "сотрудника" in reply.answer or "staff" in reply.answer  # the offer of a person


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("соедините с оператором", "asked_for_person"),
        ("can I talk to someone", "asked_for_person"),
        ("позовите живого человека", "asked_for_person"),
        ("soedinite s operatorom", "asked_for_person"),
        ("get me a manager please", "asked_for_person"),
        ("не хочу общаться с ботом", "refused_bot"),
        ("this is useless", "frustrated"),
        ("опять не то, что за бред", "frustrated"),
        ("меня обсчитали", "grievance"),
        ("my child is missing", "emergency"),
        ("перезвоните мне по номеру 8 916 123 45 67", "asked_for_callback"),
        ("HELP ME NOW", "help"),
    ],
)
def test_hands_off(bot: Assistant, text: str, reason: str) -> None:
    reply = bot.reply(text)
    assert (reply.action, reply.reason) == ("handoff", reason), reply


@pytest.mark.parametrize(
    "text",
    ["хочу оставить отзыв о продавце", "can you help me plan a room", "я потерял чек, можно вернуть?"],
)
def test_mentions_of_people_or_help_are_not_hand_offs(bot: Assistant, text: str) -> None:
    assert bot.reply(text).action != "handoff"


def test_a_vague_message_gets_two_options(bot: Assistant) -> None:
    reply = bot.reply("мебель", "ru")  # furniture: its guarantee? damaged in delivery? delivery?
    assert reply.action == "clarify", reply
    assert len(reply.options) == 2 and reply.entry is None
    for option in reply.options:
        assert bot.faq.entry(option).question_ru.rstrip("?") in reply.answer


def test_personal_data_is_masked_before_anything(bot: Assistant) -> None:
    reply = bot.reply("мой email ivan@mail.example, как с вами связаться?", "ru")
    assert reply.text == "мой email [email], как с вами связаться?"
    assert reply.entry == "contact_us"
    assert "ivan" not in str(reply.as_dict())


def test_deterministic(bot: Assistant) -> None:
    again = Assistant(bot.faq)
    for text in ("хочу вернуть лампу", "vy dostavlyaete divan?", "capital of peru"):
        assert bot.reply(text) == again.reply(text)


def test_as_dict_has_the_batch_fields(bot: Assistant) -> None:
    line = bot.reply("где туалет").as_dict()
    assert set(line) == {"text", "lang", "action", "entry", "options", "confidence", "answer", "reason"}
    assert 0 <= float(str(line["confidence"])) <= 1


# --- the pieces ---


def test_words_normalise() -> None:
    assert words("Где ТУАЛЕТ?!  Ёлки") == ["где", "туалет", "елки"]
    assert words("whats ur refund policy, I don't know") == [
        "what", "is", "your", "refund", "policy", "i", "do", "not", "know",
    ]  # fmt: skip
    assert words("helpppp") == ["help"]


def test_transliteration() -> None:
    morph = Morphology()
    assert to_cyrillic("pokupku", morph.is_russian_word) == "покупку"
    assert to_cyrillic("cheloveka", morph.is_russian_word) == "человека"
    assert to_cyrillic("svyazatsya", morph.is_russian_word) == "связаться"
    assert transliterations("shchi")[0] == "щи"


def test_language_detection() -> None:
    morph = Morphology()

    def english(word: str) -> bool:
        return word in {"where", "is", "the", "store", "can", "i", "return"}

    assert detect_language(words("где магазин"), english, morph.is_russian_word, "en") == ("ru", False)
    assert detect_language(words("where is the store"), english, morph.is_russian_word, "ru") == ("en", False)
    assert detect_language(words("gde magazin"), english, morph.is_russian_word, "en") == ("ru", True)
    assert detect_language(words("42"), english, morph.is_russian_word, "en") == ("en", False)


def test_spelling_by_trigrams() -> None:
    speller = Speller(["возврат", "доставка", "warranty", "delivery"])
    assert speller.correct("вазврат") == "возврат"
    assert speller.correct("warrenty") == "warranty"
    assert speller.correct("pizza") is None
    assert speller.correct("дом") is None  # too short to correct
    assert edit_distance("abcd", "abdc", 2) == 1
