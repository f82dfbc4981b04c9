"""Score the FAQ assistant against a query file: issue 19's target figures, latency and peak memory.

    python bench/faq_score.py --json [--faq ../shared/data/faq/store-faq.yaml]
                              [--queries ../shared/data/faq/dev-queries.jsonl] [--replies FILE]
                              [--calibrate] [--cross-validate 10] [--out bench/results/faq_score.json]

Each query line: {"text", "lang", "expect": <entry id> or null, "handoff": true|false}. The replies are
those of `kiosk assistant answer --faq FAQ --json` (given with --replies, or produced here by running that
command once, under `taskset -c 0` where there is one, which is where its peak RSS comes from). "right" is
the expected entry answered or among a clarify's two options. Every figure is a count, the total it is out
of and the rate (the dev set has only 16 hand-off messages: one miss is 6 points).

Latency: the engine in this process, pinned to one core (CPU 0), one message at a time after a warm-up
pass; p50/p95/max in milliseconds over --repeat passes.

--calibrate chooses the decision thresholds on the queries (kiosk.assistant.evaluation.calibrate) and
reports the figures at them; --cross-validate N repeats a stratified 2-fold split N times: thresholds chosen
on one half and measured on the other, both ways, the held-out figures added up. That estimates what the
thresholds do on messages they were not chosen on (the lexicon and weights are not re-chosen per fold).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_report import emit, machine_facts

from kiosk.assistant.decision import DecisionThresholds
from kiosk.assistant.engine import Assistant
from kiosk.assistant.evaluation import (
    Candidate,
    Expectation,
    Figures,
    Outcome,
    calibrate,
    meets,
    outcomes_at,
    read_expectations,
    score,
)
from kiosk.assistant.knowledge import load_faq

REPO = Path(__file__).resolve().parent.parent
SHARED_FAQ = REPO.parent / "shared" / "data" / "faq"


def read_replies(path: Path) -> list[Outcome]:
    """The outcomes in a JSON-lines file written by `kiosk assistant answer --json`."""
    outcomes: list[Outcome] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            outcomes.append(Outcome(row["action"], row.get("entry"), tuple(row.get("options") or ())))
    return outcomes


def run_command(faq: Path, queries: Path) -> tuple[list[Outcome], float, float]:
    """Run `kiosk assistant answer --json` on the queries: its outcomes, wall seconds and peak RSS (MB)."""
    kiosk = Path(sys.executable).with_name("kiosk")
    command = [str(kiosk) if kiosk.exists() else "kiosk", "assistant", "answer", "--faq", str(faq), "--json"]
    if shutil.which("taskset"):
        command = ["taskset", "-c", "0", *command]
    started = time.perf_counter()
    result = subprocess.run(command, input=queries.read_bytes(), capture_output=True, check=False)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(
            f"kiosk assistant answer failed ({result.returncode}): {result.stderr.decode()[-2000:]}"
        )
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    outcomes = []
    for line in result.stdout.decode().splitlines():
        row = json.loads(line)
        outcomes.append(Outcome(row["action"], row.get("entry"), tuple(row.get("options") or ())))
    return outcomes, wall, peak_kb / 1024


def latency(bot: Assistant, expectations: list[Expectation], repeat: int) -> dict[str, object]:
    """Per-message reply time on one core: p50, p95 and max in milliseconds."""
    pinned = False
    if hasattr(os, "sched_setaffinity"):
        try:
            os.sched_setaffinity(0, {0})
            pinned = True
        except OSError:
            pinned = False
    for expectation in expectations:  # warm-up: caches of the lemmatiser, as on a running kiosk
        bot.reply(expectation.text, expectation.lang)
    times: list[float] = []
    for _ in range(repeat):
        for expectation in expectations:
            started = time.perf_counter()
            bot.reply(expectation.text, expectation.lang)
            times.append((time.perf_counter() - started) * 1000)
    times.sort()
    cold = Assistant(bot.faq, bot.config, bot.morphology)
    started = time.perf_counter()
    cold.reply(expectations[0].text, expectations[0].lang)
    first = (time.perf_counter() - started) * 1000
    return {
        "pinned_to_one_core": pinned,
        "messages": len(times),
        "p50_ms": round(statistics.median(times), 3),
        "p95_ms": round(times[min(len(times) - 1, int(0.95 * len(times)))], 3),
        "max_ms": round(times[-1], 3),
        "first_message_cold_cache_ms": round(first, 3),
    }


def candidates(bot: Assistant, expectations: list[Expectation]) -> list[Candidate]:
    """What the decision needs of each query (its two best entries and scores, its hand-off signs)."""
    found = []
    for expectation in expectations:
        analysis = bot.analyse(expectation.text, expectation.lang)
        ranked = bot.index.rank(analysis)
        signal = bot.handoff.detect(expectation.text, analysis)
        found.append(Candidate(expectation, tuple((s.entry_id, s.score) for s in ranked[:2]), signal))
    return found


def cross_validate(items: list[Candidate], repeats: int, seed: int = 19) -> dict[str, object]:
    """Repeated stratified 2-fold: thresholds chosen on one half, figures on the other, added up."""
    totals: dict[str, list[int]] = {}
    chosen: list[dict[str, float]] = []
    rng = random.Random(seed)
    for _ in range(repeats):
        halves: tuple[list[Candidate], list[Candidate]] = ([], [])
        for kind in ("answerable", "out_of_scope", "handoff"):
            group = [c for c in items if c.expectation.kind == kind]
            rng.shuffle(group)
            halves[0].extend(group[::2])
            halves[1].extend(group[1::2])
        for train, test in (halves, halves[::-1]):
            thresholds = calibrate(train)
            chosen.append(thresholds.model_dump())
            figures = score([c.expectation for c in test], outcomes_at(test, thresholds))
            for name, figure in figures.items():
                total = totals.setdefault(name, [0, 0])
                total[0] += int(str(figure["count"]))
                total[1] += int(str(figure["of"]))
    held_out: Figures = {
        name: {"count": c, "of": n, "rate": round(c / n, 4) if n else None} for name, (c, n) in totals.items()
    }
    return {
        "repeats": repeats,
        "folds": 2 * repeats,
        "held_out": held_out,
        "meets_goal": meets(held_out, "goal"),
        "meets_minimum": meets(held_out, "minimum"),
        "thresholds_chosen": {
            key: {"min": min(t[key] for t in chosen), "max": max(t[key] for t in chosen)}
            for key in ("answer", "margin", "clarify")
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--faq", type=Path, default=SHARED_FAQ / "store-faq.yaml")
    parser.add_argument("--queries", type=Path, default=SHARED_FAQ / "dev-queries.jsonl")
    parser.add_argument("--replies", type=Path, help="score these replies instead of running the command")
    parser.add_argument("--repeat", type=int, default=5, help="latency passes over the queries")
    parser.add_argument("--calibrate", action="store_true", help="also choose thresholds on the queries")
    parser.add_argument("--cross-validate", type=int, default=0, metavar="N", help="N repeated 2-fold splits")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--out", type=Path, help="also write the JSON result here")
    args = parser.parse_args()

    load_before = os.getloadavg()
    expectations = read_expectations(args.queries.read_text(encoding="utf-8").splitlines())
    result: dict[str, object] = {
        "faq": str(args.faq),
        "queries": str(args.queries),
        "messages": len(expectations),
    }
    if args.replies:
        outcomes = read_replies(args.replies)
        result["replies"] = str(args.replies)
    else:
        outcomes, wall, peak_mb = run_command(args.faq, args.queries)
        result["command"] = {"wall_s": round(wall, 3), "peak_rss_mb": round(peak_mb, 1)}
    figures = score(expectations, outcomes)
    result["figures"] = figures
    result["meets_goal"] = meets(figures, "goal")
    result["meets_minimum"] = meets(figures, "minimum")

    bot = Assistant(load_faq(args.faq))
    result["thresholds"] = bot.config.thresholds.model_dump()
    result["latency"] = latency(bot, expectations, args.repeat)
    if args.calibrate or args.cross_validate:
        items = candidates(bot, expectations)
        if args.calibrate:
            tuned: DecisionThresholds = calibrate(items)
            tuned_figures = score(expectations, outcomes_at(items, tuned))
            result["calibrated"] = {"thresholds": tuned.model_dump(), "figures": tuned_figures}
        if args.cross_validate:
            result["cross_validated"] = cross_validate(items, args.cross_validate)
    result["machine"] = machine_facts(load_before)
    emit(result, args.out, args.json)
    if not args.json:
        for name, figure in figures.items():
            print(f"{name:24} {figure['count']:>4}/{figure['of']:<4} {figure['rate']}")


if __name__ == "__main__":
    main()
