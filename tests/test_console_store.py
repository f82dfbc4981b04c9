"""The chat's store on SQLite and PostgreSQL (backoffice.chat.store), fed as from a broker (ChatBatch
payloads through the ingest's parse_messages and store.write): conversations and transcripts, each message
stored once, stale and reordered batches, foreign and invalid messages refused, operator actions and the
kiosk's receipts, two operators accepting at once, and the hourly rollups always equal to a recount."""

from __future__ import annotations

import contextlib
import random
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import backoffice_fixture as fx
import pytest
from console_support import PREFIX, T0, Script, deliver, hourly, operator_message, payload, send, topic
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backoffice.chat import store as chat_store
from backoffice.chat.store import UnknownConversationError
from backoffice.ingest import BackofficeStore, open_store, parse_messages
from backoffice.rollups import hour_of, rebuild

RECEIVED = T0 + timedelta(seconds=30)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[BackofficeStore, fx.Clock]]:
    for url in fx.store_url(request.param, tmp_path):
        clock = fx.Clock(RECEIVED)
        opened = open_store(url, clock=clock)
        try:
            yield opened, clock
        finally:
            opened.close()


def _handed_off(store: BackofficeStore) -> Script:
    script = Script()
    script.opened()
    question = script.shopper("Do you deliver to Tver? call me +7 [phone]")
    script.bot(question, "decline", guesses=(("delivery_areas", 0.31), ("pickup", 0.12)))
    script.handoff("repeated_declines")
    send(store, script)
    return script


def test_a_conversation_is_stored_once_with_its_transcript_and_the_bots_guesses(
    store: tuple[BackofficeStore, fx.Clock],
) -> None:
    backoffice, _clock = store
    db = backoffice.db
    script = _handed_off(backoffice)
    c = chat_store.get_conversation(db, script.conversation_id)
    assert c is not None
    assert (c.state, c.store_id, c.device_id, c.hour) == ("waiting", "s1", "d1", hour_of(RECEIVED))
    assert (c.handoff_reason, c.waiting_since, c.bot_declines) == (
        "repeated_declines",
        RECEIVED.timestamp(),
        1,
    )
    lines = chat_store.transcript(db, script.conversation_id)
    assert [(line.role, line.type) for line in lines] == [
        ("system", "chat_opened"),
        ("shopper", "shopper_message"),
        ("bot", "bot_reply"),
        ("system", "handoff_requested"),
    ]
    assert lines[1].text == "Do you deliver to Tver? call me +7 [phone]"
    guesses = chat_store.last_guesses(db, script.conversation_id)
    assert [(g.entry, g.score) for g in guesses] == [("delivery_areas", 0.31), ("pickup", 0.12)]
    before = hourly(db)
    assert before[("s1", "d1", hour_of(RECEIVED))] == {
        "conversations": 1,
        "shopper_messages": 1,
        "declined": 1,
        "handed_off": 1,
        "handoff_repeated_declines": 1,
    }
    # The broker redelivers the batch (at least once): nothing changes, the duplicates are counted.
    send(backoffice, script)
    assert hourly(db) == before
    assert chat_store.get_conversation(db, script.conversation_id) == c
    assert backoffice.counters()["chat_duplicates"] == len(script.messages)
    assert backoffice.counters()["chat_new"] == len(script.messages)
    assert db.scalar("SELECT count(*) FROM chat_messages") == len(script.messages)


def test_operator_actions_are_stored_with_their_delivery_and_the_kiosks_receipts(
    store: tuple[BackofficeStore, fx.Clock],
) -> None:
    backoffice, clock = store
    db = backoffice.db
    script = _handed_off(backoffice)
    cid = script.conversation_id
    at = RECEIVED + timedelta(seconds=20)
    accept = operator_message(cid, "accept", name="Anna")
    assert chat_store.accept(db, cid, "anna", accept, at).done
    chat_store.mark_sent(db, accept.message_id, "sent", "", at)
    hello = operator_message(cid, "message", text="Hello, I am Anna: yes, we deliver to Tver.", name="Anna")
    assert chat_store.reply(db, cid, "anna", hello, at + timedelta(seconds=15)).done
    chat_store.mark_sent(db, hello.message_id, "not_sent", "no broker", at + timedelta(seconds=15))
    # The kiosk answers both; the shopper replies.
    script.receipt(accept, "shown")
    script.receipt(hello, "refused", "expired")
    script.shopper("great, thanks")
    clock.now = at + timedelta(seconds=30)
    send(backoffice, script, script.messages[-3:])
    lines = chat_store.transcript(db, cid)
    assert [(line.role, line.type) for line in lines][-3:] == [
        ("operator", "operator_accept"),
        ("operator", "operator_message"),
        ("shopper", "shopper_message"),
    ]
    accept_line, hello_line = lines[-3], lines[-2]
    assert (accept_line.sent_by, accept_line.display_name, accept_line.status) == ("anna", "Anna", "shown")
    assert (hello_line.text, hello_line.status, hello_line.status_reason) == (
        hello.text,
        "refused",
        "expired",
    )
    # A second operator cannot reply in Anna's chat; hand back and resolve are one click each.
    assert chat_store.reply(db, cid, "boris", operator_message(cid, "message", text="hi"), at).refusal == (
        "not_yours"
    )
    back = chat_store.hand_back(
        db, cid, "anna", operator_message(cid, "hand_back"), at + timedelta(seconds=40)
    )
    assert back.done and back.conversation.state == "bot"
    with pytest.raises(UnknownConversationError):
        chat_store.resolve(db, "f" * 32, "anna", operator_message("f" * 32, "resolve"), at)
    with pytest.raises(ValueError, match="not a 'resolve'"):
        chat_store.resolve(db, cid, "anna", operator_message(cid, "hand_back"), at)
    row = hourly(db)[("s1", "d1", hour_of(RECEIVED))]
    assert (row["accepted"], row["accept_s"], row["first_replies"], row["first_reply_s"]) == (1, 20, 1, 35)
    assert row["handed_back"] == 1 and row["first_reply_le_60"] == 1


@pytest.mark.parametrize("attempt", range(3))
def test_two_operators_accepting_at_once_one_wins_and_the_other_is_told_who(
    store: tuple[BackofficeStore, fx.Clock], attempt: int
) -> None:
    backoffice, _clock = store
    db = backoffice.db
    cid = _handed_off(backoffice).conversation_id
    barrier = threading.Barrier(2)
    results: dict[str, object] = {}

    def take(user: str) -> None:
        message = operator_message(cid, "accept", name=user.title())
        barrier.wait()
        results[user] = chat_store.accept(db, cid, user, message, RECEIVED + timedelta(seconds=5))

    threads = [threading.Thread(target=take, args=(u,)) for u in ("anna", "boris")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    steps = [results["anna"], results["boris"]]
    won = [s for s in steps if s.done]  # type: ignore[attr-defined]
    lost = [s for s in steps if not s.done]  # type: ignore[attr-defined]
    assert len(won) == 1 and len(lost) == 1, (attempt, steps)
    winner = won[0].conversation.accepted_by  # type: ignore[attr-defined]
    assert lost[0].refusal == "not_waiting"  # type: ignore[attr-defined]
    assert lost[0].conversation.accepted_by == winner  # type: ignore[attr-defined]
    # One accept stored, one acceptance counted.
    assert db.scalar("SELECT count(*) FROM chat_messages WHERE type = 'operator_accept'") == 1
    assert hourly(db)[("s1", "d1", hour_of(RECEIVED))]["accepted"] == 1


def test_foreign_invalid_and_unlisted_chat_messages_are_refused(
    store: tuple[BackofficeStore, fx.Clock],
) -> None:
    backoffice, _clock = store
    script = _handed_off(backoffice)
    # Another device names this conversation: refused, counted.
    intruder = Script(device_id="d2", conversation_id=script.conversation_id)
    intruder.messages.append(
        script.messages[1].model_copy(update={"message_id": "intruder-1", "seq": 9, "text": "spoofed"})
    )
    send(backoffice, intruder)
    assert backoffice.counters()["foreign_chat"] == 1
    assert "spoofed" not in [
        line.text for line in chat_store.transcript(backoffice.db, script.conversation_id)
    ]
    # A batch whose store/device differs from its topic's; a message that is no chat message; a key the
    # chat's allowlist does not hold (a visit_ref) anywhere in the payload.
    good = payload("s1", "d1", script.messages[:1])
    parsed = parse_messages(
        PREFIX,
        [
            (topic("s1", "d9"), good),
            (topic("s1", "d1"), good.replace(b'"chat_opened"', b'"chat_exploded"')),
            (topic("s1", "d1"), good.replace(b'"lang":"en"', b'"lang":"en","visit_ref":"abc"')),
        ],
    )
    assert sorted(parsed.counters.elements()) == sorted(
        ["messages"] * 3 + ["foreign_chat", "invalid_chat_message", "outside_allowlist"]
    )
    assert not parsed.chat


def test_a_conversation_first_heard_of_through_a_late_message_is_whole_once_the_rest_arrives(
    store: tuple[BackofficeStore, fx.Clock],
) -> None:
    backoffice, clock = store
    script = Script()
    script.opened()
    question = script.shopper("do you sell gift cards?")
    script.bot(question, "answer", entry="gift_cards")
    script.ended("done")
    script.csat(4)
    send(backoffice, script, script.messages[3:])  # the end and the rating first (an outbox resend order)
    clock.now = RECEIVED + timedelta(hours=2)  # the rest arrives in a later hour
    send(backoffice, script, script.messages[:3])
    c = chat_store.get_conversation(backoffice.db, script.conversation_id)
    assert c is not None and c.contained and c.state == "ended" and c.csat == 4
    assert [line.type for line in chat_store.transcript(backoffice.db, script.conversation_id)] == [
        m.type for m in script.messages
    ]
    # Counted once, in the hour it was first heard of.
    assert hourly(backoffice.db) == {
        ("s1", "d1", hour_of(RECEIVED)): {
            "conversations": 1,
            "finished": 1,
            "contained": 1,
            "shopper_messages": 1,
            "bot_answers": 1,
            "ended_done": 1,
            "csat_n": 1,
            "csat_score_sum": 4,
            "csat_4": 1,
        }
    }


def _random_conversations(rng: random.Random, n: int) -> list[Script]:
    scripts = []
    for i in range(n):
        script = Script(device_id=rng.choice(["d1", "d2"]), ts=T0 + timedelta(minutes=i))
        script.opened(on_duty=rng.random() < 0.8)
        for _ in range(rng.randint(0, 3)):
            question = script.shopper(rng.choice(["price?", "hours?", "Returns", "returns "]))
            script.bot(question, rng.choice(["answer", "clarify", "decline"]), entry="e1")
        if rng.random() < 0.5:
            script.handoff(rng.choice(["button", "words", "frustrated", "negative_valence"]))
            if rng.random() < 0.4:
                script.unanswered(rng.choice(["timeout", "off_duty"]))
        if rng.random() < 0.7:
            script.ended(rng.choice(["done", "visit_ended", "timeout"]))
            if rng.random() < 0.6:
                script.csat(rng.randint(1, 5))
        scripts.append(script)
    return scripts


def _deliver_shuffled(backoffice: BackofficeStore, clock: fx.Clock, scripts: list[Script], seed: int) -> None:
    """Every message at least once, in random batches, some twice, batches in a random order, some
    operator actions between them."""
    rng = random.Random(seed)
    items = [(s, m) for s in scripts for m in s.messages]
    items += rng.sample(items, len(items) // 4)  # redeliveries
    rng.shuffle(items)
    at = RECEIVED
    while items:
        size = rng.randint(1, 6)
        batch, items = items[:size], items[size:]
        at += timedelta(seconds=rng.randint(1, 1200))
        clock.now = at
        deliver(backoffice, *((s.store_id, s.device_id, [m]) for s, m in batch))
        for script in rng.sample(scripts, min(2, len(scripts))):
            cid = script.conversation_id
            action = rng.choice(["accept", "message", "hand_back", "resolve"])
            message = operator_message(cid, action, text="ok" if action == "message" else None)  # type: ignore[arg-type]
            decide = {
                "accept": chat_store.accept,
                "message": chat_store.reply,
                "hand_back": chat_store.hand_back,
                "resolve": chat_store.resolve,
            }[action]
            with contextlib.suppress(UnknownConversationError):  # not heard of yet
                decide(backoffice.db, cid, "anna", message, at + timedelta(seconds=1))


def _recount(backoffice: BackofficeStore) -> dict[tuple[str, str, int], dict[str, float]]:
    rebuild(backoffice.db)
    return hourly(backoffice.db)


def test_the_rollups_equal_a_recount_under_redeliveries_reordering_and_operators(
    store: tuple[BackofficeStore, fx.Clock],
) -> None:
    backoffice, clock = store
    scripts = _random_conversations(random.Random(7), 12)
    _deliver_shuffled(backoffice, clock, scripts, seed=11)
    kept = hourly(backoffice.db)
    assert sum(v.get("conversations", 0) for v in kept.values()) == 12
    assert kept == _recount(backoffice)
    assert backoffice.db.scalar("SELECT count(*) FROM chat_messages WHERE role != 'operator'") == sum(
        len(s.messages) for s in scripts
    )


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), n=st.integers(1, 6))
def test_the_rollups_equal_a_recount_for_any_delivery_order(tmp_path: Path, seed: int, n: int) -> None:
    clock = fx.Clock(RECEIVED)
    backoffice = open_store(f"sqlite:///{tmp_path / f'chat-{seed}-{n}.sqlite'}", clock=clock)
    try:
        scripts = _random_conversations(random.Random(seed), n)
        _deliver_shuffled(backoffice, clock, scripts, seed)
        kept = hourly(backoffice.db)
        assert sum(v.get("conversations", 0) for v in kept.values()) == n
        for script in scripts:  # each state as the messages, taken in seq order, and the operators say
            c = chat_store.get_conversation(backoffice.db, script.conversation_id)
            assert c is not None and c.max_seq == len(script.messages) - 1
            if any(m.type == "chat_ended" for m in script.messages):
                assert c.state in ("ended", "resolved")
        assert kept == _recount(backoffice)
    finally:
        backoffice.close()


def test_live_conversations_list_the_waiting_first_then_the_open_then_the_recent(
    store: tuple[BackofficeStore, fx.Clock],
) -> None:
    backoffice, clock = store
    db = backoffice.db
    first, second, third = _handed_off(backoffice), None, None
    clock.now = RECEIVED + timedelta(seconds=10)
    second = _handed_off(backoffice)
    third = _handed_off(backoffice)
    chat_store.accept(
        db, third.conversation_id, "anna", operator_message(third.conversation_id, "accept"), clock()
    )
    bot_only = Script()
    bot_only.opened()
    send(backoffice, bot_only)
    now = RECEIVED + timedelta(minutes=1)
    order = [c.conversation_id for c in chat_store.live_conversations(db, now)]
    assert order == [first.conversation_id, second.conversation_id, third.conversation_id]
    assert chat_store.waiting_count(db) == (2, (RECEIVED + timedelta(seconds=10)).timestamp())
    resolve = operator_message(first.conversation_id, "resolve")
    chat_store.resolve(db, first.conversation_id, "anna", resolve, now)
    later = [c.conversation_id for c in chat_store.live_conversations(db, now + timedelta(minutes=5))]
    assert later == [second.conversation_id, third.conversation_id, first.conversation_id]
    gone = chat_store.live_conversations(db, now + timedelta(hours=2))
    assert first.conversation_id not in [c.conversation_id for c in gone]
    assert chat_store.live_conversations(db, now, devices=("d9",)) == []


def test_every_reason_of_the_contract_has_its_column() -> None:
    from typing import get_args

    from mqtt_bridge.contract.chat import EndReason, HandoffReason, UnansweredReason

    wanted = [
        *(f"handoff_{r}" for r in get_args(HandoffReason)),
        *(f"unanswered_{r}" for r in get_args(UnansweredReason)),
        *(f"ended_{r}" for r in get_args(EndReason)),
    ]
    assert [c for c in wanted if c not in chat_store.CHAT.columns] == []


def test_a_value_without_a_column_is_logged_and_the_rest_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from dataclasses import replace

    from backoffice.chat.store import CHAT, _add
    from backoffice.rollups import Delta

    backoffice = open_store(f"sqlite:///{tmp_path / 'x.sqlite'}", clock=fx.Clock(RECEIVED))
    try:
        script = Script()
        script.opened()
        send(backoffice, script)
        row = chat_store.get_conversation(backoffice.db, script.conversation_id)
        assert row is not None
        delta = Delta()
        _add(delta, replace(row, end_reason="exploded", finished_at=1.0), row)
        assert "no column for ['ended_exploded']" in caplog.text
        assert dict(delta.rows[CHAT][("s1", "d1", row.hour)]) == {"finished": 1}
    finally:
        backoffice.close()


def test_times_are_aware_utc(store: tuple[BackofficeStore, fx.Clock]) -> None:
    backoffice, _clock = store
    script = _handed_off(backoffice)
    (line, *_) = chat_store.transcript(backoffice.db, script.conversation_id)
    assert line.at == RECEIVED and line.at.tzinfo == UTC
    assert datetime.fromtimestamp(chat_store.waiting_count(backoffice.db)[1] or 0, UTC) == RECEIVED
