"""The ingest: validates everything, stores each event once, shares the load, SQLite and PostgreSQL."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from mosquitto_broker import MosquittoBroker
from outbox_doubles import make_event
from sync_helpers import IngestThread, make_device, wait_for

from backoffice.ingest import PostgresStore, SqliteStore, Store, open_store, parse_messages
from mqtt_bridge.contract.payloads import EventBatch
from mqtt_bridge.settings import BrokerSettings

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


def _batch(events: list[dict[str, object]], store: str = "s1", device: str = "d1") -> bytes:
    return (
        EventBatch(batch_id="b1", store_id=store, device_id=device, events=events).model_dump_json().encode()
    )


def _event_json(i: int, kind: str = "normal") -> dict[str, object]:
    data: dict[str, object] = json.loads(make_event(i, kind).model_dump_json())
    return data


def test_parse_counts_and_skips_everything_invalid() -> None:
    topic = "vitrina/v1/s1/d1/events"
    messages = [
        (topic, _batch([_event_json(1), _event_json(2)])),
        ("elsewhere/x", b"{}"),
        (topic, b"not json"),
        (topic, b'{"schema_version": 1}'),
        (topic, _batch([{**_event_json(3), "type": "nope"}])),
        (topic, _batch([{**_event_json(4), "device_id": "d2"}])),
        (topic, _batch([{**_event_json(5), "embedding": [1, 2]}])),
        (topic, b"x" * 300_000),
        ("vitrina/v1/s1/d1/status", b'{"schema_version": 1, "state": "online"}'),
        ("vitrina/v1/s1/d1/status", b'{"schema_version": 1, "state": "exploded"}'),
    ]
    parsed = parse_messages("vitrina/v1", messages)
    assert [e.event_id for e in parsed.events] == ["e000001", "e000002"]
    assert [s[2].state for s in parsed.statuses] == ["online"]
    assert parsed.counters == {
        "messages": 10,
        "invalid_topic": 1,
        "invalid_json": 1,
        "invalid_events": 1,
        "invalid_event": 1,
        "foreign_event": 1,
        "outside_allowlist": 1,
        "oversized": 1,
        "invalid_status": 1,
    }


def _check_idempotent(store: Store) -> None:
    parsed = parse_messages(
        "vitrina/v1", [("vitrina/v1/s1/d1/events", _batch([_event_json(i) for i in range(5)]))]
    )
    assert store.write(parsed) == 5
    assert store.write(parsed) == 0
    assert sorted(store.event_ids()) == [f"e{i:06d}" for i in range(5)]
    assert store.counters()["duplicates"] == 5


def test_sqlite_store_is_idempotent(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/bo.sqlite")
    assert isinstance(store, SqliteStore)
    _check_idempotent(store)


@pytest.fixture
def pg_url() -> Iterator[str]:
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


@pytest.mark.integration
def test_postgres_store_is_idempotent(pg_url: str) -> None:
    store = open_store(pg_url)
    assert isinstance(store, PostgresStore)
    try:
        _check_idempotent(store)
    finally:
        store.close()
    again = PostgresStore(pg_url)  # migrations are recorded: opening twice is fine
    assert len(again.event_ids()) == 5
    again.close()


@pytest.mark.integration
def test_device_to_store_end_to_end(mosquitto: MosquittoBroker, tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "bo.sqlite")
    ingest = IngestThread(mosquitto, store).start()
    device = make_device(mosquitto, tmp_path)
    device.start()
    try:
        events = [make_event(i) for i in range(300)] + [make_event(900, "alert"), make_event(901, "low")]
        device.add(events)
        wait_for(lambda: len(store.event_ids()) == 302, what="all events in the store")
        wait_for(device.drained, what="the outbox to drain")
        # Published again (as after a crash between PUBACK and delete): still stored once.
        device.outbox.add(events[:50])
        wait_for(device.drained, what="the resend")
        wait_for(lambda: store.counters().get("duplicates", 0) >= 50, what="the duplicates to be counted")
        assert sorted(store.event_ids()) == sorted(e.event_id for e in events)
        device.publish_metrics()
        wait_for(
            lambda: store.db.execute("SELECT count(*) FROM metrics").fetchone()[0] >= 1, what="metrics stored"
        )
        status = store.db.execute("SELECT status, birth FROM devices").fetchall()
        assert status[0][0] == "online" and json.loads(status[0][1])["software_version"] == "0.1.0"
    finally:
        device.stop()
        ingest.stop()
    wait_for(lambda: store.db.execute("SELECT status FROM devices").fetchone()[0] == "stopped", 5)


@pytest.mark.integration
def test_two_consumers_in_one_group_split_the_load(mosquitto: MosquittoBroker, tmp_path: Path) -> None:
    stores = [SqliteStore(tmp_path / "shared.sqlite"), SqliteStore(tmp_path / "shared.sqlite")]
    consumers = [IngestThread(mosquitto, s, client_id=f"ingest-{i}").start() for i, s in enumerate(stores)]
    device = make_device(mosquitto, tmp_path, batch_size=5)
    device.start()
    try:
        device.add(make_event(i) for i in range(400))
        wait_for(lambda: len(stores[0].event_ids()) == 400, what="all events in the shared store")
        # A consumer counts its messages after its store transaction commits: wait for the last count.
        wait_for(lambda: sum(c.ingest.handled for c in consumers) >= 80, what="the consumers' counts")
        handled = [c.ingest.handled for c in consumers]
        assert sum(handled) >= 80 and min(handled) >= 20, handled
        assert stores[0].counters().get("duplicates", 0) == 0
    finally:
        device.stop()
        for c in consumers:
            c.stop()
        for s in stores:
            s.close()


def test_broker_url_parsing(tmp_path: Path) -> None:
    from click import BadParameter

    from backoffice.broker_access import broker_access

    def access(url: str, ca_file: Path | None = None, password_env: str | None = None) -> BrokerSettings:
        return broker_access(
            url, identity_dir=None, ca_file=ca_file, password_env=password_env, prefix="p/v1"
        ).settings

    s = access("mqtt://ingest@broker.example:1884", password_env="PW")
    assert (s.host, s.port, s.username, s.tls) == ("broker.example", 1884, "ingest", None)
    assert s.topic_prefix == "p/v1"
    assert s.password is not None and s.password.env == "PW"
    tls = access("mqtts://broker.example", ca_file=tmp_path / "ca.pem")
    assert tls.port == 8883 and tls.tls is not None
    for bad in ("http://x", "mqtts://x"):
        with pytest.raises(BadParameter):
            access(bad)


def test_unknown_store_url_is_explained() -> None:
    from backoffice.errors import BackofficeError

    with pytest.raises(BackofficeError, match="sqlite:///path"):
        open_store("mysql://x")


@pytest.mark.integration
def test_device_to_postgres_end_to_end(mosquitto: MosquittoBroker, tmp_path: Path, pg_url: str) -> None:
    store = PostgresStore(pg_url)
    ingest = IngestThread(mosquitto, store).start()
    device = make_device(mosquitto, tmp_path)
    device.start()
    try:
        events = [make_event(i) for i in range(120)] + [make_event(900, "alert")]
        device.add(events)
        wait_for(lambda: len(store.event_ids()) == 121, what="all events in PostgreSQL")
        # Drained first: while an event is still in the outbox (stored, PUBACK not yet handled) adding it
        # again is a no-op, and it would not be sent twice.
        wait_for(device.drained, what="the outbox to drain")
        device.outbox.add(events[:20])  # sent again: stored once
        wait_for(device.drained, what="the resend")
        wait_for(lambda: store.counters().get("duplicates", 0) >= 20, what="the duplicates to be counted")
        assert sorted(store.event_ids()) == sorted(e.event_id for e in events)
    finally:
        device.stop()
        ingest.stop()
        store.close()


def test_every_refusal_says_where_and_why_without_the_payloads_values() -> None:
    topic = "vitrina/v1/s1/d1/events"
    secret = [0.123456789] * 64
    messages = [
        ("elsewhere/x", b"{}"),
        (topic, b"not json " + b"x" * 500),
        (topic, _batch([{**_event_json(5), "embedding": secret}])),
        (topic, _batch([{**_event_json(4), "device_id": "d2"}])),
        (topic, b'{"schema_version": 1}'),
        (topic, b"x" * 300_000),
    ]
    parsed = parse_messages("vitrina/v1", messages)
    got = {r.counter: r for r in parsed.refusals}
    assert list(got) == [
        "invalid_topic",
        "invalid_json",
        "outside_allowlist",
        "foreign_event",
        "invalid_events",
        "oversized",
    ]
    assert all(r.topic == t for r, (t, _) in zip(parsed.refusals, messages, strict=True))
    assert sum(parsed.counters[c] for c in got) == len(parsed.refusals)  # every refusal is counted too
    assert got["invalid_json"].excerpt == "not json " + "x" * 39 + "..."
    assert "embedding" in got["outside_allowlist"].reason
    assert got["outside_allowlist"].excerpt == "" and "0.123" not in got["outside_allowlist"].reason
    assert "e000004" in got["foreign_event"].reason and "s1/d2" in got["foreign_event"].reason
    assert "batch_id" in got["invalid_events"].reason and "Field required" in got["invalid_events"].reason
    assert "300000 bytes" in got["oversized"].reason and got["oversized"].excerpt == ""


def test_rate_limit_holds_back_beyond_the_burst_and_reports_it() -> None:
    from backoffice.ingest import RateLimit

    limit = RateLimit(burst=3, window_s=60)
    assert [limit.allow(t) for t in (0, 1, 2, 3, 4)] == [True, True, True, False, False]
    assert limit.overdue(59.9) == 0  # the window has not ended: nothing to say yet
    assert limit.allow(61)  # a new window: allowed, and it reports the two held back
    assert limit.take_held_back() == 2 and limit.take_held_back() == 0
    assert [limit.allow(t) for t in (62, 63, 64)] == [True, True, False]
    assert limit.overdue(130) == 1 and limit.overdue(131) == 0


def _publish_raw(broker: MosquittoBroker, messages: list[tuple[str, bytes]]) -> None:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="raw-publisher", protocol=mqtt.MQTTv5)
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        for topic, payload in messages:
            client.publish(topic, payload, qos=1).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


@pytest.mark.integration
def test_ingest_logs_refusals_rate_limited(
    mosquitto: MosquittoBroker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    from sync_helpers import broker_settings

    from backoffice.ingest import Ingest
    from backoffice.settings import IngestSettings
    from kiosk.clock import ManualClock

    clock = ManualClock()
    store = SqliteStore(tmp_path / "bo.sqlite")
    # Under its own prefix: the fixture's payload audit checks what devices publish under vitrina/v1.
    broker = broker_settings(mosquitto).model_copy(update={"topic_prefix": "refusals/v1"})
    ingest = Ingest(broker, IngestSettings(), store, monotonic=clock.monotonic)
    ingest.start()
    ingest.transport.wait_connected(10)
    wait_for(lambda: mosquitto.log_file.read_text().count("Sending SUBACK to vitrina-ingest") >= 5)
    caplog.set_level(logging.WARNING, logger="backoffice.ingest")
    try:
        bad = [(f"refusals/v1/s1/d{i}/events", b"{not json: " + b"z" * 200) for i in range(15)]
        _publish_raw(mosquitto, bad)
        wait_for(lambda: ingest.step(0.05) >= 0 and ingest.handled >= 15, what="15 messages handled")
        lines = [r.getMessage() for r in caplog.records]
        assert len(lines) == 10, lines  # the burst; the other 5 are held back
        assert lines[0].startswith("refused a message on refusals/v1/s1/d0/events (invalid_json): not JSON")
        assert "starts '{not json: zzz" in lines[0] and "z" * 60 not in lines[0]  # a short excerpt only
        clock.advance(61)
        ingest.step(0.0)
        assert caplog.records[-1].getMessage().startswith("5 more messages refused and not logged")
        assert store.counters()["invalid_json"] == 15
    finally:
        ingest.transport.stop()
        store.close()


@pytest.mark.integration
def test_two_consumers_with_one_client_id_are_told_to_use_their_own(
    mosquitto: MosquittoBroker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    caplog.set_level(logging.ERROR, logger="backoffice.ingest")
    store = SqliteStore(tmp_path / "bo.sqlite")
    first = IngestThread(mosquitto, store, client_id="same-id").start()
    second = IngestThread(mosquitto, store, client_id="same-id").start()
    try:
        wait_for(lambda: any("--client-id" in r.getMessage() for r in caplog.records), what="the error")
        message = next(r.getMessage() for r in caplog.records if "--client-id" in r.getMessage())
        assert "another consumer runs with the same client id" in message and "same-id" in message
    finally:
        first.stop()
        second.stop()
        store.close()


def test_ingest_client_id_is_stable_and_checked() -> None:
    from pydantic import ValidationError

    from backoffice.settings import IngestSettings

    assert IngestSettings().client_id == IngestSettings().client_id == "vitrina-ingest"
    assert IngestSettings().share_group is None  # the default: a plain subscription (docs/mqtt.md)
    for bad in ("", "a/b", "x" * 65, "$share", "in gest"):
        with pytest.raises(ValidationError, match="the same on every restart"):
            IngestSettings(client_id=bad)


def test_ingest_help_says_each_consumer_needs_its_own_id() -> None:
    from click.testing import CliRunner

    from backoffice.cli import main

    result = CliRunner().invoke(main, ["ingest", "--help"])
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "--client-id TEXT" in text and "need different ids" in text
    assert "[default: vitrina-ingest]" in text
    bad = CliRunner().invoke(
        main, ["ingest", "--broker", "mqtt://h:1", "--db", "x.sqlite", "--client-id", "a/b"]
    )
    assert bad.exit_code == 2 and "Invalid value for --client-id" in bad.output


class _RolledBackError(Exception):
    """What psycopg raises for a deadlock the server broke: an error with a SQLSTATE."""

    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"server rolled the transaction back ({sqlstate})")
        self.sqlstate = sqlstate


def test_a_transaction_rolled_back_for_a_deadlock_runs_again_once_and_is_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A deadlock (SQLSTATE 40P01) between two consumers of a group rolls one transaction back whole: the
    store runs it again instead of the consumer dying (a 500-kiosk run on PostgreSQL lost a consumer so)."""
    from backoffice import rollups

    store = open_store(f"sqlite:///{tmp_path}/bo.sqlite")
    real_apply = rollups.apply
    failures = iter([_RolledBackError("40P01")])

    def apply_failing_once(*args: object, **kwargs: object) -> None:
        failure = next(failures, None)
        if failure is not None:
            raise failure  # after the events' insert: the rollback must undo it
        real_apply(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(rollups, "apply", apply_failing_once)
    parsed = parse_messages(
        "vitrina/v1", [("vitrina/v1/s1/d1/events", _batch([_event_json(1), _event_json(2)]))]
    )
    try:
        assert store.write(parsed) == 2
        assert sorted(store.event_ids()) == ["e000001", "e000002"]
        assert store.counters()["store_retries"] == 1 and store.counters()["events_new"] == 2
    finally:
        store.close()


def test_an_error_that_is_not_a_rollback_goes_up_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from backoffice import rollups

    store = open_store(f"sqlite:///{tmp_path}/bo.sqlite")
    calls: list[int] = []

    def broken(*_args: object, **_kwargs: object) -> None:
        calls.append(1)
        raise _RolledBackError("23505")  # a unique violation is a bug, not a race: no retry

    monkeypatch.setattr(rollups, "apply", broken)
    parsed = parse_messages("vitrina/v1", [("vitrina/v1/s1/d1/events", _batch([_event_json(1)]))])
    try:
        with pytest.raises(_RolledBackError):
            store.write(parsed)
        assert calls == [1] and store.event_ids() == []
    finally:
        store.close()


def test_device_rows_are_written_in_device_order_keeping_each_devices_own_order() -> None:
    from backoffice.ingest import _device_rows

    status = "vitrina/v1/{}/status"
    messages = [
        (status.format("s2/d1"), b'{"schema_version": 1, "state": "online"}'),
        (status.format("s1/d2"), b'{"schema_version": 1, "state": "online"}'),
        (status.format("s1/d1"), b'{"schema_version": 1, "state": "online"}'),
        (status.format("s1/d2"), b'{"schema_version": 1, "state": "offline"}'),
    ]
    rows = _device_rows(parse_messages("vitrina/v1", messages), "now")["status"]
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("s1", "d1", "online"),
        ("s1", "d2", "online"),
        ("s1", "d2", "offline"),
        ("s2", "d1", "online"),
    ]
