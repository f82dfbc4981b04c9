"""The chat's store: conversations (the state machine of :mod:`backoffice.chat.machine`), transcripts, the
bot's guesses and the hourly KPI rollup ``chat_hourly``, on :mod:`backoffice.db` (SQLite or PostgreSQL).

- **Ingest** (:func:`record_messages`, in the ingest's transaction): each device message is stored once by
  its ``message_id`` (a redelivered one changes nothing); a new one moves its conversation on (made when
  first heard of, whatever its first message is) and adds to ``chat_hourly``.
- **Operator actions** (:func:`accept`, :func:`reply`, :func:`hand_back`, :func:`resolve`): each runs in one
  transaction that first locks the conversation's row (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's
  write transaction is exclusive), so when two operators accept at once exactly one wins and the other is
  told who did. The operator message the kiosk is then sent is stored in the same transaction, with its
  delivery: sending, sent, not sent, then what the kiosk answered (shown, refused) when its
  ``operator_receipt`` arrives.
- **Rollups**: a step adds to its conversation's hour the difference between the conversation's KPI
  contribution after and before it (:func:`backoffice.chat.machine.difference`), in the step's own
  transaction; :func:`rebuild_rollups` recounts them from the conversations.
- **Retention** (:func:`delete_transcripts`, :func:`delete_conversations`): transcripts (every message,
  and with them the texts of the unanswered questions) go after ``[retention] chat_transcript_days``
  (30); the conversations (no text) after ``raw_days`` like staff calls; ``chat_hourly`` stays.

What is stored of a message: its type, the masked text the device sent (shopper, bot, operator), the
language, the bot's action and guesses (FAQ entry ids and scores), times; never a visit or anything of a
face (the contract's chat allowlist refuses such keys before they get here).
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal

from backoffice.chat import machine
from backoffice.chat.machine import COLUMNS, Conversation, Step
from backoffice.db import Database, Migration, as_utc
from backoffice.errors import BackofficeError
from backoffice.rollups import HOUR_S, Delta, RollupTable, hour_of
from mqtt_bridge.contract.chat import (
    BotGuess,
    BotReply,
    ChatCsat,
    ChatEnded,
    ChatMessage,
    ChatOpened,
    HandoffRequested,
    HandoffUnanswered,
    OperatorChatMessage,
    OperatorReceipt,
    ShopperMessage,
)

logger = logging.getLogger(__name__)

# --- tables --------------------------------------------------------------------------------------------

#: The hourly KPI rollup of conversations, by the hour the back office first heard of each.
CHAT = RollupTable(
    "chat_hourly",
    ("store_id", "device_id", "hour"),
    (
        "conversations",
        "finished",
        "contained",
        "shopper_messages",
        "bot_answers",
        "bot_clarifies",
        "declined",
        "handed_off",
        "handoff_button",
        "handoff_words",
        "handoff_repeated_declines",
        "handoff_frustrated",
        "handoff_negative_valence",
        "unanswered_timeout",
        "unanswered_off_duty",
        "accepted",
        "accept_s",
        "first_replies",
        "first_reply_s",
        "first_reply_le_60",
        "resolved",
        "resolution_s",
        "handed_back",
        "ended_done",
        "ended_visit_ended",
        "ended_timeout",
        "ended_resolved",
        "ended_maintenance",
        "csat_n",
        "csat_score_sum",
        "csat_1",
        "csat_2",
        "csat_3",
        "csat_4",
        "csat_5",
    ),
)
"""Its columns are written out, not derived from the contract's reasons: a migration's SQL never changes
once released. A reason the contract adds needs a column added by a migration of its own;
tests/test_console_store.py checks that every reason of the contract has its column."""

_REAL_COLUMNS: Final = frozenset(
    {
        "first_received_at",
        "last_received_at",
        "opened_ts",
        "wait_s",
        "waiting_since",
        "handoff_at",
        "accepted_at",
        "taken_at",
        "first_reply_at",
        "handed_back_at",
        "resolved_at",
        "ended_at",
        "finished_at",
        "transcript_deleted_at",
    }
)
_INT_COLUMNS: Final = frozenset(
    {
        "hour",
        "state_seq",
        "max_seq",
        "faq_version",
        "on_duty",
        "shopper_messages",
        "bot_answers",
        "bot_clarifies",
        "bot_declines",
        "handoffs",
        "operator_messages",
        "handed_back",
        "csat",
    }
)
#: Counters that start at 0 (the others are NULL until set).
_ZERO_COLUMNS: Final = frozenset(
    {
        "shopper_messages",
        "bot_answers",
        "bot_clarifies",
        "bot_declines",
        "handoffs",
        "operator_messages",
        "handed_back",
    }
)


def _conversations_sql(real: str, count: str) -> str:
    parts = []
    for name in COLUMNS:
        if name == "conversation_id":
            parts.append("conversation_id TEXT PRIMARY KEY")
        elif name in ("store_id", "device_id"):
            parts.append(f"{name} TEXT NOT NULL")
        elif name == "state":
            parts.append("state TEXT NOT NULL DEFAULT 'bot'")
        elif name in ("state_seq", "max_seq"):
            parts.append(f"{name} {count} NOT NULL DEFAULT -1")
        elif name in ("hour", "first_received_at", "last_received_at"):
            parts.append(f"{name} {count if name == 'hour' else real} NOT NULL")
        elif name in _ZERO_COLUMNS:
            parts.append(f"{name} {count} NOT NULL DEFAULT 0")
        elif name in _REAL_COLUMNS:
            parts.append(f"{name} {real}")
        elif name in _INT_COLUMNS:
            parts.append(f"{name} {count}")
        else:
            parts.append(f"{name} TEXT")
    return (
        f"CREATE TABLE chat_conversations ({', '.join(parts)});\n"
        "CREATE INDEX chat_conversations_state ON chat_conversations (state, last_received_at);\n"
        "CREATE INDEX chat_conversations_received ON chat_conversations (first_received_at)"
    )


def _messages_sql(real: str, count: str) -> str:
    return f"""CREATE TABLE chat_messages (
        message_id TEXT PRIMARY KEY, conversation_id TEXT NOT NULL, store_id TEXT NOT NULL,
        device_id TEXT NOT NULL, seq {count}, type TEXT NOT NULL, role TEXT NOT NULL, text TEXT, lang TEXT,
        action TEXT, in_reply_to TEXT, guesses TEXT, ts {real} NOT NULL, received_at {real} NOT NULL,
        sent_by TEXT, display_name TEXT, status TEXT, status_reason TEXT, status_at {real});
    CREATE INDEX chat_messages_conversation ON chat_messages (conversation_id, received_at);
    CREATE INDEX chat_messages_received ON chat_messages (received_at);
    CREATE INDEX chat_messages_reply ON chat_messages (in_reply_to)"""


def _migration(dialect: Literal["sqlite", "postgresql"]) -> str:
    real, count = ("REAL", "INTEGER") if dialect == "sqlite" else ("DOUBLE PRECISION", "BIGINT")
    return ";\n".join([_conversations_sql(real, count), _messages_sql(real, count), CHAT.create_sql(dialect)])


#: The chat's tables (component ``chat``).
MIGRATIONS: tuple[Migration, ...] = (Migration("0001_chat", _migration("sqlite"), _migration("postgresql")),)


def migrate(db: Database) -> list[str]:
    """Make or update the chat's tables; the names of the migrations applied now."""
    return db.migrate("chat", MIGRATIONS)


class UnknownConversationError(BackofficeError):
    """No conversation has this id (it never reached the back office, or retention deleted it)."""


# --- rows ------------------------------------------------------------------------------------------------

_SELECT: Final = f"SELECT {', '.join(COLUMNS)} FROM chat_conversations"  # noqa: S608


def _conversation(row: Sequence[Any]) -> Conversation:
    data = dict(zip(COLUMNS, row, strict=True))
    for name in ("hour", "state_seq", "max_seq", *(_ZERO_COLUMNS)):
        data[name] = int(data[name])
    for name in ("faq_version", "csat"):
        if data[name] is not None:
            data[name] = int(data[name])
    if data["on_duty"] is not None:
        data["on_duty"] = bool(data["on_duty"])
    for name in _REAL_COLUMNS:
        if data[name] is not None:
            data[name] = float(data[name])
    return Conversation(**data)


def _values(c: Conversation) -> list[Any]:
    values: list[Any] = []
    for name in COLUMNS:
        value = getattr(c, name)
        values.append(int(value) if isinstance(value, bool) else value)
    return values


def _lock(db: Database, conversation_id: str) -> Conversation | None:
    """The conversation, its row locked until the transaction ends (PostgreSQL; SQLite's write
    transaction holds the whole store)."""
    suffix = " FOR UPDATE" if db.dialect == "postgresql" else ""
    row = db.execute(f"{_SELECT} WHERE conversation_id = ?{suffix}", [conversation_id]).fetchone()
    return None if row is None else _conversation(row)


def _save(db: Database, c: Conversation) -> None:
    sets = ", ".join(f"{name} = ?" for name in COLUMNS[1:])
    db.execute(
        f"UPDATE chat_conversations SET {sets} WHERE conversation_id = ?",  # noqa: S608
        [*_values(c)[1:], c.conversation_id],
    )


def _insert(db: Database, c: Conversation) -> bool:
    placeholders = ", ".join("?" * len(COLUMNS))
    made = db.execute(
        f"INSERT INTO chat_conversations ({', '.join(COLUMNS)}) VALUES ({placeholders}) "  # noqa: S608
        "ON CONFLICT (conversation_id) DO NOTHING RETURNING conversation_id",
        _values(c),
    )
    return bool(made.rows)


def apply_rollups(db: Database, delta: Delta) -> None:
    """Add ``delta``'s ``chat_hourly`` rows (in the caller's transaction), in key order."""
    rows = delta.rows.get(CHAT)
    if not rows:
        return
    db.insert_many(
        CHAT.name,
        CHAT.keys + CHAT.columns,
        CHAT.pg_types(),
        [CHAT.row(key, rows[key]) for key in sorted(rows)],
        CHAT.conflict_sql(db),
    )


def _add(delta: Delta, after: Conversation, before: Conversation | None) -> None:
    amounts = machine.difference(after, before)
    unknown = sorted(set(amounts) - set(CHAT.columns))
    if unknown:
        # A value the contract allows and chat_hourly has no column for (a reason added to the contract
        # without its migration): counted nowhere, said loudly, and the message is still stored (an ingest
        # that refused it would take it again forever).
        logger.error("chat_hourly has no column for %s: add a migration with them; not counted", unknown)
        amounts = {k: v for k, v in amounts.items() if k not in unknown}
    if amounts:
        delta.add(CHAT, (after.store_id, after.device_id, after.hour), **amounts)


# --- ingest ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChatIngestResult:
    """What :func:`record_messages` did with a batch's messages."""

    new: int
    duplicates: int
    #: Messages naming a conversation of another device (refused, counted as ``foreign_chat``).
    foreign: int
    #: Messages of a conversation whose transcript retention deleted (not stored again).
    expired: int


def _role(message: ChatMessage) -> str:
    if isinstance(message, ShopperMessage):
        return "shopper"
    if isinstance(message, BotReply):
        return "bot"
    return "system"


def _guesses_json(guesses: Sequence[BotGuess]) -> str | None:
    return json.dumps([g.model_dump(mode="json") for g in guesses]) if guesses else None


def _action(message: ChatMessage) -> str | None:
    """The ``action`` column: what the bot did, the operator action a receipt answers, or a kiosk
    message's reason (hand-off, unanswered, end), the opening screen, or the rating."""
    if isinstance(message, BotReply | OperatorReceipt):
        return message.action
    if isinstance(message, HandoffRequested | HandoffUnanswered | ChatEnded):
        return message.reason
    if isinstance(message, ChatOpened):
        return message.opened_from
    if isinstance(message, ChatCsat):
        return str(message.score)
    return None


def _message_row(
    store_id: str, device_id: str, message: ChatMessage, received: float
) -> tuple[list[Any], str]:
    text = message.text if isinstance(message, ShopperMessage | BotReply) else None
    lang = message.lang if isinstance(message, ShopperMessage | BotReply) else None
    action = _action(message)
    in_reply_to = message.in_reply_to if isinstance(message, BotReply) else None
    guesses = _guesses_json(message.guesses) if isinstance(message, BotReply) else None
    row = [
        message.message_id,
        message.conversation_id,
        store_id,
        device_id,
        message.seq,
        message.type,
        _role(message),
        text,
        lang,
        action,
        in_reply_to,
        guesses,
        as_utc(message.ts).timestamp(),
        received,
    ]
    return row, (
        "INSERT INTO chat_messages (message_id, conversation_id, store_id, device_id, seq, type, role, text, "
        "lang, action, in_reply_to, guesses, ts, received_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (message_id) DO NOTHING RETURNING message_id"
    )


def record_messages(
    db: Database, messages: Sequence[tuple[str, str, ChatMessage]], received_at: datetime
) -> ChatIngestResult:
    """Store the device messages (store, device, message) of one ingest transaction received at
    ``received_at``: each once, moving its conversation on and adding to ``chat_hourly``. Conversations
    are taken in id order and their messages in ``seq`` order (two consumers lock rows in one order)."""
    received = as_utc(received_at).timestamp()
    hour = hour_of(received_at)
    by_conversation: dict[str, list[tuple[str, str, ChatMessage]]] = defaultdict(list)
    for item in messages:
        by_conversation[item[2].conversation_id].append(item)
    delta = Delta()
    new = duplicates = foreign = expired = 0
    with db.transaction():
        for conversation_id in sorted(by_conversation):
            items = sorted(by_conversation[conversation_id], key=lambda i: (i[2].seq, i[2].message_id))
            store_id, device_id = items[0][0], items[0][1]
            made = machine.new_conversation(conversation_id, store_id, device_id, hour, received)
            created = _insert(db, made)
            before = None if created else _lock(db, conversation_id)
            current = made if created else before
            if current is None:  # deleted between the insert and the read: nothing to add to
                continue
            for item_store, item_device, message in items:
                if (item_store, item_device) != (current.store_id, current.device_id):
                    foreign += 1
                    continue
                if current.transcript_deleted_at is not None:
                    expired += 1
                    continue
                row, sql = _message_row(item_store, item_device, message, received)
                if not db.execute(sql, row).rows:
                    duplicates += 1
                    continue
                new += 1
                if isinstance(message, OperatorReceipt):
                    _record_receipt(db, message, received)
                current = machine.on_device_message(current, message, received)
            if current != before:
                _save(db, current)
                _add(delta, current, before)
        apply_rollups(db, delta)
    return ChatIngestResult(new, duplicates, foreign, expired)


def _record_receipt(db: Database, receipt: OperatorReceipt, received: float) -> None:
    """What the kiosk did with an operator message: on the operator message's row (a 'refused' after a
    'shown' of the same message, a redelivery's answer 'duplicate', changes nothing)."""
    db.execute(
        "UPDATE chat_messages SET status = ?, status_reason = ?, status_at = ? WHERE message_id = ? "
        "AND role = 'operator' AND (status IS NULL OR status IN ('sending', 'sent', 'not_sent'))",
        [receipt.status, receipt.reason or None, received, receipt.operator_message_id],
    )


# --- operator actions ------------------------------------------------------------------------------------


def _step(
    db: Database,
    conversation_id: str,
    *,
    now: datetime,
    decide: Any,
    operator_message: OperatorChatMessage | None,
    user: str,
) -> Step:
    at = as_utc(now).timestamp()
    with db.transaction():
        before = _lock(db, conversation_id)
        if before is None:
            raise UnknownConversationError(
                f"no conversation {conversation_id!r}: it never reached the back office, or retention "
                "deleted it"
            )
        step: Step = decide(before, at)
        if step.done:
            _save(db, step.conversation)
            delta = Delta()
            _add(delta, step.conversation, before)
            apply_rollups(db, delta)
            if operator_message is not None:
                _store_operator_message(db, step.conversation, operator_message, user, at)
    return step


def _store_operator_message(
    db: Database, c: Conversation, message: OperatorChatMessage, user: str, at: float
) -> None:
    db.execute(
        "INSERT INTO chat_messages (message_id, conversation_id, store_id, device_id, seq, type, role, text, "
        "action, ts, received_at, sent_by, display_name, status, status_at) "
        "VALUES (?, ?, ?, ?, NULL, ?, 'operator', ?, ?, ?, ?, ?, ?, 'sending', ?)",
        [
            message.message_id,
            c.conversation_id,
            c.store_id,
            c.device_id,
            f"operator_{message.action}",
            message.text,
            message.action,
            at,
            at,
            user,
            message.display_name,
            at,
        ],
    )


def _check_message(conversation_id: str, message: OperatorChatMessage, action: str) -> None:
    if message.conversation_id != conversation_id or message.action != action:
        raise ValueError(
            f"the operator message is a {message.action!r} for {message.conversation_id}, not a {action!r} "
            f"for {conversation_id}"
        )


def accept(
    db: Database, conversation_id: str, user: str, message: OperatorChatMessage, now: datetime
) -> Step:
    """``waiting -> open`` by ``user``; ``message`` (its ``accept``, with the name the screen shows) is
    stored to be sent. Of two operators at once exactly one gets ``done``. Raises
    :class:`UnknownConversationError`."""
    _check_message(conversation_id, message, "accept")
    name = message.display_name or user
    return _step(
        db,
        conversation_id,
        now=now,
        decide=lambda c, at: machine.accept(c, user, name, at),
        operator_message=message,
        user=user,
    )


def reply(db: Database, conversation_id: str, user: str, message: OperatorChatMessage, now: datetime) -> Step:
    """Store ``user``'s operator message (``message``, its text) in an open conversation they accepted."""
    _check_message(conversation_id, message, "message")
    return _step(
        db,
        conversation_id,
        now=now,
        decide=lambda c, at: machine.reply(c, user, at),
        operator_message=message,
        user=user,
    )


def hand_back(
    db: Database, conversation_id: str, user: str, message: OperatorChatMessage, now: datetime
) -> Step:
    """``open -> bot`` by ``user``."""
    _check_message(conversation_id, message, "hand_back")
    return _step(
        db,
        conversation_id,
        now=now,
        decide=lambda c, at: machine.hand_back(c, user, at),
        operator_message=message,
        user=user,
    )


def resolve(
    db: Database, conversation_id: str, user: str, message: OperatorChatMessage, now: datetime
) -> Step:
    """``waiting`` or ``open`` -> ``resolved`` by ``user``."""
    _check_message(conversation_id, message, "resolve")
    return _step(
        db,
        conversation_id,
        now=now,
        decide=lambda c, at: machine.resolve(c, user, at),
        operator_message=message,
        user=user,
    )


def mark_sent(
    db: Database, message_id: str, status: Literal["sent", "not_sent"], reason: str, now: datetime
) -> None:
    """Record whether an operator message was handed to the broker (unless the kiosk answered already)."""
    db.execute(
        "UPDATE chat_messages SET status = ?, status_reason = ?, status_at = ? "
        "WHERE message_id = ? AND status = 'sending'",
        [status, reason or None, as_utc(now).timestamp(), message_id],
    )


# --- reading ---------------------------------------------------------------------------------------------


def get_conversation(db: Database, conversation_id: str) -> Conversation | None:
    """One conversation, or None."""
    row = db.execute(f"{_SELECT} WHERE conversation_id = ?", [conversation_id]).fetchone()
    return None if row is None else _conversation(row)


def live_conversations(
    db: Database,
    now: datetime,
    *,
    recent_s: float = 3600.0,
    stores: Sequence[str] = (),
    devices: Sequence[str] = (),
    limit: int = 200,
) -> list[Conversation]:
    """The console's inbox: conversations waiting for a person (longest waiting first), then those an
    operator has (latest activity first), then those finished or handed back in the last ``recent_s``."""
    where, params = ["1 = 1"], []
    if stores:
        where.append(f"store_id IN ({', '.join('?' * len(stores))})")
        params += list(stores)
    if devices:
        where.append(f"device_id IN ({', '.join('?' * len(devices))})")
        params += list(devices)
    since = as_utc(now).timestamp() - recent_s
    rows = db.query(
        f"{_SELECT} WHERE {' AND '.join(where)} AND (state IN ('waiting', 'open') "
        "OR finished_at >= ? OR (state = 'bot' AND handed_back_at >= ?)) "
        f"ORDER BY last_received_at DESC LIMIT {int(limit)}",
        [*params, since, since],
    )
    found = [_conversation(r) for r in rows]
    rank = {"waiting": 0, "open": 1}
    return sorted(
        found,
        key=lambda c: (
            rank.get(c.state, 2),
            (c.waiting_since or 0.0) if c.state == "waiting" else -c.last_received_at,
        ),
    )


def waiting_count(db: Database) -> tuple[int, float | None]:
    """Conversations waiting for a person now, and when the newest of them began to wait."""
    row = db.execute(
        "SELECT count(*), max(waiting_since) FROM chat_conversations WHERE state = 'waiting'"
    ).fetchone()
    if row is None:
        return 0, None
    return int(row[0] or 0), (None if row[1] is None else float(row[1]))


@dataclass(frozen=True)
class TranscriptLine:
    """One line of a transcript as the console shows it."""

    message_id: str
    role: str
    type: str
    at: datetime
    text: str | None
    lang: str | None
    action: str | None
    guesses: tuple[BotGuess, ...]
    sent_by: str | None
    display_name: str | None
    status: str | None
    status_reason: str | None


def _line(row: Sequence[Any], at: float) -> TranscriptLine:
    """A line from a row of :data:`_LINE_COLUMNS`."""
    guesses = tuple(BotGuess.model_validate(g) for g in json.loads(row[7])) if row[7] else ()
    return TranscriptLine(
        message_id=str(row[0]),
        role=str(row[1]),
        type=str(row[2]),
        at=datetime.fromtimestamp(at, UTC),
        text=row[3],
        lang=row[4],
        action=row[5],
        guesses=guesses,
        sent_by=row[8],
        display_name=row[9],
        status=row[10],
        status_reason=row[11],
    )


_LINE_COLUMNS: Final = (
    "message_id, role, type, text, lang, action, in_reply_to, guesses, sent_by, display_name, status, "
    "status_reason, seq, received_at"
)


def transcript(db: Database, conversation_id: str, *, limit: int = 200) -> list[TranscriptLine]:
    """The conversation's messages in order, the newest ``limit``: device messages by their ``seq``, and
    each operator message where it was sent among them. A device message's place in time is the earliest
    receipt of it and of every message after it (a redelivered old batch stays where its ``seq`` puts
    it). Receipts of operator messages are not lines (they are the operator lines' status)."""
    rows = db.query(
        f"SELECT {_LINE_COLUMNS} FROM chat_messages WHERE conversation_id = ? "  # noqa: S608
        "AND type != 'operator_receipt'",
        [conversation_id],
    )
    device = sorted((r for r in rows if r[12] is not None), key=lambda r: (int(r[12]), str(r[0])))
    operator = sorted((r for r in rows if r[12] is None), key=lambda r: (float(r[13]), str(r[0])))
    times = [float(r[13]) for r in device]
    for i in range(len(times) - 2, -1, -1):
        times[i] = min(times[i], times[i + 1])
    placed = [(t, 0, i, _line(r, t)) for i, (t, r) in enumerate(zip(times, device, strict=True))]
    placed += [(float(r[13]), 1, i, _line(r, float(r[13]))) for i, r in enumerate(operator)]
    ordered = [line for *_, line in sorted(placed, key=lambda p: (p[0], p[1], p[2]))]
    return ordered[-limit:]


def last_guesses(db: Database, conversation_id: str) -> tuple[BotGuess, ...]:
    """The bot's guesses with its latest reply (by ``seq``), best first; () when it never replied."""
    row = db.execute(
        "SELECT guesses FROM chat_messages WHERE conversation_id = ? AND type = 'bot_reply' "
        "ORDER BY seq DESC LIMIT 1",
        [conversation_id],
    ).fetchone()
    if row is None or not row[0]:
        return ()
    return tuple(BotGuess.model_validate(g) for g in json.loads(row[0]))


# --- rebuild and retention -------------------------------------------------------------------------------


def rebuild_rollups(db: Database, first_hour: int | None) -> int:
    """Recount ``chat_hourly`` (hours from ``first_hour`` on, or all) from the conversations, after
    deleting those rows. Returns the conversations counted."""
    bound = first_hour if first_hour is not None else -HOUR_S
    with db.transaction():
        db.execute("DELETE FROM chat_hourly WHERE hour >= ?", [bound])
        rows = db.query(f"{_SELECT} WHERE hour >= ?", [bound])
        delta = Delta()
        for row in rows:
            _add(delta, _conversation(row), None)
        apply_rollups(db, delta)
    return len(rows)


def delete_transcripts(
    db: Database, cutoff: datetime, now: datetime, batch_rows: int, *, dry_run: bool = False
) -> int:
    """Delete the transcripts (every message) of conversations first heard of before ``cutoff``, in
    transactions of about ``batch_rows`` messages; the conversations stay, marked deleted at ``now``.
    Returns the messages deleted (or, with ``dry_run``, that would be)."""
    bound = as_utc(cutoff).timestamp()
    if dry_run:
        return int(
            db.scalar(
                "SELECT count(*) FROM chat_messages WHERE conversation_id IN (SELECT conversation_id FROM "
                "chat_conversations WHERE first_received_at < ?)",
                [bound],
            )
        )
    deleted = 0
    while True:
        with db.transaction():
            ids = [
                str(r[0])
                for r in db.query(
                    "SELECT conversation_id FROM chat_conversations WHERE first_received_at < ? AND "  # noqa: S608
                    "transcript_deleted_at IS NULL ORDER BY conversation_id "
                    f"LIMIT {max(1, batch_rows // 50)}",
                    [bound],
                )
            ]
            if not ids:
                break
            marks = ", ".join("?" * len(ids))
            deleted += db.execute(
                f"DELETE FROM chat_messages WHERE conversation_id IN ({marks})",  # noqa: S608
                ids,
            ).rowcount
            db.execute(
                f"UPDATE chat_conversations SET transcript_deleted_at = ? WHERE conversation_id IN ({marks})",  # noqa: S608
                [as_utc(now).timestamp(), *ids],
            )
    # Messages whose conversation row is gone (or never made): nothing keeps them.
    deleted += db.execute(
        "DELETE FROM chat_messages WHERE received_at < ? AND conversation_id NOT IN "
        "(SELECT conversation_id FROM chat_conversations)",
        [bound],
    ).rowcount
    return deleted


def delete_conversations(db: Database, cutoff: datetime, batch_rows: int, *, dry_run: bool = False) -> int:
    """Delete conversations first heard of before ``cutoff`` (and any message of theirs still kept), in
    transactions of ``batch_rows``; ``chat_hourly`` stays. Returns the conversations deleted."""
    bound = as_utc(cutoff).timestamp()
    if dry_run:
        return int(db.scalar("SELECT count(*) FROM chat_conversations WHERE first_received_at < ?", [bound]))
    deleted = 0
    while True:
        with db.transaction():
            ids = [
                str(r[0])
                for r in db.query(
                    "SELECT conversation_id FROM chat_conversations WHERE first_received_at < ? "  # noqa: S608
                    f"ORDER BY conversation_id LIMIT {int(batch_rows)}",
                    [bound],
                )
            ]
            if not ids:
                return deleted
            marks = ", ".join("?" * len(ids))
            db.execute(f"DELETE FROM chat_messages WHERE conversation_id IN ({marks})", ids)  # noqa: S608
            deleted += db.execute(
                f"DELETE FROM chat_conversations WHERE conversation_id IN ({marks})",  # noqa: S608
                ids,
            ).rowcount
