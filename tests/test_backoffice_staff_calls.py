"""Staff calls, on SQLite and PostgreSQL: recorded by the ingest at its receipt time, moved open ->
acknowledged -> resolved with who and when, one winner when two operators click at once (two threads,
many times), the kiosk's acknowledgement recorded, escalation once, and the KPIs rolled up at each step."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import backoffice_fixture as fx
import pytest

from backoffice import staff_calls
from backoffice.db import Database
from backoffice.ingest import BackofficeStore, Parsed, open_store
from backoffice.reports import staff_kpis
from backoffice.reports.models import Filters
from mqtt_bridge.contract.events import StaffCall, StaffCallAcknowledged

T0 = datetime(2026, 11, 2, 10, 0, 17, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BackofficeStore]:
    for url in fx.store_url(request.param, tmp_path):
        clock = fx.Clock(T0)
        opened = open_store(url, clock=clock)
        try:
            yield opened
        finally:
            opened.close()


def _call(call_id: str, reason: str = "shopper_request", store: str = "s1") -> StaffCall:
    # ts floored to the minute, as a device sends it: the raised time is the receipt time instead.
    return StaffCall(
        store_id=store,
        device_id="d1",
        ts=T0.replace(second=0),
        call_id=call_id,
        reason=reason,  # type: ignore[arg-type]
        zone="entrance",
        visit_ref="v1",
        offer_id="o1",
    )


def test_a_call_goes_open_acknowledged_resolved(store: BackofficeStore) -> None:
    db = store.db
    store.write(Parsed(events=[_call("c1")]))
    store.write(Parsed(events=[_call("c1")]))  # redelivered: still one call
    [call] = staff_calls.open_calls(db)
    assert (call.call_id, call.state, call.raised_at, call.offer_id) == ("c1", "open", T0, "o1")
    assert call.event_ts == T0.replace(second=0)
    ack = staff_calls.acknowledge(db, "c1", "ann", T0 + timedelta(seconds=45))
    assert ack.done and ack.acknowledged_now
    assert (ack.call.state, ack.call.acknowledged_by, ack.call.acknowledged_at) == (
        "acknowledged",
        "ann",
        T0 + timedelta(seconds=45),
    )
    again = staff_calls.acknowledge(db, "c1", "bob", T0 + timedelta(seconds=50))
    assert not again.done and again.call.acknowledged_by == "ann"  # told who won
    # The kiosk's acknowledgement arrives: proof it got the staff_ack.
    kiosk = StaffCallAcknowledged(store_id="s1", device_id="d1", ts=T0, call_id="c1", response_s=46.5)
    store.write(Parsed(events=[kiosk]))
    done = staff_calls.resolve(db, "c1", "bob", T0 + timedelta(minutes=3))
    assert done.done and not done.acknowledged_now
    assert (done.call.state, done.call.resolved_by, done.call.acknowledged_by) == ("resolved", "bob", "ann")
    assert done.call.device_ack_at == T0 and done.call.device_response_s == 46.5
    assert not staff_calls.resolve(db, "c1", "cid", T0 + timedelta(minutes=4)).done
    assert staff_calls.open_calls(db) == []
    assert [c.call_id for c in staff_calls.list_calls(db, states=("resolved",))] == ["c1"]
    kpis = staff_kpis(db, Filters(start=T0 - timedelta(hours=1), end=T0 + timedelta(hours=1)))
    assert (kpis.total.raised, kpis.total.acknowledged, kpis.total.resolved, kpis.total.device_acks) == (
        1,
        1,
        1,
        1,
    )
    assert kpis.total.ack_mean_s == 45 and kpis.total.resolve_mean_s == 180
    with pytest.raises(staff_calls.UnknownCallError):
        staff_calls.acknowledge(db, "nope", "ann", T0)


def test_resolving_an_open_call_acknowledges_it(store: BackofficeStore) -> None:
    store.write(Parsed(events=[_call("c2", "negative_valence")]))
    result = staff_calls.resolve(store.db, "c2", "ann", T0 + timedelta(seconds=30))
    assert result.done and result.acknowledged_now
    assert (result.call.acknowledged_at, result.call.resolved_at) == (T0 + timedelta(seconds=30),) * 2
    total = staff_kpis(store.db, Filters(start=T0 - timedelta(hours=1), end=T0 + timedelta(hours=1))).total
    assert (total.raised_negative_valence, total.acknowledged, total.ack_within_60s_share) == (1, 1, 1.0)


Action = Callable[[Database, str, str, datetime], staff_calls.Transition]


def _race(action: Action, db: Database, call_id: str) -> dict[str, staff_calls.Transition]:
    """ann and bob call ``action`` on ``call_id`` in two threads released at the same instant."""
    barrier = threading.Barrier(2)
    results: dict[str, staff_calls.Transition] = {}
    errors: list[BaseException] = []

    def click(user: str) -> None:
        try:
            barrier.wait(10)
            results[user] = action(db, call_id, user, T0 + timedelta(seconds=30))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=click, args=(user,)) for user in ("ann", "bob")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    return results


def test_two_operators_at_once_one_wins(store: BackofficeStore) -> None:
    """Two threads acknowledge (then resolve) the same call at the same instant, 15 calls over: each
    time exactly one wins and the loser is told the winner's name."""
    db = store.db
    calls = [f"race-{i}" for i in range(15)]
    store.write(Parsed(events=[_call(c) for c in calls]))
    for call_id in calls:
        results = _race(staff_calls.acknowledge, db, call_id)
        [winner] = [u for u, r in results.items() if r.done]
        loser = "bob" if winner == "ann" else "ann"
        assert results[loser].call.acknowledged_by == winner and not results[loser].acknowledged_now
        results = _race(staff_calls.resolve, db, call_id)
        [winner] = [u for u, r in results.items() if r.done]
        loser = "bob" if winner == "ann" else "ann"
        assert results[loser].call.resolved_by == winner
    total = staff_kpis(db, Filters(start=T0 - timedelta(hours=1), end=T0 + timedelta(hours=1))).total
    assert (total.raised, total.acknowledged, total.resolved) == (15, 15, 15)  # counted once each


def test_resolve_racing_acknowledge_on_an_open_call(store: BackofficeStore) -> None:
    """One operator acknowledges while another resolves an open call: both may succeed (in that order),
    or the resolve acknowledges it first and the acknowledgement is refused; never two acknowledgements."""
    db = store.db
    calls = [f"mix-{i}" for i in range(10)]
    store.write(Parsed(events=[_call(c) for c in calls]))
    for call_id in calls:
        barrier = threading.Barrier(2)
        out: dict[str, staff_calls.Transition] = {}

        def act(
            name: str,
            action: Action,
            barrier: threading.Barrier = barrier,
            call_id: str = call_id,
            out: dict[str, staff_calls.Transition] = out,
        ) -> None:
            barrier.wait(10)
            out[name] = action(db, call_id, name, T0 + timedelta(seconds=30))

        threads = [
            threading.Thread(target=act, args=("ann", staff_calls.acknowledge)),
            threading.Thread(target=act, args=("bob", staff_calls.resolve)),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert out["bob"].done  # a resolve always goes through: from open or from acknowledged
        assert out["ann"].acknowledged_now + out["bob"].acknowledged_now == 1
    total = staff_kpis(db, Filters(start=T0 - timedelta(hours=1), end=T0 + timedelta(hours=1))).total
    assert (total.acknowledged, total.resolved) == (10, 10)


def test_escalation_is_a_rule_and_happens_once(store: BackofficeStore) -> None:
    db = store.db
    store.write(Parsed(events=[_call("old"), _call("other", store="s2")]))
    assert staff_calls.due_escalations(db, T0 + timedelta(seconds=119), after_s=120) == []
    due = staff_calls.due_escalations(db, T0 + timedelta(seconds=120), after_s=120)
    assert [c.call_id for c in due] == ["old", "other"]
    assert staff_calls.mark_escalated(db, "old", T0 + timedelta(seconds=121))
    assert not staff_calls.mark_escalated(db, "old", T0 + timedelta(seconds=122))  # once
    assert staff_calls.acknowledge(db, "other", "ann", T0 + timedelta(seconds=125)).done
    assert not staff_calls.mark_escalated(db, "other", T0 + timedelta(seconds=126))  # acknowledged meanwhile
    assert staff_calls.due_escalations(db, T0 + timedelta(hours=1), after_s=120) == []
    old = staff_calls.get_call(db, "old")
    assert old is not None and old.state == "open" and old.escalated_at == T0 + timedelta(seconds=121)
    kpis = staff_kpis(db, Filters(start=T0 - timedelta(hours=1), end=T0 + timedelta(hours=1)))
    assert {row.store_id: row.escalated for row in kpis.per_store} == {"s1": 1, "s2": 0}


def test_lists_filter_by_store_and_time(store: BackofficeStore, tmp_path: Path) -> None:
    store.write(Parsed(events=[_call("a"), _call("b", store="s2")]))
    db = store.db
    assert [c.call_id for c in staff_calls.list_calls(db, stores=["s2"])] == ["b"]
    assert staff_calls.list_calls(db, since=T0 + timedelta(seconds=1)) == []
    assert len(staff_calls.list_calls(db, since=T0, until=T0 + timedelta(seconds=1))) == 2
    # An acknowledgement of a call the back office never received changes nothing.
    stray = StaffCallAcknowledged(store_id="s1", device_id="d1", ts=T0, call_id="zzz", response_s=1)
    store.write(Parsed(events=[stray]))
    assert staff_calls.get_call(db, "zzz") is None
