"""Commands: signed (every one, by default), expiring, never replayed, idempotent, and never crashing the
bridge."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mosquitto_broker import MosquittoBroker
from sync_helpers import broker_settings, wait_for

from mqtt_bridge.commands import CommandBridge, CommandProcessor, CommandRefusedError, public_key_text, sign
from mqtt_bridge.contract.payloads import CommandEnvelope, CommandResult
from mqtt_bridge.contract.topics import DeviceTopics
from mqtt_bridge.errors import MqttBridgeError
from mqtt_bridge.settings import CommandSettings
from mqtt_bridge.transport import MqttTransport, drain_queue

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OTHER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))


class Applied:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, envelope: CommandEnvelope) -> str:
        if envelope.args.get("refuse"):
            raise CommandRefusedError("the handler said no")
        self.calls.append(envelope.command_id)
        return "done"


def _processor(
    applied: Applied, clock: Callable[[], datetime] = lambda: NOW, unsigned: tuple[str, ...] = ()
) -> CommandProcessor:
    cmd_settings = CommandSettings(public_keys=[public_key_text(KEY)], unsigned_commands=list(unsigned))
    handlers = {"purge": applied, "catalogue": applied, "configure": applied, "ping": applied}
    return CommandProcessor(cmd_settings, handlers, clock=clock)


def _envelope(name: str = "purge", cid: str = "c1", nonce: str = "n" * 16, **kw: Any) -> CommandEnvelope:
    data: dict[str, Any] = {
        "command_id": cid,
        "name": name,
        "issued_at": NOW - timedelta(minutes=1),
        "expires_at": NOW + timedelta(minutes=10),
        "nonce": nonce,
        **kw,
    }
    return CommandEnvelope.model_validate(data)


def _send(p: CommandProcessor, envelope: CommandEnvelope, name: str | None = None) -> CommandResult:
    return p.handle(name or envelope.name, envelope.model_dump_json().encode())


def test_a_signed_command_is_applied_once_then_duplicate() -> None:
    applied = Applied()
    p = _processor(applied)
    cmd = sign(_envelope(), KEY)
    assert _send(p, cmd).status == "applied"
    again = _send(p, cmd)
    assert (again.status, again.command_id) == ("duplicate", "c1")
    resigned = sign(_envelope(nonce="m" * 16), KEY)
    assert _send(p, resigned).status == "duplicate", "idempotent by command id"
    assert applied.calls == ["c1"]


@pytest.mark.parametrize(
    ("envelope", "reason"),
    [
        (_envelope(), "must be signed"),
        (sign(_envelope(), OTHER_KEY), "bad signature"),
        (_envelope(signature="!!!"), "base64url"),
        (sign(_envelope(expires_at=NOW - timedelta(seconds=1)), KEY), "expired"),
        (
            sign(_envelope(issued_at=NOW + timedelta(hours=1), expires_at=NOW + timedelta(hours=2)), KEY),
            "future",
        ),
        (sign(_envelope(expires_at=NOW + timedelta(days=30)), KEY), "longer than"),
        (sign(_envelope(name="reboot"), KEY), "unknown command"),
        (sign(_envelope(args={"refuse": True}), KEY), "the handler said no"),
    ],
)
def test_refused_commands_change_nothing(envelope: CommandEnvelope, reason: str) -> None:
    applied = Applied()
    result = _send(_processor(applied), envelope)
    assert result.status == "refused" and reason in result.reason, result.reason
    assert applied.calls == []


def test_tampered_args_break_the_signature() -> None:
    applied = Applied()
    cmd = sign(_envelope(args={"scope": "today"}), KEY)
    tampered = cmd.model_copy(update={"args": {"scope": "everything"}})
    assert _send(_processor(applied), tampered).reason == "bad signature"


def test_a_replayed_nonce_with_another_id_is_refused() -> None:
    applied = Applied()
    p = _processor(applied)
    assert _send(p, sign(_envelope(cid="c1"), KEY)).status == "applied"
    result = _send(p, sign(_envelope(cid="c2"), KEY))
    assert (result.status, result.reason) == ("refused", "replayed nonce")
    assert applied.calls == ["c1"]


def test_name_must_match_the_topic_and_only_listed_commands_may_run_unsigned() -> None:
    applied = Applied()
    p = _processor(applied)
    assert "does not match" in _send(p, sign(_envelope(), KEY), name="catalogue").reason
    assert "must be signed" in _send(p, _envelope(name="ping")).reason, "signed by default, every command"
    bench = _processor(applied, unsigned=("ping",))
    assert _send(bench, _envelope(name="ping")).status == "applied"
    assert _send(bench, _envelope(name="ping", cid="c2", nonce="b" * 16, signature="!!!")).status == "refused"
    assert applied.calls == ["c1"]


@pytest.mark.parametrize("name", ["staff_ack", "maintenance"])
def test_by_default_the_kiosks_own_commands_must_be_signed(name: str) -> None:
    applied = Applied()
    p = CommandProcessor(CommandSettings(public_keys=[public_key_text(KEY)]), {name: applied}, lambda: NOW)
    unsigned = _send(p, _envelope(name=name))
    assert (unsigned.status, unsigned.reason) == ("refused", "this command must be signed by the back office")
    assert _send(p, sign(_envelope(name=name, cid="c2", nonce="s" * 16), KEY)).status == "applied"
    assert applied.calls == ["c2"]


def test_with_no_public_key_every_command_is_refused_and_a_warning_says_how_to_fix_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    applied = Applied()
    with caplog.at_level("WARNING", logger="mqtt_bridge.commands"):
        p = CommandProcessor(CommandSettings(), {"maintenance": applied}, lambda: NOW)
    assert "backoffice keygen" in caplog.text and "public_keys" in caplog.text
    assert _send(p, sign(_envelope(name="maintenance"), KEY)).reason.startswith("no back-office public key")
    assert applied.calls == []


def test_oversized_and_malformed_are_refused() -> None:
    p = _processor(Applied())
    assert "larger than" in p.handle("purge", b"{" + b" " * 70_000 + b"}").reason
    assert "malformed" in p.handle("purge", b"[]").reason
    assert "malformed" in p.handle("purge", b'{"command_id": 5}').reason


def test_a_bad_public_key_in_the_settings_is_explained() -> None:
    with pytest.raises(MqttBridgeError, match="public_keys"):
        CommandProcessor(CommandSettings(public_keys=["not-a-key"]), {}, clock=lambda: NOW)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=20,
)
_valid = sign(_envelope(args={"scope": "all"}), KEY).model_dump(mode="json")
_field_values = st.one_of(
    _json,
    st.text(max_size=300),
    st.integers(-(2**70), 2**70),
    st.sampled_from(
        ["2026-05-01T12:00:00", "2026-05-01T12:00:00Z", "yesterday", "", "9999-12-31T23:59:59+14:00"]
    ),
)


@st.composite
def _mutated(draw: st.DrawFn) -> bytes:
    choice = draw(st.integers(0, 4))
    if choice == 0:
        return draw(st.binary(max_size=2000))
    if choice == 1:
        return json.dumps(draw(_json)).encode()
    data = dict(_valid)
    for key in draw(st.lists(st.sampled_from([*data, "extra", "face"]), max_size=4)):
        if draw(st.booleans()) and key in data:
            del data[key]
        else:
            data[key] = draw(_field_values)
    text = json.dumps(data, allow_nan=True)
    if choice == 4:
        text = text * draw(st.integers(1, 2000))
    return text.encode()


@settings(
    max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(name=st.sampled_from(["purge", "catalogue", "configure", "ping", "x" * 70]), payload=_mutated())
def test_fuzzed_commands_never_crash_and_only_valid_ones_apply(name: str, payload: bytes) -> None:
    applied = Applied()
    result = _processor(applied).handle(name, payload)
    assert isinstance(result, CommandResult)
    assert result.status in ("applied", "refused")
    if result.status == "applied":
        # Only the signed command itself (defaults filled in) can apply: no command runs unsigned.
        assert CommandEnvelope.model_validate_json(payload) == CommandEnvelope.model_validate(_valid)
    else:
        assert applied.calls == []
        assert result.reason


@pytest.mark.integration
def test_commands_over_the_broker(mosquitto: MosquittoBroker, tmp_path: Path) -> None:
    topics = DeviceTopics("vitrina/v1", "s1", "d1")
    applied = Applied()
    device = MqttTransport(broker_settings(mosquitto), client_id="device")
    bridge = CommandBridge(device, topics, _processor(applied, clock=lambda: datetime.now(UTC)))
    back_office = MqttTransport(
        broker_settings(mosquitto), client_id="bo", subscriptions=[(topics.command_result_filter, 1)]
    )
    device.start()
    back_office.start()
    try:
        device.wait_connected(10)
        back_office.wait_connected(10)
        time.sleep(0.2)
        now = datetime.now(UTC)
        good = sign(_envelope(issued_at=now, expires_at=now + timedelta(minutes=1)), KEY)
        for payload in (good.model_dump_json().encode(), good.model_dump_json().encode(), b"garbage"):
            back_office.publish(topics.command("purge"), payload, qos=1).wait(5)
        results: list[dict[str, Any]] = []

        def answered() -> bool:
            bridge.step(0.05)
            results.extend(json.loads(m.payload) for m in drain_queue(back_office.inbound))
            return len(results) >= 3

        wait_for(answered, 10, "three results")
        assert [r["status"] for r in results] == ["applied", "duplicate", "refused"]
        assert applied.calls == ["c1"]
    finally:
        device.stop()
        back_office.stop()


@pytest.mark.integration
def test_a_message_on_a_topic_that_does_not_parse_is_counted_and_the_bridge_goes_on(
    mosquitto: MosquittoBroker, caplog: pytest.LogCaptureFixture
) -> None:
    """cmd/+ also matches command names the topic tree refuses (capitals, too long): the contract raises
    TopicError for them, which is no MqttBridgeError; the bridge counts and logs them and answers the
    next command as usual."""
    topics = DeviceTopics("vitrina/v1", "s1", "d1")
    applied = Applied()
    device = MqttTransport(broker_settings(mosquitto), client_id="device")
    bridge = CommandBridge(device, topics, _processor(applied, clock=lambda: datetime.now(UTC)))
    back_office = MqttTransport(
        broker_settings(mosquitto), client_id="bo", subscriptions=[(topics.command_result_filter, 1)]
    )
    device.start()
    back_office.start()
    try:
        device.wait_connected(10)
        back_office.wait_connected(10)
        time.sleep(0.2)
        now = datetime.now(UTC)
        good = sign(_envelope(issued_at=now, expires_at=now + timedelta(minutes=1)), KEY)
        for name in ("Purge", "x" * 70, "purge"):
            back_office.publish(f"{topics.base}/cmd/{name}", good.model_dump_json().encode(), qos=1).wait(5)
        results: list[dict[str, Any]] = []

        def answered() -> bool:
            bridge.step(0.05)
            results.extend(json.loads(m.payload) for m in drain_queue(back_office.inbound))
            return len(results) >= 1

        with caplog.at_level("WARNING", logger="mqtt_bridge.commands"):
            wait_for(answered, 10, "the valid command's result")
        assert [(r["command"], r["status"]) for r in results] == [("purge", "applied")]
        assert device.counters["invalid_inbound_topic"] == 2
        logged = [r.getMessage() for r in caplog.records if "invalid_inbound_topic" in r.getMessage()]
        assert len(logged) == 2 and "cmd/Purge" in logged[0] and "command name" in logged[0]
    finally:
        device.stop()
        back_office.stop()


def test_the_sqlite_ledger_survives_a_restart(tmp_path: Path) -> None:
    settings = CommandSettings(public_keys=[public_key_text(KEY)], ledger_path=tmp_path / "ledger.sqlite")
    applied = Applied()
    first = CommandProcessor(settings, {"purge": applied}, clock=lambda: NOW)
    assert _send(first, sign(_envelope(cid="c1"), KEY)).status == "applied"
    first.ledger.close()
    again = CommandProcessor(settings, {"purge": applied}, clock=lambda: NOW)
    assert _send(again, sign(_envelope(cid="c1", nonce="z" * 16), KEY)).status == "duplicate"
    assert _send(again, sign(_envelope(cid="c2"), KEY)).reason == "replayed nonce"
    assert applied.calls == ["c1"]
    later = CommandProcessor(settings, {"purge": applied}, clock=lambda: NOW + timedelta(hours=1))
    later_cmd = _envelope(
        cid="c3", nonce="q" * 16, issued_at=NOW + timedelta(hours=1), expires_at=NOW + timedelta(hours=2)
    )
    assert _send(later, sign(later_cmd, KEY)).status == "applied"
    rows = later.ledger.db.execute("SELECT nonce FROM command_ledger").fetchall()
    assert rows == [("q" * 16,)], "nonces of expired commands are pruned"
