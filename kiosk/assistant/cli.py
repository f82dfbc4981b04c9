"""``kiosk assistant``: the FAQ assistant on the command line (batch answers for evaluation, FAQ checks).

The engine (and its Russian dictionary) is loaded only when a command runs, so ``kiosk --help`` stays light.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Literal, cast

import click

if TYPE_CHECKING:
    from kiosk.assistant.knowledge import Faq

EXIT_BAD_INPUT = 2

faq_option = click.option(
    "--faq",
    "faq_path",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="The store's FAQ file (YAML: id, topic, question and answer in Russian and English).",
)


@click.group()
def assistant() -> None:
    """The offline RU/EN FAQ assistant: answers shoppers' questions from the store's FAQ.

    \b
    Examples:
      echo '{"text": "можно вернуть куртку?"}' | kiosk assistant answer --faq examples/faq.yaml --json
      kiosk assistant check --faq examples/faq.yaml
    """


def _load(path: Path) -> Faq:
    from kiosk.assistant.errors import FaqError
    from kiosk.assistant.knowledge import load_faq

    try:
        return load_faq(path)
    except FaqError as exc:
        click.echo(str(exc), err=True)
        sys.exit(EXIT_BAD_INPUT)


@assistant.command("check")
@faq_option
def check(faq_path: Path) -> None:
    """Check a store's FAQ file; print every problem with the entry it is in and the fix.

    Exits 0 when the file is valid, 2 when it is not.

    \b
    Example:
      kiosk assistant check --faq examples/faq.yaml
    """
    faq = _load(faq_path)
    topics = sorted({entry.topic for entry in faq.entries})
    click.echo(
        f"{faq_path}: valid ({faq.store}, version {faq.version}, {len(faq.entries)} entries, "
        f"topics: {', '.join(topics)})"
    )


@assistant.command("answer")
@faq_option
@click.option(
    "--lang",
    type=click.Choice(["ru", "en"]),
    default="ru",
    show_default=True,
    help="The screen's language: used when a message's own language cannot be told (a line's lang wins).",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help='Read JSON lines ({"text": ..., "lang": ...}) and write JSON lines; else plain text both ways.',
)
def answer(faq_path: Path, lang: str, as_json: bool) -> None:
    """Answer shoppers' messages from standard input, one a line, in order.

    With --json each input line is an object with "text" (and optionally "lang": "ru" or "en", the screen's
    language for that message) and each output line an object with: text (the message, phone numbers,
    e-mail addresses and card numbers masked), lang (of the reply), action (answer, clarify, decline or
    handoff), entry (the FAQ id answered, or null), options (clarify: the two entries offered), confidence
    (the best entry's score, 0 to 1; for a hand-off 1.0 on a clear sign, 0.5 on weak ones), answer (the
    text to show: the entry's own answer, the clarifying question, the decline with the offer of a person,
    or the hand-off message) and reason (why it hands off, else null). A line that is not such an object
    stops the run with exit 2, naming the line.

    \b
    Examples:
      echo '{"text": "можно вернуть куртку?"}' | kiosk assistant answer --faq examples/faq.yaml --json
      kiosk assistant answer --faq examples/faq.yaml --json < queries.jsonl > replies.jsonl
      echo "do you deliver on sundays" | kiosk assistant answer --faq examples/faq.yaml --lang en
    """
    from kiosk.assistant.engine import Assistant

    faq = _load(faq_path)
    bot = Assistant(faq)
    default = cast(Literal["ru", "en"], lang)
    for number, line in enumerate(sys.stdin, start=1):
        if not line.strip():
            continue
        text, line_lang = line.rstrip("\n"), default
        if as_json:
            try:
                row = json.loads(line)
                text = row["text"]
                if not isinstance(text, str):
                    raise TypeError("text is not a string")
                given = row.get("lang")
            except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
                click.echo(f'stdin line {number}: not a JSON object with a "text" string ({exc})', err=True)
                sys.exit(EXIT_BAD_INPUT)
            if given in ("ru", "en"):
                line_lang = cast(Literal["ru", "en"], given)
        reply = bot.reply(text, line_lang)
        if as_json:
            click.echo(json.dumps(reply.as_dict(), ensure_ascii=False))
        else:
            target = reply.entry or ", ".join(reply.options) or reply.reason or ""
            click.echo(f"[{reply.action}{' ' + target if target else ''}] {reply.answer}")
