"""Scoring the assistant against expectations, and choosing its thresholds: pure.

A query file has one JSON object a line: ``text``, ``lang``, ``expect`` (the entry that answers it, or
null) and ``handoff`` (whether it asks for a person). :func:`score` gives issue 19's target figures, each
as a count and a rate; :func:`calibrate` chooses the decision thresholds that maximise :func:`objective`,
smoothed over neighbouring thresholds so that a lucky boundary is not chosen.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from kiosk.assistant.decision import EPSILON, Decision, DecisionThresholds, decide
from kiosk.assistant.handoff import HandoffSignal
from kiosk.assistant.knowledge import Lang

Figures = dict[str, dict[str, object]]


@dataclass(frozen=True)
class Expectation:
    """One query and what should happen to it."""

    text: str
    lang: Lang | None
    expect: str | None
    handoff: bool

    @property
    def kind(self) -> str:
        """``handoff``, ``answerable`` or ``out_of_scope``."""
        if self.handoff:
            return "handoff"
        return "answerable" if self.expect else "out_of_scope"


@dataclass(frozen=True)
class Outcome:
    """What the assistant did with one query."""

    action: str
    entry: str | None
    options: tuple[str, ...]


def read_expectations(lines: Iterable[str]) -> list[Expectation]:
    """Parse a query file's lines (blank lines skipped); ValueError names a bad line."""
    found: list[Expectation] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            lang = row.get("lang")
            expect = row.get("expect")
            found.append(
                Expectation(
                    text=str(row["text"]),
                    lang=lang if lang in ("ru", "en") else None,
                    expect=str(expect) if expect else None,
                    handoff=bool(row.get("handoff", False)),
                )
            )
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"line {number}: not a query object with a text ({exc})") from None
    return found


def _figure(count: int, total: int) -> dict[str, object]:
    return {"count": count, "of": total, "rate": round(count / total, 4) if total else None}


def score(expectations: Sequence[Expectation], outcomes: Sequence[Outcome]) -> Figures:
    """Issue 19's figures: for each, the count, the total it is out of and the rate.

    right: an answerable message answered with its entry, or its entry among a clarify's two options;
    wrong_answered: an answerable message answered with another entry; clarify: answerable messages
    clarified; out_of_scope_answered (and _clarified); handoff_handed_off: hand-off messages handed off;
    other_handed_off: every other message handed off.
    """
    if len(expectations) != len(outcomes):
        raise ValueError(
            f"{len(expectations)} queries but {len(outcomes)} replies: they must pair line by line"
        )
    answerable = right = wrong = clarified = 0
    out_of_scope = oos_answered = oos_clarified = 0
    handoffs = handed_off = others = false_handoff = 0
    for expectation, outcome in zip(expectations, outcomes, strict=True):
        kind = expectation.kind
        if kind == "handoff":
            handoffs += 1
            handed_off += outcome.action == "handoff"
            continue
        others += 1
        false_handoff += outcome.action == "handoff"
        if kind == "out_of_scope":
            out_of_scope += 1
            oos_answered += outcome.action == "answer"
            oos_clarified += outcome.action == "clarify"
            continue
        answerable += 1
        if outcome.action == "answer":
            if outcome.entry == expectation.expect:
                right += 1
            else:
                wrong += 1
        elif outcome.action == "clarify":
            clarified += 1
            right += expectation.expect in outcome.options[:2]
    return {
        "right": _figure(right, answerable),
        "wrong_answered": _figure(wrong, answerable),
        "clarify": _figure(clarified, answerable),
        "out_of_scope_answered": _figure(oos_answered, out_of_scope),
        "out_of_scope_clarified": _figure(oos_clarified, out_of_scope),
        "handoff_handed_off": _figure(handed_off, handoffs),
        "other_handed_off": _figure(false_handoff, others),
    }


#: Issue 19's targets: the goal, and the least to call it resolved (rate bounds).
TARGETS: dict[str, dict[str, tuple[str, float]]] = {
    "goal": {
        "right": (">=", 0.85),
        "wrong_answered": ("<=", 0.03),
        "out_of_scope_answered": ("<=", 0.05),
        "handoff_handed_off": (">=", 0.95),
        "other_handed_off": ("<=", 0.03),
        "clarify": ("<=", 0.15),
    },
    "minimum": {
        "right": (">=", 0.80),
        "wrong_answered": ("<=", 0.05),
        "out_of_scope_answered": ("<=", 0.10),
        "handoff_handed_off": (">=", 0.90),
        "other_handed_off": ("<=", 0.03),
        "clarify": ("<=", 0.15),
    },
}


def meets(figures: Figures, level: str) -> dict[str, bool]:
    """For each target of ``level`` (goal or minimum), whether the figures meet it."""
    verdict: dict[str, bool] = {}
    for name, (op, bound) in TARGETS[level].items():
        rate = figures[name]["rate"]
        if isinstance(rate, float):
            verdict[name] = rate >= bound if op == ">=" else rate <= bound
    return verdict


#: What a mistake costs in :func:`objective`, against the right rate: a wrong answer's rate counts twice,
#: the rate of out-of-scope messages answered half.
COSTS = {"wrong_answered": 2.0, "out_of_scope_answered": 0.5}


def _objective_from_rates(rates: dict[str, float]) -> float:
    value = rates["right"]
    for name, cost in COSTS.items():
        value -= cost * rates[name]
    for name in ("wrong_answered", "out_of_scope_answered", "clarify"):
        bound = TARGETS["minimum"][name][1]
        if rates[name] > bound:
            value -= 4 * (rates[name] - bound)
    return value


def objective(figures: Figures) -> float:
    """The right rate less the :data:`COSTS` of mistakes, and less four times any amount by which a minimum
    target is missed (wrong answered, out of scope answered, clarify): what :func:`calibrate` maximises.
    Hand-offs do not depend on the thresholds."""
    rates: dict[str, float] = {}
    for name in ("right", "wrong_answered", "out_of_scope_answered", "clarify"):
        rate = figures[name]["rate"]
        rates[name] = rate if isinstance(rate, float) else 0.0
    return _objective_from_rates(rates)


@dataclass(frozen=True)
class Candidate:
    """What the decision needs of one query: its two best entries and scores, and its hand-off signs."""

    expectation: Expectation
    ranked: tuple[tuple[str, float], ...]
    signal: HandoffSignal


def _outcome(decision: Decision) -> Outcome:
    return Outcome(
        action=decision.action,
        entry=decision.entries[0] if decision.action == "answer" else None,
        options=decision.entries if decision.action == "clarify" else (),
    )


def outcomes_at(candidates: Sequence[Candidate], thresholds: DecisionThresholds) -> list[Outcome]:
    """What the assistant would do with each candidate at ``thresholds``."""
    return [_outcome(decide(list(c.ranked), c.signal, thresholds)) for c in candidates]


def _grid(low: float, high: float, step: float) -> list[float]:
    count = round((high - low) / step)
    return [round(low + i * step, 4) for i in range(count + 1)]


class _Table:
    """The candidates as arrays, to score many thresholds fast; mirrors :func:`decide` (a test checks)."""

    def __init__(self, candidates: Sequence[Candidate]) -> None:
        kinds = [c.expectation.kind for c in candidates]
        self.answerable = np.array([k == "answerable" for k in kinds], dtype=bool)
        self.oos = np.array([k == "out_of_scope" for k in kinds], dtype=bool)
        self.best = np.array([c.ranked[0][1] if c.ranked else 0.0 for c in candidates])
        self.second = np.array([c.ranked[1][1] if len(c.ranked) > 1 else 0.0 for c in candidates])
        self.has_second = np.array([len(c.ranked) > 1 for c in candidates], dtype=bool)
        firsts = [c.ranked[0][0] if c.ranked else None for c in candidates]
        seconds = [c.ranked[1][0] if len(c.ranked) > 1 else None for c in candidates]
        expects = [c.expectation.expect for c in candidates]
        self.top_right = np.array([f == e for f, e in zip(firsts, expects, strict=True)], dtype=bool)
        second_right = np.array([s == e for s, e in zip(seconds, expects, strict=True)], dtype=bool)
        self.pair_right = self.top_right | second_right
        self.forced = np.array(
            [bool(c.signal.strong) or len(c.signal.weak) >= 2 for c in candidates], dtype=bool
        )
        self.n_answerable = max(int(self.answerable.sum()), 1)
        self.n_oos = max(int(self.oos.sum()), 1)

    def objective(self, answer: float, margin: float, clarify: float) -> float:
        free = ~self.forced
        answered = free & (self.best >= answer - EPSILON) & (self.best - self.second >= margin - EPSILON)
        clarified = free & ~answered & (self.best >= clarify - EPSILON) & self.has_second
        right = (answered & self.top_right) | (clarified & self.pair_right)
        rates = {
            "right": float((right & self.answerable).sum()) / self.n_answerable,
            "wrong_answered": float((answered & ~self.top_right & self.answerable).sum()) / self.n_answerable,
            "clarify": float((clarified & self.answerable).sum()) / self.n_answerable,
            "out_of_scope_answered": float((answered & self.oos).sum()) / self.n_oos,
        }
        return _objective_from_rates(rates)


def calibrate(candidates: Sequence[Candidate], step: float = 0.02, smooth: int = 1) -> DecisionThresholds:
    """The thresholds (answer, margin, clarify) maximising :func:`objective` on ``candidates``, averaged over
    the ``smooth`` neighbouring grid steps each way (a plateau beats a spike); ties go to the higher
    answer threshold, then the higher margin, then the higher clarify threshold (the more careful choice)."""
    table = _Table(candidates)
    answers = _grid(0.1, 0.9, step)
    margins = _grid(0.0, 0.4, step)
    clarifies = _grid(0.1, 0.9, step)
    values = np.full((len(answers), len(margins), len(clarifies)), np.nan)
    for (ai, a), (mi, m), (ci, c) in itertools.product(
        enumerate(answers), enumerate(margins), enumerate(clarifies)
    ):
        if c <= a:
            values[ai, mi, ci] = table.objective(a, m, c)
    best: tuple[float, float, float, float] | None = None
    chosen = (0, 0, 0)
    for ai, mi, ci in zip(*np.nonzero(~np.isnan(values)), strict=True):
        around = values[
            max(ai - smooth, 0) : ai + smooth + 1,
            max(mi - smooth, 0) : mi + smooth + 1,
            max(ci - smooth, 0) : ci + smooth + 1,
        ]
        rank = (float(np.nanmean(around)), answers[ai], margins[mi], clarifies[ci])
        if best is None or rank > best:
            best, chosen = rank, (int(ai), int(mi), int(ci))
    return DecisionThresholds(
        answer=answers[chosen[0]], margin=margins[chosen[1]], clarify=clarifies[chosen[2]]
    )
