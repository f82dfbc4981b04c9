"""Consent per privacy mode: who may be read, which controls show, and the event a change records."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from kiosk.config import DeviceConfig
from kiosk.decisions.consent import ConsentState, consent_event


def test_presence_only_never_reads_and_offers_no_controls() -> None:
    consent = ConsentState("presence_only")
    assert not consent.reads_expression("v1")
    assert not consent.offers_opt_in and not consent.offers_opt_out
    assert consent.opt_in("v1", 1.0) is None
    assert consent.opt_out("v1", 1.0) is None


def test_notice_reads_until_the_shopper_opts_out_for_the_visit() -> None:
    consent = ConsentState("notice")
    assert consent.reads_expression("v1") and consent.offers_opt_out and not consent.offers_opt_in
    change = consent.opt_out("v1", 5.0)
    assert change is not None and change.state == "opted_out" and change.mode == "notice"
    assert not consent.reads_expression("v1")
    assert not consent.reads_expression("v2"), "an opt-out covers everyone in view for the visit"
    assert consent.opt_out("v1", 6.0) is None, "a second tap changes nothing"
    consent.end_visit()
    assert consent.reads_expression("v3"), "the next visit starts with the mode's default"


def test_opt_in_reads_only_the_visit_that_agreed_and_can_withdraw() -> None:
    consent = ConsentState("opt_in")
    assert not consent.reads_expression("v1")
    assert consent.offers_opt_in and not consent.offers_opt_out
    change = consent.opt_in("v1", 2.0)
    assert change is not None and change.state == "opted_in"
    assert consent.reads_expression("v1") and not consent.reads_expression("v2")
    assert consent.offers_opt_out and not consent.offers_opt_in
    assert consent.opt_out("v1", 3.0) is not None
    assert not consent.reads_expression("v1")
    consent.end_visit()
    assert not consent.reads_expression("v1") and consent.offers_opt_in


def test_a_change_becomes_a_consent_changed_event_with_the_visit_ref_only() -> None:
    consent = ConsentState("notice")
    change = consent.opt_out("ephemeral-7", 1.0)
    assert change is not None
    event = consent_event(
        change, DeviceConfig(), datetime(2026, 6, 1, tzinfo=UTC), visit_ref=lambda v: f"ref-of-{v}"
    )
    assert event.type == "consent_changed" and event.state == "opted_out" and event.mode == "notice"
    assert event.visit_ref == "ref-of-ephemeral-7"
    assert "ephemeral-7" not in event.model_dump_json().replace("ref-of-ephemeral-7", "")


def test_the_runtime_may_query_from_another_thread() -> None:
    consent = ConsentState("notice")
    seen: list[bool] = []
    reader = threading.Thread(target=lambda: seen.extend(consent.reads_expression("v") for _ in range(1000)))
    reader.start()
    consent.opt_out("v", 1.0)
    reader.join()
    assert not consent.reads_expression("v") and len(seen) == 1000
