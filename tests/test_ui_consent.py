"""Consent per privacy mode: who may be read, which controls show, and the event a change records. The rule
is one (:class:`~kiosk.decisions.consent.Consents`), applied by the brain."""

from __future__ import annotations

from ui_support import face, make_clock, make_runtime, snapshot

from kiosk.config import KioskConfig, PrivacyConfig
from kiosk.decisions.consent import Consents
from kiosk.decisions.engagement import Touch
from kiosk.perception.types import Box
from mqtt_bridge.contract.events import ConsentChanged


def test_presence_only_never_reads_and_offers_no_controls() -> None:
    consent = Consents("presence_only")
    assert not consent.reads("v1") and not consent.wanted(["v1"]) and not consent.wanted([])
    assert not consent.offers_opt_in("v1") and not consent.offers_opt_out("v1")
    assert not consent.opt_in("v1") and not consent.opt_out("v1")


def test_notice_reads_until_the_shopper_opts_out_for_the_visit() -> None:
    consent = Consents("notice")
    assert consent.reads("v1") and consent.offers_opt_out("v1") and not consent.offers_opt_in("v1")
    assert consent.wanted([]), "a newcomer is read by default, under the notice"
    assert consent.opt_out("v1") and consent.choice("v1") == "opted_out"
    assert not consent.reads("v1") and not consent.offers_opt_out("v1")
    assert consent.reads("v2") and consent.wanted(["v1", "v2"]) and not consent.wanted(["v1"])
    assert not consent.opt_out("v1"), "a second tap changes nothing"
    assert not consent.opt_in("v1"), "notice mode has no opt-in"
    consent.forget("v1")
    assert consent.reads("v1") and consent.choice("v1") == "none", "the visit over, its choice goes"


def test_opt_in_reads_only_the_visit_that_agreed_and_can_withdraw() -> None:
    consent = Consents("opt_in")
    assert not consent.reads("v1") and not consent.wanted([]) and not consent.wanted(["v1"])
    assert consent.offers_opt_in("v1") and not consent.offers_opt_out("v1")
    assert consent.opt_in("v1") and not consent.opt_in("v1")
    assert consent.reads("v1") and not consent.reads("v2") and consent.wanted(["v2", "v1"])
    assert consent.offers_opt_out("v1") and not consent.offers_opt_in("v1")
    assert consent.opt_out("v1") and not consent.reads("v1")
    consent.forget("v1")
    assert not consent.reads("v1") and consent.offers_opt_in("v1")


def test_an_opt_out_covers_everyone_in_view_and_records_each_visit_by_ref_only() -> None:
    clock = make_clock()
    runtime = make_runtime(clock)
    left, right = face(box=Box(20, 100, 140, 220), distance_m=1.0), face(box=Box(400, 100, 520, 220))
    for _ in range(5):
        runtime.see(snapshot(clock, left, right))
        clock.advance(0.1)
    visits = [track.visit_id for track in runtime.brain.tracker.tracks]
    assert len(visits) == 2 and runtime.brain.expression_wanted()
    runtime.send(Touch(clock.monotonic(), "decline"))  # the screen cannot tell which of the two tapped
    changes = [e for e in runtime.events if isinstance(e, ConsentChanged)]
    assert [(c.state, c.mode) for c in changes] == [("opted_out", "notice")] * 2
    assert len({c.visit_ref for c in changes}) == 2 and all(c.visit_ref for c in changes)
    stored = "".join(c.model_dump_json() for c in changes)
    assert not any(v in stored for v in visits), "an ephemeral visit id leaked"
    assert not runtime.brain.expression_wanted()
    assert runtime.runtime_view().state.consent == "opted_out"
    runtime.send(Touch(clock.monotonic(), "decline"))
    assert len([e for e in runtime.events if isinstance(e, ConsentChanged)]) == 2, "nothing changed twice"


def test_an_opt_in_covers_only_the_visit_addressed() -> None:
    clock = make_clock()
    runtime = make_runtime(clock, KioskConfig(privacy=PrivacyConfig(mode="opt_in")))
    near, far = (
        face(box=Box(20, 100, 140, 220), distance_m=0.9),
        face(box=Box(400, 100, 520, 220), distance_m=3.0),
    )
    for _ in range(5):
        runtime.see(snapshot(clock, near, far))
        clock.advance(0.1)
    runtime.send(Touch(clock.monotonic(), "consent"))
    (change,) = [e for e in runtime.events if isinstance(e, ConsentChanged)]
    assert change.state == "opted_in"
    read = [runtime.brain.consent.reads(t.visit_id) for t in runtime.brain.tracker.tracks]
    assert sorted(read) == [False, True], "the nearer face agreed, the other is still not read"
