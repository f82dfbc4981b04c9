"""Staff calls as a state machine with explicit states: ``open -> acknowledged -> resolved``.

- The ingest records each new ``staff_call`` event as an open call (:func:`record_events`). Its raised time
  is the back office's receipt time: the event's ``ts`` is floored to the minute on the device, too coarse
  for a response time. The device's ``staff_call_acknowledged`` event, when it arrives, is recorded on the
  call (``device_ack_at``, ``device_response_s``): proof that the kiosk got the acknowledgement.
- Operators move a call on with :func:`acknowledge` and :func:`resolve`. Each transition is one conditional
  ``UPDATE ... WHERE state = ...``: when two operators click at once exactly one wins, and the other is
  told who did (:class:`Transition` with ``done`` False and the call as it now is). Resolving an open call
  acknowledges it in the same step (``acknowledged_now``: the caller then sends the kiosk its
  ``staff_ack``, as after :func:`acknowledge`).
- Escalation is a rule: :func:`due_escalations` lists open calls unacknowledged for ``after_s`` and not
  yet escalated; :func:`mark_escalated` records it once (only one caller gets True, so only one posts the
  webhook). An escalated call stays open: escalation is a mark, not a state.
- KPIs (time to acknowledge, time to resolve, per store and hour) are rolled up into
  ``staff_call_hourly`` in the transition's own transaction, in the hour the call was raised.

Sending the signed ``staff_ack`` command to the kiosk is the web application's (``backoffice send-command``
shows how). Times passed in (``now``) are aware datetimes; they are stored as epoch seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from backoffice.db import Database, Migration, as_datetime, as_utc
from backoffice.errors import BackofficeError
from backoffice.rollups import HOUR_S, STAFF_CALLS, Delta, apply, hour_of
from mqtt_bridge.contract.events import Event, StaffCall, StaffCallAcknowledged

CallState = Literal["open", "acknowledged", "resolved"]

#: Upper bounds (seconds) of the acknowledgement-time buckets counted in ``staff_call_hourly``.
ACK_BUCKETS_S = (30, 60, 120, 300)


def _table_sql(real: str, count: str) -> str:
    return f"""CREATE TABLE staff_calls (
        call_id TEXT PRIMARY KEY, event_id TEXT NOT NULL, store_id TEXT NOT NULL, device_id TEXT NOT NULL,
        reason TEXT NOT NULL, zone TEXT NOT NULL, offer_id TEXT, event_ts {real} NOT NULL,
        raised_at {real} NOT NULL, hour {count} NOT NULL, state TEXT NOT NULL DEFAULT 'open',
        acknowledged_at {real}, acknowledged_by TEXT, resolved_at {real}, resolved_by TEXT,
        escalated_at {real}, device_ack_at {real}, device_response_s {real});
    CREATE INDEX staff_calls_state ON staff_calls (state, raised_at);
    CREATE INDEX staff_calls_raised ON staff_calls (raised_at)"""


#: The staff-call records (component ``staff_calls``). Their KPIs are in ``staff_call_hourly`` (rollups).
MIGRATIONS: tuple[Migration, ...] = (
    Migration("0001_staff_calls", _table_sql("REAL", "INTEGER"), _table_sql("DOUBLE PRECISION", "BIGINT")),
)


class UnknownCallError(BackofficeError):
    """No staff call has this id."""


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StaffCallRecord(_Frozen):
    """One staff call as stored."""

    call_id: str
    store_id: str
    device_id: str
    reason: Literal["negative_valence", "shopper_request"] = Field(
        description="negative_valence: raised by sustained frustration; shopper_request: a tap."
    )
    zone: str = Field(description="Where in the store the screen stands.")
    offer_id: str | None = Field(description="The offer on screen when raised (schema 2).")
    event_ts: datetime = Field(description="The event's ts (device clock, floored to the minute).")
    raised_at: datetime = Field(description="When the back office received it: the raised time.")
    state: CallState
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    escalated_at: datetime | None = Field(description="When it escalated (unacknowledged too long), once.")
    device_ack_at: datetime | None = Field(
        description="When the kiosk's staff_call_acknowledged event arrived: the kiosk got the ack."
    )
    device_response_s: float | None = Field(description="The kiosk's own measure, raised to acknowledged.")


class Transition(_Frozen):
    """The outcome of :func:`acknowledge` or :func:`resolve`."""

    done: bool = Field(
        description="True: this call made the transition. False: the call was not in a state it could "
        "leave this way (another operator was first): ``call`` says who did what, when."
    )
    acknowledged_now: bool = Field(
        description="This transition acknowledged the call (send the kiosk its staff_ack)."
    )
    call: StaffCallRecord = Field(description="The call after the attempt.")


_COLUMNS = (
    "call_id, store_id, device_id, reason, zone, offer_id, event_ts, raised_at, state, acknowledged_at, "
    "acknowledged_by, resolved_at, resolved_by, escalated_at, device_ack_at, device_response_s"
)


_NAMES = tuple(c.strip() for c in _COLUMNS.split(","))
_TIMES = ("event_ts", "raised_at", "acknowledged_at", "resolved_at", "escalated_at", "device_ack_at")


def _record(row: Sequence[object]) -> StaffCallRecord:
    data = dict(zip(_NAMES, row, strict=True))
    for name in _TIMES:
        data[name] = as_datetime(data[name])
    return StaffCallRecord.model_validate(data)


def _epoch(ts: datetime) -> float:
    return as_utc(ts).timestamp()


# --- ingest ------------------------------------------------------------------------------------------------


def record_events(db: Database, events: Sequence[Event], received_at: datetime) -> int:
    """Record new ``staff_call`` events as open calls raised at ``received_at``, and the kiosks'
    ``staff_call_acknowledged`` events on their calls (in the caller's transaction). Returns the calls
    opened. A call id seen before is ignored; an acknowledgement of an unknown call changes nothing."""
    received = _epoch(received_at)
    hour = hour_of(received_at)
    delta = Delta()
    opened = 0
    with db.transaction():
        for event in events:
            if isinstance(event, StaffCall):
                inserted = db.execute(
                    "INSERT INTO staff_calls (call_id, event_id, store_id, device_id, reason, zone, "
                    "offer_id, event_ts, raised_at, hour) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (call_id) DO NOTHING RETURNING call_id",
                    [
                        event.call_id,
                        event.event_id,
                        event.store_id,
                        event.device_id,
                        event.reason,
                        event.zone,
                        event.offer_id,
                        _epoch(event.ts),
                        received,
                        hour,
                    ],
                )
                if inserted.rows:
                    opened += 1
                    delta.add(
                        STAFF_CALLS,
                        (event.store_id, event.device_id, hour),
                        raised=1,
                        **{f"raised_{event.reason}": 1},
                    )
            elif isinstance(event, StaffCallAcknowledged):
                acked = db.execute(
                    "UPDATE staff_calls SET device_ack_at = ?, device_response_s = ? "
                    "WHERE call_id = ? AND device_ack_at IS NULL RETURNING store_id, device_id, hour",
                    [received, event.response_s, event.call_id],
                )
                for store_id, device_id, call_hour in acked:
                    delta.add(
                        STAFF_CALLS,
                        (store_id, device_id, int(call_hour)),
                        device_acks=1,
                        device_response_s=event.response_s,
                    )
        apply(db, delta)
    return opened


# --- reading -----------------------------------------------------------------------------------------------


def get_call(db: Database, call_id: str) -> StaffCallRecord | None:
    """One call, or None."""
    row = db.execute(f"SELECT {_COLUMNS} FROM staff_calls WHERE call_id = ?", [call_id]).fetchone()  # noqa: S608
    return None if row is None else _record(row)


def list_calls(
    db: Database,
    *,
    states: Sequence[CallState] = ("open", "acknowledged", "resolved"),
    stores: Sequence[str] = (),
    devices: Sequence[str] = (),
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 200,
) -> list[StaffCallRecord]:
    """Calls in ``states`` (of ``stores``/``devices``, empty: all) raised in [since, until), newest first,
    at most ``limit``. The live list: ``states=("open", "acknowledged")``; recent calls: ``since``."""
    where = [f"state IN ({', '.join('?' * len(states))})"]
    params: list[object] = list(states)
    if stores:
        where.append(f"store_id IN ({', '.join('?' * len(stores))})")
        params += stores
    if devices:
        where.append(f"device_id IN ({', '.join('?' * len(devices))})")
        params += devices
    if since is not None:
        where.append("raised_at >= ?")
        params.append(_epoch(since))
    if until is not None:
        where.append("raised_at < ?")
        params.append(_epoch(until))
    rows = db.query(
        f"SELECT {_COLUMNS} FROM staff_calls WHERE {' AND '.join(where)} "  # noqa: S608
        f"ORDER BY raised_at DESC, call_id LIMIT {int(limit)}",
        params,
    )
    return [_record(r) for r in rows]


def open_calls(
    db: Database, *, stores: Sequence[str] = (), devices: Sequence[str] = ()
) -> list[StaffCallRecord]:
    """Calls not resolved yet (open or acknowledged), newest first."""
    return list_calls(db, states=("open", "acknowledged"), stores=stores, devices=devices, limit=10_000)


# --- transitions -------------------------------------------------------------------------------------------


def _ack_amounts(ack_s: float) -> dict[str, float]:
    amounts: dict[str, float] = {"acknowledged": 1, "ack_s": ack_s}
    for bound in ACK_BUCKETS_S:
        amounts[f"ack_le_{bound}"] = ack_s <= bound
    return amounts


def acknowledge(db: Database, call_id: str, user: str, now: datetime) -> Transition:
    """``open -> acknowledged`` by ``user`` at ``now``. Exactly one of two concurrent callers gets
    ``done``; the other gets the call as the winner left it. Raises :class:`UnknownCallError`."""
    at = _epoch(now)
    with db.transaction():
        won = db.execute(
            "UPDATE staff_calls SET state = 'acknowledged', acknowledged_at = ?, acknowledged_by = ? "
            "WHERE call_id = ? AND state = 'open' RETURNING store_id, device_id, hour, raised_at",
            [at, user, call_id],
        ).fetchone()
        if won is not None:
            store_id, device_id, hour, raised_at = won
            delta = Delta()
            delta.add(STAFF_CALLS, (store_id, device_id, int(hour)), **_ack_amounts(max(0.0, at - raised_at)))
            apply(db, delta)
        call = get_call(db, call_id)
    if call is None:
        raise UnknownCallError(f"no staff call {call_id!r}: it may have been deleted by retention")
    return Transition(done=won is not None, acknowledged_now=won is not None, call=call)


def resolve(db: Database, call_id: str, user: str, now: datetime) -> Transition:
    """``acknowledged -> resolved`` (or ``open -> resolved``, acknowledging it in the same step) by
    ``user`` at ``now``. A resolved call is not resolved again (``done`` False). Raises
    :class:`UnknownCallError`."""
    at = _epoch(now)
    with db.transaction():
        acknowledged_now = False
        won = None
        for _attempt in range(2):
            won = db.execute(
                "UPDATE staff_calls SET state = 'resolved', resolved_at = ?, resolved_by = ? "
                "WHERE call_id = ? AND state = 'acknowledged' RETURNING store_id, device_id, hour, raised_at",
                [at, user, call_id],
            ).fetchone()
            if won is not None:
                break
            won = db.execute(
                "UPDATE staff_calls SET state = 'resolved', resolved_at = ?, resolved_by = ?, "
                "acknowledged_at = ?, acknowledged_by = ? "
                "WHERE call_id = ? AND state = 'open' RETURNING store_id, device_id, hour, raised_at",
                [at, user, at, user, call_id],
            ).fetchone()
            if won is not None:
                acknowledged_now = True
                break
            # Both missed: another operator acknowledged it between the two (PostgreSQL), or it is
            # resolved. Once more only in the first case.
            state = db.scalar("SELECT state FROM staff_calls WHERE call_id = ?", [call_id])
            if state != "acknowledged":
                break
        if won is not None:
            store_id, device_id, hour, raised_at = won
            amounts: dict[str, float] = {"resolved": 1, "resolve_s": max(0.0, at - raised_at)}
            if acknowledged_now:
                amounts |= _ack_amounts(max(0.0, at - raised_at))
            delta = Delta()
            delta.add(STAFF_CALLS, (store_id, device_id, int(hour)), **amounts)
            apply(db, delta)
        call = get_call(db, call_id)
    if call is None:
        raise UnknownCallError(f"no staff call {call_id!r}: it may have been deleted by retention")
    return Transition(done=won is not None, acknowledged_now=acknowledged_now, call=call)


def due_escalations(db: Database, now: datetime, after_s: float) -> list[StaffCallRecord]:
    """Open calls raised at least ``after_s`` before ``now`` and not escalated yet, oldest first. Pure
    rule over the store: nothing is changed (:func:`mark_escalated` records one)."""
    rows = db.query(
        f"SELECT {_COLUMNS} FROM staff_calls WHERE state = 'open' AND escalated_at IS NULL "  # noqa: S608
        "AND raised_at <= ? ORDER BY raised_at, call_id",
        [_epoch(now) - after_s],
    )
    return [_record(r) for r in rows]


def mark_escalated(db: Database, call_id: str, now: datetime) -> bool:
    """Record that ``call_id`` escalated at ``now``: True for the one caller that recorded it (post the
    webhook then), False when it was escalated already, or acknowledged meanwhile."""
    with db.transaction():
        row = db.execute(
            "UPDATE staff_calls SET escalated_at = ? WHERE call_id = ? AND state = 'open' "
            "AND escalated_at IS NULL RETURNING store_id, device_id, hour",
            [_epoch(now), call_id],
        ).fetchone()
        if row is None:
            return False
        delta = Delta()
        delta.add(STAFF_CALLS, (row[0], row[1], int(row[2])), escalated=1)
        apply(db, delta)
    return True


# --- rebuild -----------------------------------------------------------------------------------------------


def rebuild_rollups(db: Database, first_hour: int | None) -> int:
    """Recount ``staff_call_hourly`` (hours from ``first_hour`` on, or all) from the ``staff_calls``
    records, whose rows :func:`backoffice.rollups.rebuild` has just deleted. Returns the calls counted."""
    rows = db.query(
        "SELECT store_id, device_id, hour, reason, raised_at, acknowledged_at, resolved_at, escalated_at, "
        "device_ack_at, device_response_s FROM staff_calls WHERE hour >= ?",
        [first_hour if first_hour is not None else -HOUR_S],
    )
    delta = Delta()
    for store_id, device_id, hour, reason, raised, acked, resolved, escalated, device_ack, response in rows:
        key = (store_id, device_id, int(hour))
        delta.add(STAFF_CALLS, key, raised=1, **{f"raised_{reason}": 1})
        if acked is not None:
            delta.add(STAFF_CALLS, key, **_ack_amounts(max(0.0, acked - raised)))
        if resolved is not None:
            delta.add(STAFF_CALLS, key, resolved=1, resolve_s=max(0.0, resolved - raised))
        if escalated is not None:
            delta.add(STAFF_CALLS, key, escalated=1)
        if device_ack is not None:
            delta.add(STAFF_CALLS, key, device_acks=1, device_response_s=response or 0.0)
    apply(db, delta)
    return len(rows)
