"""The chat's KPIs (docs/chat.md, KPIs): conversations, containment, hand-offs and their reasons, the
operators' time to accept, first reply and resolution, unanswered questions, and CSAT at the end of chats.

Every figure but the unanswered questions' list comes from the hourly rollup ``chat_hourly`` (a
conversation counts in the hour the back office first heard of it), so the figures stay when retention
deletes transcripts. The list of unanswered questions is read from the transcripts themselves (it needs
their text), so it holds only what transcript retention has kept.

k-suppression: every figure of a row is built from the row's conversations and is suppressed when
0 < conversations < k; the CSAT figures from the row's CSAT answers, suppressed under k answers. The
hand-off reasons are suppressed when the range has fewer than k conversations.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Final, get_args

from pydantic import BaseModel, ConfigDict, Field

from backoffice.chat.store import CHAT
from backoffice.db import Database
from backoffice.reports.models import Cell, Filters, Suppressed, Value, cell, ratio
from backoffice.reports.query import Sums, add_up, by_day, by_hour, per_hour, sums
from mqtt_bridge.contract.chat import BotGuess, HandoffReason

#: Rows of raw declines read at most for the list of unanswered questions.
UNANSWERED_READ: Final = 20_000


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChatKpiRow(_Frozen):
    """The chat's KPIs of one bucket (an hour, a day, a store, or the range)."""

    start: datetime | None = Field(default=None, description="Start of the hour or day; None otherwise.")
    store_id: str | None = Field(default=None, description="The store (per-store rows); None otherwise.")
    conversations: Cell = Field(description="Conversations the back office heard of.")
    finished: Cell = Field(description="Conversations that ended (kiosk) or were resolved (operator).")
    contained: Cell = Field(description="Finished, answered by the bot at least once, never handed off.")
    containment_rate: Cell = Field(description="contained / finished.")
    handed_off: Cell = Field(description="Conversations handed to a person at least once.")
    handoff_rate: Cell = Field(description="handed_off / conversations.")
    unanswered_timeout: Cell = Field(description="Hand-offs no operator accepted within the kiosk's wait.")
    unanswered_off_duty: Cell = Field(description="Hand-offs outside the operators' duty hours.")
    declined: Cell = Field(description="Shopper messages the bot declined: unanswered questions.")
    accepted: Cell = Field(description="Handed-off conversations an operator accepted.")
    accept_mean_s: Cell = Field(description="Mean seconds from the hand-off to the first acceptance.")
    first_replies: Cell = Field(description="Handed-off conversations with an operator message.")
    first_reply_mean_s: Cell = Field(
        description="Mean seconds from the hand-off to the first operator message."
    )
    first_reply_within_60s_share: Cell = Field(description="Share of first replies within 60 s.")
    resolved: Cell = Field(description="Conversations an operator resolved.")
    resolution_mean_s: Cell = Field(description="Mean seconds from the hand-off to the resolve.")
    handed_back: Cell = Field(description="Times an operator handed a chat back to the bot.")
    csat_responses: Cell = Field(description="CSAT answers at the end of chats.")
    csat_mean: Cell = Field(description="Mean CSAT (1-5).")
    csat_satisfied_share: Cell = Field(description="Share of CSAT answers 4 or 5.")


class HandoffReasonRow(_Frozen):
    """Conversations handed off, by the reason of their first hand-off."""

    reason: str
    handed_off: Cell
    share: Cell = Field(description="Of every conversation handed off in the range.")


class UnansweredQuestion(_Frozen):
    """A question the bot declined (the same text, case and spaces aside, counted together)."""

    text: str = Field(description="The shopper's text as the device sent it (masked there).")
    lang: str
    asked: int = Field(description="Times it was declined in the range.")
    last_asked: datetime
    guesses: str = Field(description="The bot's best guesses when it declined it last (entry: score).")


class ChatKpiReport(_Frozen):
    """Everything the chat's KPI page shows."""

    filters: Filters
    k: int
    total: ChatKpiRow
    by_day: tuple[ChatKpiRow, ...]
    by_hour: tuple[ChatKpiRow, ...]
    per_store: tuple[ChatKpiRow, ...]
    reasons: tuple[HandoffReasonRow, ...]
    unanswered: tuple[UnansweredQuestion, ...]
    csat_distribution: tuple[Cell, ...] = Field(description="CSAT answers scoring 1..5.")


def kpi_row(v: Sums, k: int, *, start: datetime | None = None, store_id: str | None = None) -> ChatKpiRow:
    """One bucket's :class:`ChatKpiRow` from its ``chat_hourly`` sums."""
    n = int(v.get("conversations", 0))
    csat = int(v.get("csat_n", 0))

    def c(value: float | None) -> Value | Suppressed:
        return cell(value, n, k)

    def a(column: str) -> Value | Suppressed:
        return cell(v.get(column, 0.0), n, k)

    finished, handed_off = v.get("finished", 0.0), v.get("handed_off", 0.0)
    accepted, first, resolved = v.get("accepted", 0.0), v.get("first_replies", 0.0), v.get("resolved", 0.0)
    return ChatKpiRow(
        start=start,
        store_id=store_id,
        conversations=c(n),
        finished=c(finished),
        contained=a("contained"),
        containment_rate=c(ratio(v.get("contained", 0.0), finished)),
        handed_off=c(handed_off),
        handoff_rate=c(ratio(handed_off, n)),
        unanswered_timeout=a("unanswered_timeout"),
        unanswered_off_duty=a("unanswered_off_duty"),
        declined=a("declined"),
        accepted=c(accepted),
        accept_mean_s=c(ratio(v.get("accept_s", 0.0), accepted)),
        first_replies=c(first),
        first_reply_mean_s=c(ratio(v.get("first_reply_s", 0.0), first)),
        first_reply_within_60s_share=c(ratio(v.get("first_reply_le_60", 0.0), first)),
        resolved=c(resolved),
        resolution_mean_s=c(ratio(v.get("resolution_s", 0.0), resolved)),
        handed_back=a("handed_back"),
        csat_responses=cell(csat, csat, k),
        csat_mean=cell(ratio(v.get("csat_score_sum", 0.0), csat), csat, k),
        csat_satisfied_share=cell(ratio(v.get("csat_4", 0.0) + v.get("csat_5", 0.0), csat), csat, k),
    )


def _normalised(text: str) -> str:
    return " ".join(text.casefold().split())


def _guesses_text(raw: str | None) -> str:
    if not raw:
        return ""
    return ", ".join(
        f"{g.entry}: {g.score:.2f}" for g in (BotGuess.model_validate(x) for x in json.loads(raw))
    )


def unanswered_questions(db: Database, filters: Filters, limit: int) -> tuple[UnansweredQuestion, ...]:
    """The questions the bot declined in the range (by the decline's receipt), most asked first, then the
    latest; at most ``limit``. Read from the transcripts: what retention deleted is not listed."""
    clauses = ["b.type = 'bot_reply'", "b.action = 'decline'", "b.received_at >= ?", "b.received_at < ?"]
    params: list[object] = [filters.start.timestamp(), filters.end.timestamp()]
    if filters.stores:
        clauses.append(f"b.store_id IN ({', '.join('?' * len(filters.stores))})")
        params += filters.stores
    if filters.devices:
        clauses.append(f"b.device_id IN ({', '.join('?' * len(filters.devices))})")
        params += filters.devices
    rows = db.query(
        "SELECT s.text, s.lang, b.received_at, b.guesses FROM chat_messages b JOIN chat_messages s "  # noqa: S608
        f"ON s.message_id = b.in_reply_to WHERE {' AND '.join(clauses)} AND s.text IS NOT NULL "
        f"ORDER BY b.received_at DESC LIMIT {UNANSWERED_READ}",
        params,
    )
    groups: dict[tuple[str, str], list[tuple[str, float, str | None]]] = {}
    for text, lang, received, guesses in rows:  # newest first
        groups.setdefault((_normalised(str(text)), str(lang)), []).append(
            (str(text), float(received), guesses)
        )
    found = [
        UnansweredQuestion(
            text=items[0][0],
            lang=lang,
            asked=len(items),
            last_asked=datetime.fromtimestamp(items[0][1], UTC).astimezone(filters.zone),
            guesses=_guesses_text(items[0][2]),
        )
        for (_, lang), items in groups.items()
    ]
    found.sort(key=lambda q: (-q.asked, -q.last_asked.timestamp(), q.text))
    return tuple(found[:limit])


def reasons(total: Sums, k: int) -> tuple[HandoffReasonRow, ...]:
    """Hand-offs by the reason of each conversation's first one, over the range."""
    n = int(total.get("conversations", 0))
    handed_off = total.get("handed_off", 0.0)
    return tuple(
        HandoffReasonRow(
            reason=reason,
            handed_off=cell(total.get(f"handoff_{reason}", 0.0), n, k),
            share=cell(ratio(total.get(f"handoff_{reason}", 0.0), handed_off), n, k),
        )
        for reason in get_args(HandoffReason)
    )


def chat_kpis(db: Database, filters: Filters, k: int, *, list_limit: int = 500) -> ChatKpiReport:
    """The chat's KPIs of ``filters`` (``k``: k-suppression; ``list_limit``: unanswered questions listed)."""
    hours = per_hour(sums(db, CHAT, filters, ("hour",)))
    stores = sums(db, CHAT, filters, ("store_id",))
    total = add_up(hours.values())
    csat = int(total.get("csat_n", 0))
    return ChatKpiReport(
        filters=filters,
        k=k,
        total=kpi_row(total, k),
        by_day=tuple(kpi_row(v, k, start=start) for start, v in by_day(hours, filters)),
        by_hour=tuple(kpi_row(v, k, start=start) for start, v in by_hour(hours, filters)),
        per_store=tuple(kpi_row(v, k, store_id=str(key[0])) for key, v in sorted(stores.items())),
        reasons=reasons(total, k),
        unanswered=unanswered_questions(db, filters, list_limit),
        csat_distribution=tuple(cell(total.get(f"csat_{s}", 0.0), csat, k) for s in range(1, 6)),
    )


def kpi_columns() -> Sequence[str]:
    """The figures of a :class:`ChatKpiRow`, in order (after ``start`` and ``store_id``)."""
    return [name for name in ChatKpiRow.model_fields if name not in ("start", "store_id")]
