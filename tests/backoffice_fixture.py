"""A back-office store with known contents, and the figures every report must show for it, computed by
hand (the arithmetic is in the comments beside each figure).

Used by tests/test_backoffice_reports.py (the report functions) and by the web application's tests (the
same figures on the pages and in the CSV). The store is filled through the real ingest write path: the
messages a device would publish, validated by ``parse_messages`` and written by ``BackofficeStore.write``
with a receipt clock set per batch; staff calls are then moved on with :mod:`backoffice.staff_calls`.

The contents, all on 2026-11-02 (UTC), k = 5:

- store s1, device d1 (online, birth schema 2, privacy_mode notice, software 0.2.0): hour 10:00 six visits,
  offer o1 (bandit arms 'o1|a' x5, 'o1|b' x1, and two attract showings), CSAT and NPS answers, two health
  events, two metrics payloads, staff calls c1 and c2; hour 11:00 three visits (under k) and offer o2
  (rules, three showings: under k).
- store s1, device d2 (offline since 21:00, birth schema 1): hour 10:00 two visits, one of them of event
  schema 1; its latest health event has camera_ok false.
- store s2, device d3 (never sent a status or birth): hour 22:00 (01:00 on 2026-11-03 in Moscow) five
  visits (exactly k), two CSAT answers (under k), staff call c3 (escalated, never acknowledged), and three
  metrics payloads whose outbox grows 10 -> 60 -> 150, the last received five minutes after its ts.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from backoffice import staff_calls
from backoffice.ingest import BackofficeStore, parse_messages
from mqtt_bridge.contract.events import (
    Event,
    Feedback,
    Health,
    OfferEnded,
    OfferRedeemed,
    OfferShown,
    OfferTapped,
    StaffCall,
    StaffCallAcknowledged,
    ValenceMix,
    VisitEnded,
)
from mqtt_bridge.contract.payloads import BirthPayload, EventBatch, MetricsPayload, StatusPayload

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
PREFIX = "vitrina/v1"

DAY = datetime(2026, 11, 2, tzinfo=UTC)
H10 = DAY + timedelta(hours=10)
H11 = DAY + timedelta(hours=11)
H22 = DAY + timedelta(hours=22)
#: The fleet report's clock.
NOW = H22 + timedelta(minutes=5)
#: Filters covering the whole fixture: 2026-11-01 00:00 UTC to 2026-11-04 00:00 UTC.
START, END = DAY - timedelta(days=1), DAY + timedelta(days=2)
K = 5
MOSCOW = "Europe/Moscow"


def postgres_url() -> Iterator[str]:
    """A PostgreSQL URL whose search path is a schema of its own, dropped afterwards; skips the test when
    no server answers on 127.0.0.1:5432 (database 'test')."""
    psycopg = pytest.importorskip(
        "psycopg", reason="psycopg 3 is not installed (pip install 'psycopg[binary]')"
    )
    try:
        admin = psycopg.connect(PG_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"no PostgreSQL on 127.0.0.1:5432 (database 'test', trust auth): {exc}")
    schema = f"vitrina_test_{uuid.uuid4().hex[:10]}"
    admin.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        admin.execute(f"DROP SCHEMA {schema} CASCADE")
        admin.close()


def store_url(kind: str, tmp_path: Path) -> Iterator[str]:
    """``kind`` 'sqlite' (a file under ``tmp_path``) or 'postgresql' (:func:`postgres_url`)."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'backoffice.sqlite'}"
    else:
        yield from postgres_url()


@dataclass
class Clock:
    """The store's receipt clock, set by :func:`fill` before each write."""

    now: datetime = DAY

    def __call__(self) -> datetime:
        return self.now


def _visit(device: str, ts: datetime, n: int, **fields: object) -> VisitEnded:
    store = "s2" if device == "d3" else "s1"
    data: dict[str, object] = {
        "store_id": store,
        "device_id": device,
        "ts": ts,
        "visit_ref": f"{device}-v{n}",
        "watcher": False,
        "glance": False,
    }
    data.update(fields)
    return VisitEnded.model_validate(data)


def _mix(negative: float = 0, neutral: float = 0, positive: float = 0) -> ValenceMix:
    return ValenceMix(negative_s=negative, neutral_s=neutral, positive_s=positive)


def visits() -> list[Event]:
    """Every visit_ended of the fixture."""
    t10, t11, t22 = H10 + timedelta(minutes=5), H11 + timedelta(minutes=5), H22 + timedelta(minutes=1)
    d1 = [
        _visit("d1", t10, 1, dwell_s=10, attention_s=6, watcher=True, valence=_mix(0, 4, 2)),
        _visit("d1", t10, 2, dwell_s=20, attention_s=8, watcher=True, valence=_mix(2, 4, 2)),
        _visit("d1", t10, 3, dwell_s=5, attention_s=1, glance=True),
        _visit("d1", t10, 4, dwell_s=8, attention_s=0),
        _visit(
            "d1",
            t10,
            5,
            dwell_s=12,
            attention_s=4,
            watcher=True,
            valence=_mix(6, 0, 0),
            frustrated=True,
            frustrated_after="o1",
        ),
        _visit("d1", t10, 6, dwell_s=15, attention_s=1.5, glance=True, valence=_mix(0, 2, 4)),
    ]
    d1_late = [
        _visit("d1", t11, 7 + i, dwell_s=6, attention_s=2, glance=True, valence=_mix(0, 0, 1))
        for i in range(3)
    ]
    d1_late[0] = d1_late[0].model_copy(update={"frustrated": True, "frustrated_after": "o2"})
    d2 = [
        _visit(
            "d2", t10, 1, dwell_s=30, attention_s=20, watcher=True, valence=_mix(0, 10, 0), schema_version=1
        ),
        _visit("d2", t10, 2, dwell_s=10, attention_s=0, frustrated=True),
    ]
    d3 = [
        _visit("d3", t22, i, dwell_s=4, attention_s=3, watcher=True, valence=_mix(0, 0, 2)) for i in range(5)
    ]
    return [*d1, *d1_late, *d2, *d3]


def offers() -> list[Event]:
    """Every offer event of the fixture (d1 only)."""
    t, t11 = H10 + timedelta(minutes=6), H11 + timedelta(minutes=6)
    common = {"store_id": "s1", "device_id": "d1"}
    out: list[Event] = []
    arms = ["o1|a"] * 5 + ["o1|b"]
    # (before, during) of o1's six showings to a visit: five paired, the last without a 'before'.
    moods = (
        [(_mix(0, 3, 1), _mix(0, 2, 2))] * 3
        + [(_mix(2, 2, 0), _mix(1, 1, 2))] * 2
        + [(_mix(), _mix(0, 1, 0))]
    )
    attended = [True, True, True, False, False, True]  # arm a: 3 of 5; arm b: 1 of 1
    for i, arm in enumerate(arms):
        visit = f"d1-v{i + 1}"
        out.append(
            OfferShown(
                **common, ts=t, offer_id="o1", visit_ref=visit, reason="bandit", language="ru", arm=arm
            )
        )
        before, during = moods[i]
        out.append(
            OfferEnded(
                **common,
                ts=t,
                offer_id="o1",
                visit_ref=visit,
                arm=arm,
                shown_s=5,
                attention_s=2,
                attended=attended[i],
                valence_before=before,
                valence_during=during,
            )
        )
    out += [OfferShown(**common, ts=t, offer_id="o1", reason="attract", language="ru") for _ in range(2)]
    out += [
        OfferTapped(**common, ts=t, offer_id="o1", visit_ref="d1-v1", arm=a) for a in ("o1|a", "o1|a", "o1|b")
    ]
    out.append(OfferRedeemed(**common, ts=t, offer_id="o1", code="ABCD-EFGH-JKLM-NPQR"))
    for i in range(3):
        visit = f"d1-v{7 + i}"
        out.append(
            OfferShown(**common, ts=t11, offer_id="o2", visit_ref=visit, reason="rules", language="en")
        )
        out.append(
            OfferEnded(
                **common,
                ts=t11,
                offer_id="o2",
                visit_ref=visit,
                shown_s=4,
                attended=i == 0,
                valence_before=_mix(0, 1, 0),
                valence_during=_mix(0, 0, 1),
            )
        )
    out.append(OfferTapped(**common, ts=t11, offer_id="o2", visit_ref="d1-v7"))
    return out


def feedback() -> list[Event]:
    """CSAT and NPS answers."""
    t, t22 = H10 + timedelta(minutes=7), H22 + timedelta(minutes=2)
    d1 = {"store_id": "s1", "device_id": "d1", "ts": t}
    d3 = {"store_id": "s2", "device_id": "d3", "ts": t22}
    out: list[Event] = [Feedback(**d1, kind="csat", score=s) for s in (5, 4, 4, 3, 1, 5)]
    out.append(Feedback(**d1, kind="csat", score=7))  # out of CSAT's 1-5: counted as invalid, not answered
    out += [Feedback(**d1, kind="nps", score=s) for s in (10, 9, 8, 6, 3)]
    out += [Feedback(**d3, kind="csat", score=5) for _ in range(2)]
    return out


def health() -> list[Event]:
    """Health events: d1 twice at 10:00, d2 once (camera lost)."""
    d1 = {"store_id": "s1", "device_id": "d1"}
    return [
        Health(**d1, ts=H10 + timedelta(minutes=1), fps=10, inference_ms=5, dropped_frames=3, camera_ok=True),
        Health(**d1, ts=H10 + timedelta(minutes=2), fps=12, inference_ms=7, dropped_frames=5, camera_ok=True),
        Health(
            store_id="s1",
            device_id="d2",
            ts=H10 + timedelta(minutes=3),
            fps=0,
            inference_ms=0,
            dropped_frames=0,
            camera_ok=False,
        ),
    ]


def _events_message(store: str, device: str, events: list[Event], kind: str = "events") -> tuple[str, bytes]:
    batch = EventBatch(
        batch_id=uuid.uuid4().hex,
        store_id=store,
        device_id=device,
        events=[e.model_dump(mode="json") for e in events],
    )
    return f"{PREFIX}/{store}/{device}/{kind}", batch.model_dump_json().encode()


def write_messages(
    store: BackofficeStore, clock: Clock, at: datetime, messages: list[tuple[str, bytes]]
) -> None:
    """``messages`` (topic, payload) received at ``at``, through ``parse_messages`` and ``store.write``."""
    clock.now = at
    parsed = parse_messages(PREFIX, messages)
    assert not parsed.refusals, parsed.refusals
    store.write(parsed)


def _metrics(ts: datetime, depth: int) -> bytes:
    payload = MetricsPayload(ts=ts, uptime_s=100, outbox_depth=depth, outbox_bytes=depth * 100)
    return payload.model_dump_json().encode()


def fill(store: BackofficeStore, clock: Clock) -> None:
    """Write the fixture into ``store`` (made with ``clock`` as its receipt clock), then move the staff
    calls on. Everything goes through ``parse_messages`` and ``store.write``, as from a broker."""
    by_device: dict[str, list[Event]] = {}
    for event in [*visits(), *offers(), *feedback(), *health()]:
        by_device.setdefault(event.device_id, []).append(event)
    for device, events in by_device.items():
        store_id = "s2" if device == "d3" else "s1"
        hours = sorted({e.ts.replace(minute=0) for e in events})
        for hour in hours:
            batch = [e for e in events if e.ts.replace(minute=0) == hour]
            received = max(e.ts for e in batch) + timedelta(minutes=1)
            write_messages(store, clock, received, [_events_message(store_id, device, batch)])
    birth2 = BirthPayload(
        software_version="0.2.0",
        models={"blazeface": "1", "emotion": "vgg28"},
        capabilities=["offers", "expression"],
        config_hash="a" * 64,
        ts=H10,
        privacy_mode="notice",
    )
    birth1 = {
        "schema_version": 1,
        "software_version": "0.1.0",
        "config_hash": "b" * 64,
        "ts": H10.isoformat(),
    }
    write_messages(
        store,
        clock,
        H10 + timedelta(minutes=1),
        [
            (f"{PREFIX}/s1/d1/birth", birth2.model_dump_json().encode()),
            (f"{PREFIX}/s1/d1/status", StatusPayload(state="online", ts=H10).model_dump_json().encode()),
            (f"{PREFIX}/s1/d2/birth", json.dumps(birth1).encode()),
        ],
    )
    write_messages(
        store,
        clock,
        H22 - timedelta(hours=1),
        [
            (
                f"{PREFIX}/s1/d2/status",
                StatusPayload(state="offline", ts=H22 - timedelta(hours=1)).model_dump_json().encode(),
            )
        ],
    )
    # d1's metrics: depths 0 and 2 at 10:10 and 10:20, each received a second after its ts.
    for minute, depth in ((10, 0), (20, 2)):
        ts = H10 + timedelta(minutes=minute)
        write_messages(
            store, clock, ts + timedelta(seconds=1), [(f"{PREFIX}/s1/d1/metrics", _metrics(ts, depth))]
        )
    # d3's metrics: 10 -> 60 -> 150 over 21:40-22:00; the last received at 22:05 (300 s of drift).
    for ts, depth, received in (
        (H22 - timedelta(minutes=20), 10, H22 - timedelta(minutes=20) + timedelta(seconds=2)),
        (H22 - timedelta(minutes=10), 60, H22 - timedelta(minutes=10) + timedelta(seconds=2)),
        (H22, 150, H22 + timedelta(minutes=5)),
    ):
        write_messages(store, clock, received, [(f"{PREFIX}/s2/d3/metrics", _metrics(ts, depth))])
    _staff_calls(store, clock)


def _staff_calls(store: BackofficeStore, clock: Clock) -> None:
    d1 = {"store_id": "s1", "device_id": "d1"}
    calls = [
        (
            StaffCall(**d1, ts=H10, call_id="c1", reason="shopper_request", zone="entrance"),
            H10 + timedelta(minutes=10),
        ),
        (
            StaffCall(**d1, ts=H10, call_id="c2", reason="negative_valence", zone="entrance", offer_id="o1"),
            H10 + timedelta(minutes=20),
        ),
        (
            StaffCall(
                store_id="s2", device_id="d3", ts=H22, call_id="c3", reason="shopper_request", zone="till"
            ),
            H22 + timedelta(minutes=5),
        ),
    ]
    for call, received in calls:
        write_messages(
            store, clock, received, [_events_message(call.store_id, call.device_id, [call], "alerts")]
        )
    db = store.db
    assert staff_calls.acknowledge(db, "c1", "ann", H10 + timedelta(minutes=10, seconds=40)).done
    assert staff_calls.resolve(db, "c1", "ann", H10 + timedelta(minutes=15)).done
    assert staff_calls.acknowledge(db, "c2", "bob", H10 + timedelta(minutes=26)).done
    ack = StaffCallAcknowledged(**d1, ts=H10 + timedelta(minutes=26), call_id="c2", response_s=361)
    write_messages(
        store, clock, H10 + timedelta(minutes=26, seconds=2), [_events_message("s1", "d1", [ack], "alerts")]
    )
    assert staff_calls.mark_escalated(db, "c3", H22 + timedelta(minutes=7, seconds=30))


# --- the figures, computed by hand ---------------------------------------------------------------------
#
# Audience (visit_ended), per UTC hour, over every device:
#   10:00  d1: 6 visits, dwell 10+20+5+8+12+15 = 70, attention 6+8+1+0+4+1.5 = 20.5, watchers 3 (v1 v2 v5),
#              glances 2 (v3 v6), valence negative 0+2+6 = 8, neutral 4+4+2 = 10, positive 2+2+4 = 8,
#              frustrated 1 (v5, after o1); expression read in 4 (v1 v2 v5 v6; v3 and v4 have no valence)
#          d2: 2 visits, dwell 30+10 = 40, attention 20+0 = 20, watchers 1, valence neutral 10, frustrated 1
#              (v2, after no offer); v1 is of schema 1, so it cannot report frustration; v2 says frustrated
#              but its expression was never read (no valence), so the rate leaves it out of both counts
#          = 8 visits, watchers 4, glances 2, dwell 110, attention 40.5, valence 8/20/8 (36 s), frustrated 2
#            of 7 schema-2 visits; for the rate: 1 frustrated (v5) of 4 read (under k)
#   11:00  d1: 3 visits (under k), dwell 18, attention 6, glances 3, positive 3, frustrated 1 (after o2);
#              all 3 read: for the rate 1 of 3 (under k)
#   22:00  d3: 5 visits (= k), dwell 20, attention 15, watchers 5, positive 10, frustrated 0; all 5 read
#   total  16 visits, watchers 9, glances 5, dwell 148, attention 61.5, valence 8/20/21 (49 s),
#          frustrated 3 of 15 schema-2 visits; for the rate 1+1+0 = 2 of 4+3+5 = 12 read

AUDIENCE_10 = {
    "visits": 8,
    "watchers": 4,
    "glances": 2,
    "watcher_rate": 0.5,  # 4 / 8
    "dwell_s_mean": 13.75,  # 110 / 8
    "attention_s_mean": 5.0625,  # 40.5 / 8
    "dwell_s_total": 110,
    "attention_s_total": 40.5,
    "valence_s": 36,
    "negative_share": 8 / 36,
    "neutral_share": 20 / 36,
    "positive_share": 8 / 36,
}
AUDIENCE_22 = {
    "visits": 5,
    "watchers": 5,
    "glances": 0,
    "watcher_rate": 1.0,
    "dwell_s_mean": 4.0,
    "attention_s_mean": 3.0,
    "dwell_s_total": 20,
    "attention_s_total": 15,
    "valence_s": 10,
    "negative_share": 0.0,
    "neutral_share": 0.0,
    "positive_share": 1.0,
}
AUDIENCE_TOTAL = {
    "visits": 16,
    "watchers": 9,
    "glances": 5,
    "watcher_rate": 9 / 16,
    "dwell_s_mean": 148 / 16,  # 9.25
    "attention_s_mean": 61.5 / 16,
    "dwell_s_total": 148,
    "attention_s_total": 61.5,
    "valence_s": 49,
    "negative_share": 8 / 49,
    "neutral_share": 20 / 49,
    "positive_share": 21 / 49,
}
#: Days in Moscow (UTC+3): 2026-11-02 holds 10:00 and 11:00 UTC (11 visits); 2026-11-03 holds 22:00 UTC.
AUDIENCE_DAYS_MOSCOW = {"2026-11-02": 11, "2026-11-03": 5}

# Offers (all on d1):
#   o1: shown 6 to visits (arm a x5, arm b x1) + 2 attract = 8; ended 6 (shown_s 5 each = 30), attended 4
#       (a: 3, b: 1); tapped 3 (a: 2, b: 1); redeemed 1; frustrated_after 1
#       mood: 5 paired showings: before = 3 x (0,3,1) + 2 x (2,2,0) = (4, 13, 3), 20 s;
#                                 during = 3 x (0,2,2) + 2 x (1,1,2) = (2, 8, 10), 20 s
#   o2: shown 3 to visits (rules), ended 3 (shown_s 4 each = 12), attended 1, tapped 1; 3 pairs (under k);
#       frustrated_after 1
#   total: shown 11, to visits 9, ended 9, attended 5, tapped 4, redeemed 1, shown_s 42

FUNNEL_O1 = {
    "shown": 8,
    "shown_to_visits": 6,
    "ended": 6,
    "attended": 4,
    "tapped": 3,
    "redeemed": 1,
    "attended_rate": 4 / 6,
    "tap_rate": 3 / 8,
    "redemption_rate": 1 / 8,
    "shown_s_mean": 5.0,
}
FUNNEL_TOTAL = {
    "shown": 11,
    "shown_to_visits": 9,
    "ended": 9,
    "attended": 5,
    "tapped": 4,
    "redeemed": 1,
    "attended_rate": 5 / 9,
    "tap_rate": 4 / 11,
    "redemption_rate": 1 / 11,
    "shown_s_mean": 42 / 9,
}
#: Arm rows: (offer, arm) -> figures; None: suppressed (showings to a visit under k).
ARM_A = {
    "shown": 5,
    "shown_to_visits": 5,
    "ended": 5,
    "attended": 3,
    "tapped": 2,
    "attended_rate": 0.6,
    "tap_rate": 0.4,
}
#: The attract showings of o1 (no arm, no visit: a population of 0, nobody to protect).
ARM_O1_RULES = {"shown": 2, "shown_to_visits": 0, "ended": 0, "attended": 0, "tapped": 0, "tap_rate": 0.0}
MOOD_O1 = {
    "pairs": 5,
    "before_positive_share": 3 / 20,
    "during_positive_share": 10 / 20,
    "positive_uplift": 0.5 - 0.15,
    "before_negative_share": 4 / 20,
    "during_negative_share": 2 / 20,
    "negative_uplift": 0.1 - 0.2,
}
#: Mood over every offer: o1's 5 pairs + o2's 3, before (4, 16, 3) = 23 s, during (2, 8, 13) = 23 s.
MOOD_TOTAL = {
    "pairs": 8,
    "before_positive_share": 3 / 23,
    "during_positive_share": 13 / 23,
    "positive_uplift": 13 / 23 - 3 / 23,
    "before_negative_share": 4 / 23,
    "during_negative_share": 2 / 23,
    "negative_uplift": 2 / 23 - 4 / 23,
}
#: Frustration rate, frustrated visits per 100 visits whose expression was read (schema 2, valence mix not
#: empty): 10:00 1 of 4 and 11:00 1 of 3 (both under k), 22:00 0 of 5; total 2 of 12 = 16.67 per 100 (the
#: same for the UTC day 2026-11-02, the only day). By all schema-2 visits it would have read 3 of 15 = 20.
FRUSTRATION_22 = {"visits_read": 5, "frustrated": 0, "per_100_visits_read": 0.0}
FRUSTRATION_TOTAL = {"visits_read": 12, "frustrated": 2, "per_100_visits_read": 200 / 12}
#: o1 follows 1 frustration in 6 showings; its share of all 3 frustrations is suppressed (3 < k).
FRUSTRATION_O1 = {"shown_to_visits": 6, "frustrated_after": 1, "per_100_showings": 100 / 6}

# Feedback: 10:00 (d1) CSAT 5,4,4,3,1,5 (+ a 7, invalid) and NPS 10,9,8,6,3; 22:00 (d3) CSAT 5,5.
#   UTC day 2026-11-02: CSAT 8 answers, sum 32, mean 4.0, 4-5: 6 of 8, distribution 1,0,1,2,4;
#                       NPS 5: promoters 2, passives 1, detractors 2, NPS 100 * (2 - 2) / 5 = 0
#   Moscow: 2026-11-02 CSAT 6 (sum 22, mean 3.667, 4-5: 4 of 6, distribution 1,0,1,2,2), NPS as above;
#           2026-11-03 CSAT 2 (suppressed), no NPS answer.
FEEDBACK_TOTAL = {
    "csat_responses": 8,
    "csat_mean": 4.0,
    "csat_satisfied_share": 0.75,
    "csat_distribution": (1, 0, 1, 2, 4),
    "nps_responses": 5,
    "promoters": 2,
    "passives": 1,
    "detractors": 2,
    "nps": 0.0,
}
FEEDBACK_MOSCOW_DAY1 = {
    "csat_responses": 6,
    "csat_mean": 22 / 6,
    "csat_satisfied_share": 4 / 6,
    "csat_distribution": (1, 0, 1, 2, 2),
    "nps_responses": 5,
    "nps": 0.0,
}

# Staff calls (raised = receipt time): c1 s1/d1 10:10:00, acknowledged 10:10:40 (40 s) by ann, resolved
# 10:15:00 (300 s); c2 s1/d1 10:20:00 (negative_valence), acknowledged 10:26:00 (360 s) by bob, the kiosk's
# acknowledgement received 10:26:02 (response 361 s); c3 s2/d3 22:05:00, escalated 22:07:30, still open.
STAFF_TOTAL = {
    "raised": 3,
    "raised_negative_valence": 1,
    "raised_shopper_request": 2,
    "acknowledged": 2,
    "resolved": 1,
    "escalated": 1,
    "device_acks": 1,
    "ack_mean_s": 200.0,  # (40 + 360) / 2
    "ack_within_60s_share": 0.5,  # c1 only
    "ack_over_300s": 1,  # c2
    "resolve_mean_s": 300.0,
}
STAFF_S1 = {"raised": 2, "acknowledged": 2, "resolved": 1, "escalated": 0, "ack_mean_s": 200.0}
STAFF_S2 = {"raised": 1, "acknowledged": 0, "resolved": 0, "escalated": 1, "ack_mean_s": None}

# Fleet at NOW (22:05): d1 online, fps 12 / inference 7 / dropped 5 (its latest health), outbox 2, drift
# 1 s, privacy notice; d2 offline since 21:00 (65 minutes > 10: 'offline'), camera_ok false
# ('camera_lost'), privacy None (birth schema 1); d3 no status, outbox 150, drift 300 s ('clock_drift'),
# outbox 10 -> 60 -> 150 over the last 30 minutes ('outbox_growing', growth 140).
FLEET_ALERTS = {
    ("s1", "d2", "offline"): 65.0,
    ("s1", "d2", "camera_lost"): 1.0,
    ("s2", "d3", "clock_drift"): 300.0,
    ("s2", "d3", "outbox_growing"): 140.0,
}
# d1's hour 10:00: health fps (10 + 12) / 2 = 11, inference (5 + 7) / 2 = 6, dropped max 5; metrics depths
# 0 and 2: mean 1, max 2; 6 visits, 3 watchers; 8 offers shown (6 to a visit).
DEVICE_D1_H10 = {
    "health_samples": 2,
    "fps_mean": 11.0,
    "inference_ms_mean": 6.0,
    "dropped_frames_max": 5,
    "camera_lost_samples": 0,
    "metrics_samples": 2,
    "outbox_depth_max": 2,
    "outbox_depth_mean": 1.0,
    "visits": 6,
    "watchers": 3,
    "offers_shown": 8,
}
