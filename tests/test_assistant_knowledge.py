"""The FAQ loader: the example loads; every problem is named with its entry and its fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiosk.assistant import Faq, FaqError, load_faq, parse_faq

REPO = Path(__file__).resolve().parent.parent


def _entry(**overrides: object) -> dict[str, object]:
    entry: dict[str, object] = {
        "id": "opening_hours",
        "topic": "store_info",
        "question_ru": "Когда вы открыты?",
        "question_en": "When are you open?",
        "answer_ru": "С 9 до 21.",
        "answer_en": "From 9 to 21.",
    }
    entry.update(overrides)
    return entry


def _problems(data: object) -> list[str]:
    with pytest.raises(FaqError) as caught:
        parse_faq(data, "faq.yaml")
    assert str(caught.value).startswith("faq.yaml: ")
    return caught.value.problems


def test_the_example_faq_loads() -> None:
    faq = load_faq(REPO / "examples" / "faq.yaml")
    assert isinstance(faq, Faq)
    assert len(faq.entries) >= 12
    assert len({entry.id for entry in faq.entries}) == len(faq.entries)
    assert faq.entry("returns").answer("en").startswith("Yes")


def test_a_duplicate_id_names_both_entries() -> None:
    problems = _problems({"store": "S", "version": 1, "entries": [_entry(), _entry(topic="hours")]})
    assert problems == [
        "entry 2 (id 'opening_hours'): the id is already used by entry 1; "
        "ids must be unique, rename one of them"
    ]


def test_a_missing_language_names_the_field_and_the_language() -> None:
    entry = _entry()
    del entry["answer_en"]
    (problem,) = _problems({"store": "S", "version": 1, "entries": [entry]})
    assert "entry 1 (id 'opening_hours')" in problem
    assert "answer_en is missing" in problem and "add its English text" in problem


def test_a_bad_topic_suggests_a_name() -> None:
    (problem,) = _problems({"store": "S", "version": 1, "entries": [_entry(topic="Store Info")]})
    assert "topic 'Store Info' is not a name" in problem and "'store_info'" in problem


def test_an_unknown_key_gets_a_did_you_mean() -> None:
    (problem,) = _problems({"store": "S", "version": 1, "entries": [_entry(answer_eng="x")]})
    assert "unknown key 'answer_eng'" in problem and "did you mean 'answer_en'" in problem


def test_russian_text_must_be_russian() -> None:
    (problem,) = _problems({"store": "S", "version": 1, "entries": [_entry(answer_ru="From 9 to 21.")]})
    assert "answer_ru has no Russian letter" in problem


def test_every_problem_is_reported_at_once() -> None:
    problems = _problems({"store": "", "version": 0, "entries": [_entry(id="Bad Id"), "not a mapping"]})
    assert len(problems) == 4
    assert any(p.startswith("store:") for p in problems) and any(p.startswith("version:") for p in problems)
    assert any("entry 2: is not a mapping" in p for p in problems)


def test_file_errors_name_the_fix(tmp_path: Path) -> None:
    with pytest.raises(FaqError, match="does not exist"):
        load_faq(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("store: S\nentries: [\n", encoding="utf-8")
    with pytest.raises(FaqError, match=r"not valid YAML at line \d+"):
        load_faq(broken)


def test_the_model_is_frozen() -> None:
    faq = parse_faq({"store": "S", "version": 1, "entries": [_entry()]})
    with pytest.raises(Exception, match="frozen"):
        faq.entries[0].answer_ru = "x"  # type: ignore[misc]
