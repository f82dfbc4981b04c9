"""The conversation state machine, pure (backoffice.chat.machine): the states and who may move them, stale
device messages after an operator's action, final states, and what a conversation counts in the KPIs."""

from __future__ import annotations

from console_support import Script

from backoffice.chat import machine
from backoffice.chat.machine import Conversation, contribution, difference, on_device_message

HOUR = 1_793_613_600


def _conversation() -> Conversation:
    return machine.new_conversation("c" * 32, "s1", "d1", HOUR, HOUR + 10.0)


def _feed(c: Conversation, script: Script, start: int = 0, received: float = HOUR + 20.0) -> Conversation:
    for message in script.messages[start:]:
        c = on_device_message(c, message, received)
    return c


def test_a_hand_off_waits_for_a_person_and_one_operator_takes_it() -> None:
    script = Script()
    script.opened()
    question = script.shopper("where is my order?")
    script.bot(question, "decline")
    script.handoff("repeated_declines")
    c = _feed(_conversation(), script, received=HOUR + 30.0)
    assert (c.state, c.handoffs, c.handoff_reason, c.waiting_since) == (
        "waiting",
        1,
        "repeated_declines",
        HOUR + 30,
    )
    assert (c.shopper_messages, c.bot_declines, c.lang, c.faq_version) == (1, 1, "en", 1)

    first = machine.accept(c, "anna", "Anna", HOUR + 40.0)
    assert first.done and first.conversation.state == "open"
    assert (first.conversation.accepted_by, first.conversation.operator_name) == ("anna", "Anna")
    second = machine.accept(first.conversation, "boris", "Boris", HOUR + 41.0)
    assert not second.done and second.refusal == "not_waiting"
    assert second.conversation.accepted_by == "anna"  # who was first: what the second operator is told

    assert machine.reply(first.conversation, "boris", HOUR + 50.0).refusal == "not_yours"
    replied = machine.reply(first.conversation, "anna", HOUR + 50.0)
    assert replied.done and replied.conversation.first_reply_at == HOUR + 50
    again = machine.reply(replied.conversation, "anna", HOUR + 70.0).conversation
    assert (again.first_reply_at, again.operator_messages) == (HOUR + 50, 2)  # the first reply stays


def test_a_hand_back_returns_the_chat_to_the_bot_and_a_stale_hand_off_cannot_reopen_it() -> None:
    script = Script()
    script.opened()
    script.handoff("words")
    c = _feed(_conversation(), script)
    c = machine.accept(c, "anna", "Anna", HOUR + 40.0).conversation
    # A message the kiosk sent while the operator had the chat (seq 2), then the hand back.
    script.shopper("thanks")
    c = on_device_message(c, script.messages[-1], HOUR + 45.0)
    back = machine.hand_back(c, "anna", HOUR + 50.0)
    assert back.done and back.conversation.state == "bot" and back.conversation.state_seq == 2
    assert machine.hand_back(back.conversation, "boris", HOUR + 51.0).refusal == "not_open"
    # A redelivered copy of an old hand-off (seq 1, arriving late under a new id) changes no state ...
    stale = script.messages[1].model_copy(update={"message_id": "late-copy"})
    c = on_device_message(back.conversation, stale, HOUR + 60.0)
    assert c.state == "bot" and c.handoffs == 2
    # ... a new one the kiosk sent after the hand back does.
    script.handoff("button")
    c = on_device_message(c, script.messages[-1], HOUR + 70.0)
    assert (c.state, c.waiting_since, c.handoff_reason) == (
        "waiting",
        HOUR + 70,
        "words",
    )  # first reason kept


def test_resolved_and_ended_are_final() -> None:
    script = Script()
    script.opened()
    script.handoff()
    c = _feed(_conversation(), script)
    resolved = machine.resolve(c, "anna", HOUR + 40.0)  # a waiting chat may be resolved at once
    assert resolved.done and resolved.conversation.finished_at == HOUR + 40
    assert machine.accept(resolved.conversation, "boris", "B", HOUR + 41.0).refusal == "finished"
    assert machine.resolve(resolved.conversation, "boris", HOUR + 41.0).refusal == "finished"
    script.ended("resolved")
    after = on_device_message(resolved.conversation, script.messages[-1], HOUR + 42.0)
    assert (after.state, after.end_reason, after.finished_at) == ("resolved", "resolved", HOUR + 40)

    other = Script()
    other.opened()
    other.handoff()
    c = machine.accept(_feed(_conversation(), other), "anna", "Anna", HOUR + 40.0).conversation
    other.ended("visit_ended")  # the shopper left while the operator had the chat
    ended = on_device_message(c, other.messages[-1], HOUR + 50.0)
    assert (ended.state, ended.end_reason, ended.finished_at) == ("ended", "visit_ended", HOUR + 50)
    assert machine.reply(ended, "anna", HOUR + 51.0).refusal == "finished"
    # A hand-off that arrives after the end (reordered) does not reopen it either.
    late = other.messages[1].model_copy(update={"message_id": "late"})
    assert on_device_message(ended, late, HOUR + 52.0).state == "ended"


def test_unanswered_hand_offs_are_shown_for_the_current_wait_and_counted_once() -> None:
    script = Script()
    script.opened(on_duty=False)
    script.handoff(on_duty=False)
    script.unanswered("off_duty")
    c = _feed(_conversation(), script)
    assert (c.state, c.waiting_unanswered, c.unanswered_reason, c.on_duty) == (
        "waiting",
        "off_duty",
        "off_duty",
        False,
    )
    accepted = machine.accept(c, "anna", "Anna", HOUR + 99.0)  # someone at the console takes it anyway
    assert accepted.done and accepted.conversation.waiting_unanswered is None
    assert contribution(accepted.conversation)["unanswered_off_duty"] == 1


def test_contribution_counts_containment_hand_offs_and_times() -> None:
    script = Script()
    script.opened()
    question = script.shopper("opening hours?")
    script.bot(question, "answer", entry="hours")
    script.ended("done")
    script.csat(5)
    contained = _feed(_conversation(), script)
    assert contained.contained
    assert contribution(contained) == {
        "conversations": 1,
        "shopper_messages": 1,
        "bot_answers": 1,
        "bot_clarifies": 0,
        "declined": 0,
        "handed_back": 0,
        "finished": 1,
        "contained": True,
        "ended_done": 1,
        "csat_n": 1,
        "csat_score_sum": 5,
        "csat_5": 1,
    }

    handed = Script()
    handed.opened()
    handed.handoff("frustrated")
    c = _feed(_conversation(), handed, received=HOUR + 100.0)
    c = machine.accept(c, "anna", "Anna", HOUR + 130.0).conversation
    c = machine.reply(c, "anna", HOUR + 175.0).conversation
    c = machine.resolve(c, "anna", HOUR + 400.0).conversation
    figures = contribution(c)
    assert figures["handed_off"] == figures["handoff_frustrated"] == 1
    assert (figures["accept_s"], figures["first_reply_s"], figures["resolution_s"]) == (30.0, 75.0, 300.0)
    assert figures["first_reply_le_60"] is False
    assert "contained" in figures and not figures["contained"]
    assert contribution(None) == {}


def test_a_late_hand_off_takes_back_a_containment_already_counted() -> None:
    script = Script()
    script.opened()
    question = script.shopper("returns?")
    script.bot(question, "answer", entry="returns")
    handoff = script.handoff("button")
    script.ended("done")
    c = _conversation()
    for message in script.messages:
        if message is not handoff:
            c = on_device_message(c, message, HOUR + 20.0)
    assert c.contained
    after = on_device_message(c, handoff, HOUR + 30.0)  # the hand-off's batch was redelivered late
    assert difference(after, c) == {"contained": -1, "handed_off": 1, "handoff_button": 1}
