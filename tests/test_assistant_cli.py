"""`kiosk assistant answer` end to end on the example FAQ, and bench/faq_score.py on a tiny query file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from kiosk.cli import main

REPO = Path(__file__).resolve().parent.parent
FAQ = REPO / "examples" / "faq.yaml"
QUERIES = REPO / "tests" / "data" / "assistant_queries.jsonl"


def test_answer_json_lines_end_to_end() -> None:
    lines = [
        {"text": "хочу вернуть лампу"},
        {"text": "where is the loo", "lang": "ru"},
        {"text": "мебель", "lang": "ru"},
        {"text": "how tall is the eiffel tower", "lang": "en"},
        {"text": "позвоните мне: +7 912 345-67-89"},
    ]
    stdin = "\n".join(json.dumps(line, ensure_ascii=False) for line in lines) + "\n\n"
    result = subprocess.run(
        [str(Path(sys.executable).with_name("kiosk")), "assistant", "answer", "--faq", str(FAQ), "--json"],
        input=stdin.encode(),
        capture_output=True,
        check=False,
        timeout=60,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr.decode()
    replies = [json.loads(line) for line in result.stdout.decode().splitlines()]
    assert [r["action"] for r in replies] == ["answer", "answer", "clarify", "decline", "handoff"]
    assert replies[0]["entry"] == "returns" and replies[0]["answer"].startswith("Да, неиспользованный товар")
    assert replies[1]["lang"] == "en" and replies[1]["entry"] == "toilets"
    assert len(replies[2]["options"]) == 2 and replies[2]["entry"] is None
    assert replies[3]["entry"] is None and replies[3]["options"] == []
    assert replies[4]["text"] == "позвоните мне: [phone]" and replies[4]["reason"] == "asked_for_callback"
    for reply in replies:
        assert set(reply) == {"text", "lang", "action", "entry", "options", "confidence", "answer", "reason"}


def test_plain_text_mode() -> None:
    result = CliRunner().invoke(
        main, ["assistant", "answer", "--faq", str(FAQ), "--lang", "en"], input="parking?\n"
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith("[answer car_park] There is a free car park")


def test_a_bad_line_stops_with_its_number() -> None:
    result = CliRunner().invoke(
        main, ["assistant", "answer", "--faq", str(FAQ), "--json"], input='{"text": "где туалет"}\nnot json\n'
    )
    assert result.exit_code == 2
    assert "stdin line 2: not a JSON object" in result.output


def test_a_bad_faq_is_reported(tmp_path: Path) -> None:
    bad = tmp_path / "faq.yaml"
    bad.write_text("store: S\nversion: 1\nentries:\n- id: a\n  topic: t\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["assistant", "check", "--faq", str(bad)])
    assert result.exit_code == 2
    assert "entry 1 (id 'a'): question_ru is missing" in result.output
    ok = CliRunner().invoke(main, ["assistant", "check", "--faq", str(FAQ)])
    assert ok.exit_code == 0 and "valid (Lamp & Shelf" in ok.output


def _score(*args: str) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, str(REPO / "bench" / "faq_score.py"), "--json", *args],
        capture_output=True,
        check=False,
        timeout=180,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    report: dict[str, object] = json.loads(result.stdout)
    return report


def test_the_scorer_counts_given_replies(tmp_path: Path) -> None:
    replies = tmp_path / "replies.jsonl"
    rows = [
        {"action": "answer", "entry": "returns", "options": []},  # right
        {"action": "answer", "entry": "car_park", "options": []},  # wrong entry
        {"action": "clarify", "entry": None, "options": ["damaged_in_delivery", "guarantee"]},  # right
        {"action": "answer", "entry": "toilets", "options": []},  # out of scope answered
        {"action": "handoff", "entry": None, "options": []},  # handed off
        {"action": "decline", "entry": None, "options": []},  # hand-off missed
    ]
    replies.write_text("\n".join(json.dumps(row) for row in rows) + "\n", encoding="utf-8")
    report = _score("--faq", str(FAQ), "--queries", str(QUERIES), "--replies", str(replies), "--repeat", "1")
    figures = report["figures"]
    assert isinstance(figures, dict)
    assert figures["right"] == {"count": 2, "of": 3, "rate": 0.6667}
    assert figures["wrong_answered"] == {"count": 1, "of": 3, "rate": 0.3333}
    assert figures["clarify"] == {"count": 1, "of": 3, "rate": 0.3333}
    assert figures["out_of_scope_answered"] == {"count": 1, "of": 1, "rate": 1.0}
    assert figures["handoff_handed_off"] == {"count": 1, "of": 2, "rate": 0.5}
    assert figures["other_handed_off"] == {"count": 0, "of": 4, "rate": 0.0}
    latency = report["latency"]
    assert isinstance(latency, dict) and latency["messages"] == 6


def test_the_scorer_runs_the_command() -> None:
    report = _score("--faq", str(FAQ), "--queries", str(QUERIES), "--repeat", "1", "--cross-validate", "1")
    figures = report["figures"]
    assert isinstance(figures, dict)
    assert figures["right"] == {"count": 3, "of": 3, "rate": 1.0}
    assert figures["handoff_handed_off"] == {"count": 2, "of": 2, "rate": 1.0}
    command = report["command"]
    assert isinstance(command, dict) and 0 < float(str(command["peak_rss_mb"])) < 400
    assert "cross_validated" in report
