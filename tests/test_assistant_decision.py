"""The decision with fixed scores, the conversation helper, and the calibration's fast path against decide."""

from __future__ import annotations

import random

import pytest

from kiosk.assistant.conversation import Conversation
from kiosk.assistant.decision import DecisionThresholds, decide
from kiosk.assistant.engine import Reply
from kiosk.assistant.evaluation import (
    Candidate,
    Expectation,
    _Table,
    calibrate,
    objective,
    outcomes_at,
    score,
)
from kiosk.assistant.handoff import HandoffSignal

T = DecisionThresholds(answer=0.5, margin=0.1, clarify=0.3)
NONE = HandoffSignal()


def test_answers_a_clear_best() -> None:
    decision = decide([("a", 0.8), ("b", 0.3)], NONE, T)
    assert (decision.action, decision.entries, decision.confidence) == ("answer", ("a",), 0.8)


def test_clarifies_two_close_ones() -> None:
    assert decide([("a", 0.8), ("b", 0.75)], NONE, T).entries == ("a", "b")
    assert decide([("a", 0.8), ("b", 0.75)], NONE, T).action == "clarify"


def test_clarifies_a_middling_best() -> None:
    assert decide([("a", 0.4), ("b", 0.1)], NONE, T).action == "clarify"


def test_declines_a_low_best() -> None:
    decision = decide([("a", 0.2), ("b", 0.1)], NONE, T)
    assert (decision.action, decision.entries) == ("decline", ())


def test_boundaries_are_inclusive() -> None:
    assert decide([("a", 0.5), ("b", 0.4)], NONE, T).action == "answer"
    assert decide([("a", 0.3), ("b", 0.29)], NONE, T).action == "clarify"


def test_a_strong_sign_hands_off_whatever_the_scores() -> None:
    decision = decide([("a", 0.99), ("b", 0.0)], HandoffSignal(strong=("frustrated",)), T)
    assert (decision.action, decision.reason, decision.confidence) == ("handoff", "frustrated", 1.0)


def test_weak_signs() -> None:
    one = HandoffSignal(weak=("help",))
    assert decide([("a", 0.9), ("b", 0.1)], one, T).action == "answer"  # the FAQ has the answer
    assert decide([("a", 0.1), ("b", 0.0)], one, T).action == "handoff"  # it has none
    two = HandoffSignal(weak=("help", "shouting"))
    assert decide([("a", 0.9), ("b", 0.1)], two, T).action == "handoff"


def test_thresholds_must_be_ordered() -> None:
    with pytest.raises(ValueError, match="clarify"):
        DecisionThresholds(answer=0.3, margin=0.1, clarify=0.5)


def _reply(action: str) -> Reply:
    return Reply(
        text="x", lang="en", action=action, entry="a" if action == "answer" else None,  # type: ignore[arg-type]
        options=(), confidence=0.1, answer="...",
    )  # fmt: skip


def test_repeated_declines_hand_off_and_the_bot_falls_silent() -> None:
    state = Conversation(max_declines=2)
    state, shown = state.after(_reply("decline"))
    assert shown is not None and shown.action == "decline"
    state, shown = state.after(_reply("decline"))
    assert shown is not None and (shown.action, shown.reason) == ("handoff", "repeated_declines")
    assert state.handed_off
    state, shown = state.after(_reply("answer"))
    assert shown is None  # after hand-off the bot stays silent
    state = state.hand_back()
    state, shown = state.after(_reply("answer"))
    assert shown is not None and shown.action == "answer"


def test_an_answer_resets_the_declines() -> None:
    state = Conversation(max_declines=2)
    for action in ("decline", "answer", "decline"):
        state, shown = state.after(_reply(action))
    assert shown is not None and shown.action == "decline" and state.declines == 1


def _random_candidates(rng: random.Random, count: int) -> list[Candidate]:
    found = []
    for _ in range(count):
        kind = rng.choice(["answerable", "answerable", "oos", "handoff"])
        best = rng.random()
        second = best * rng.random()
        ids = rng.sample(["a", "b", "c", "d"], 2)
        expect = rng.choice(["a", "b", "c"]) if kind == "answerable" else None
        strong = ("asked_for_person",) if rng.random() < 0.15 else ()
        weak = tuple(rng.sample(["help", "urgent", "shouting"], rng.choice([0, 0, 0, 1, 2])))
        found.append(
            Candidate(
                Expectation("t", "en", expect, kind == "handoff"),
                ((ids[0], best), (ids[1], second)),
                HandoffSignal(strong=strong, weak=weak),
            )
        )
    return found


def test_the_calibration_fast_path_agrees_with_decide() -> None:
    rng = random.Random(7)
    candidates = _random_candidates(rng, 300)
    table = _Table(candidates)
    for _ in range(50):
        answer = rng.uniform(0.1, 0.9)
        thresholds = DecisionThresholds(
            answer=answer, margin=rng.uniform(0, 0.4), clarify=rng.uniform(0.05, answer)
        )
        slow = objective(score([c.expectation for c in candidates], outcomes_at(candidates, thresholds)))
        fast = table.objective(thresholds.answer, thresholds.margin, thresholds.clarify)
        assert fast == pytest.approx(slow, abs=1e-3)


def test_calibration_finds_separating_thresholds() -> None:
    candidates = [
        Candidate(Expectation("t", "en", "a", False), (("a", 0.8), ("b", 0.2)), NONE),
        Candidate(Expectation("t", "en", "a", False), (("a", 0.7), ("b", 0.3)), NONE),
        Candidate(Expectation("t", "en", None, False), (("a", 0.3), ("b", 0.1)), NONE),
        Candidate(Expectation("t", "en", None, False), (("c", 0.25), ("b", 0.2)), NONE),
    ]
    chosen = calibrate(candidates)
    figures = score([c.expectation for c in candidates], outcomes_at(candidates, chosen))
    assert figures["right"]["count"] == 2 and figures["out_of_scope_answered"]["count"] == 0
    assert 0.3 < chosen.answer <= 0.7
